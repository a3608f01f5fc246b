"""The filter bar every report shares (wave2 §14.1): period, department (sub-departments
included unless 仅本部门) and person, offered only inside the viewer's data scope."""

from __future__ import annotations

import datetime
import re

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from crm.forms import DATE_WIDGET, DepartmentChoiceField, PersonChoiceField
from crm.models import Department, User
from reports import periods
from reports.scope import ReportScope


class ReportPersonField(PersonChoiceField):
    """A person of the viewer's scope; a deactivated one says so (their past figures)."""

    def label_from_instance(self, obj):
        name = obj.get_full_name()
        if not obj.is_active:
            return _("%(name)s (deactivated)") % {"name": name}
        return name


class ReportFilterForm(forms.Form):
    """``ReportFilterForm(request.GET, actor=request.user)``; when valid, :meth:`resolve`
    gives the period and the :class:`~reports.scope.ReportScope`. No data (``None``) is an
    empty query: 本月, every department and person of the scope."""

    preset = forms.ChoiceField(label=_("Period"), choices=periods.PRESET_CHOICES, required=False)
    first = forms.DateField(label=_("From"), required=False, widget=DATE_WIDGET)
    last = forms.DateField(label=_("To"), required=False, widget=DATE_WIDGET)
    department = DepartmentChoiceField(
        label=_("Department"),
        required=False,
        queryset=Department.objects.none(),
        empty_label=_("All departments"),
    )
    only_this_department = forms.BooleanField(label=_("Only this department"), required=False)
    person = ReportPersonField(
        label=_("Person"), required=False, queryset=User.objects.none(), empty_label=_("All")
    )

    def __init__(self, data=None, *, actor: User, **kwargs):
        super().__init__(data if data is not None else {}, **kwargs)
        self.actor = actor
        self.base_scope = ReportScope(actor)
        self.fields["preset"].initial = periods.DEFAULT_PRESET
        self.fields["department"].queryset = self.base_scope.departments()
        self.fields["person"].queryset = self.base_scope.person_choices()
        self.scope: ReportScope | None = None

    def _today(self, now: datetime.datetime | None = None) -> datetime.date:
        return periods.tenant_today(self.actor.tenant, now)

    def clean(self):
        data = super().clean()
        if any(name in self.errors for name in ("preset", "first", "last")):
            return data
        try:
            data["period"] = periods.resolve(
                data.get("preset"), self._today(), data.get("first"), data.get("last")
            )
        except ValidationError as exc:
            field = {"first": "first", "last": "last", "reversed": "last", "too_long": "last"}
            self.add_error(field.get(exc.code, "preset"), exc)
        if self.errors:
            return data
        try:
            self.scope = ReportScope(
                self.actor,
                department=data.get("department"),
                only_this_department=data.get("only_this_department", False),
                person=data.get("person"),
            )
        except ValidationError as exc:
            # The choices are already the scope's; this is the belt to their braces.
            self.add_error(exc.code if exc.code in self.fields else None, exc)
        return data

    def resolve(self, now: datetime.datetime | None = None) -> tuple[periods.Period, ReportScope]:
        """The period (its presets around the tenant's today at ``now``) and the scope of a
        valid form; a ``ValueError`` on an invalid one (show its errors instead)."""
        if not self.is_valid():
            raise ValueError("resolve() needs a valid form: render its errors instead")
        data = self.cleaned_data
        period = periods.resolve(
            data.get("preset"), self._today(now), data.get("first"), data.get("last")
        )
        return period, self.scope

    def description(self) -> list[tuple[str, str]]:
        """The filters in words, ``[(label, value), …]`` (the page's subtitle and the first
        line of an export): the period always, then the department and the person."""
        data = self.cleaned_data if self.is_valid() else {}
        rows = []
        period = data.get("period")
        if period is not None:
            rows.append((str(_("Period")), period.label))
        department = data.get("department")
        if department is not None:
            name = department.name
            if data.get("only_this_department"):
                name = _("%(department)s (only this department)") % {"department": name}
            rows.append((str(_("Department")), str(name)))
        else:
            rows.append((str(_("Department")), str(_("All departments"))))
        person = data.get("person")
        if person is not None:
            rows.append((str(_("Person")), person.get_full_name()))
        return rows


_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class MonthFilterForm(ReportFilterForm):
    """ReportFilterForm for one month: ``month`` (YYYY-MM; empty → this month in the
    tenant's zone) replaces ``preset``/``first``/``last``, which it fills in."""

    month = forms.CharField(
        label=_("Month"),
        required=False,
        widget=forms.TextInput(attrs={"type": "month", "placeholder": "YYYY-MM"}),
    )

    def __init__(self, data=None, *, actor, **kwargs):
        super().__init__(data, actor=actor, **kwargs)
        for name in ("preset", "first", "last"):
            del self.fields[name]

    def clean_month(self) -> datetime.date:
        value = (self.cleaned_data.get("month") or "").strip()
        if not value:
            return periods.tenant_today(self.actor.tenant).replace(day=1)
        match = _MONTH.match(value)
        if match and 1 <= int(match[2]) <= 12 and int(match[1]) >= 1:
            return datetime.date(int(match[1]), int(match[2]), 1)
        raise forms.ValidationError(_("Enter a month as YYYY-MM."), code="month")

    def clean(self):
        first = self.cleaned_data.get("month")
        if first is not None:
            self.cleaned_data.update(preset="custom", first=first, last=periods.month_end(first))
        return super().clean()

    def description(self) -> list[tuple[str, str]]:
        rows = super().description()
        first = (self.cleaned_data if self.is_valid() else {}).get("month")
        if first is not None and rows:
            rows[0] = (str(_("Month")), f"{first:%Y-%m}")
        return rows


class PoolPeriodForm(forms.Form):
    """The period part of the reports' filter bar (reports.forms.ReportFilterForm without its
    department and person: a pooled customer belongs to nobody, so they could not apply,
    and the form does not build the data scope it would not use)."""

    preset = forms.ChoiceField(label=_("Period"), choices=periods.PRESET_CHOICES, required=False)
    first = forms.DateField(label=_("From"), required=False, widget=DATE_WIDGET)
    last = forms.DateField(label=_("To"), required=False, widget=DATE_WIDGET)

    def __init__(self, data=None, *, actor, **kwargs):
        super().__init__(data if data is not None else {}, **kwargs)
        self.actor = actor
        self.fields["preset"].initial = periods.DEFAULT_PRESET

    def clean(self):
        data = super().clean()
        if any(name in self.errors for name in ("preset", "first", "last")):
            return data
        try:
            data["period"] = periods.resolve(
                data.get("preset"),
                periods.tenant_today(self.actor.tenant),
                data.get("first"),
                data.get("last"),
            )
        except ValidationError as exc:
            field = {"first": "first", "last": "last", "reversed": "last", "too_long": "last"}
            self.add_error(field.get(exc.code, "preset"), exc)
        return data

    def description(self) -> list[tuple[str, str]]:
        return [(_("Period"), self.cleaned_data["period"].label)]
