"""The base of every list's filters (customers, contacts, leads, the pools, the follow-up
feed): the widgets read as a user expects in the 高级筛选 panel, whatever the module."""

from __future__ import annotations

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _
from django_filters.widgets import BooleanWidget, DateRangeWidget


class AnyYesNoWidget(BooleanWidget):
    """A yes / no filter whose empty choice reads 全部 (not django-filter's 未知)."""

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.choices = [("", _("All")), ("true", _("Yes")), ("false", _("No"))]


class DateRangeInputs(DateRangeWidget):
    """From – to as two date pickers side by side (not two free text boxes)."""

    template_name = "crm/widgets/date_range.html"

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.widgets = [
            forms.DateInput(attrs={"type": "date", "aria-label": _("From")}),
            forms.DateInput(attrs={"type": "date", "aria-label": _("To")}),
        ]


class ListFilterSet(django_filters.FilterSet):
    """A list page's filter set. Choices start with 全部 (not "---------"), yes / no filters
    with 全部, date ranges are two date pickers; ``active_filters`` names what is in use."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for f in self.filters.values():
            if isinstance(f, django_filters.BooleanFilter):
                f.extra.setdefault("widget", AnyYesNoWidget)
            elif isinstance(f, django_filters.DateFromToRangeFilter):
                f.extra["widget"] = DateRangeInputs
            elif isinstance(f, django_filters.ChoiceFilter | django_filters.ModelChoiceFilter):
                f.extra["empty_label"] = _("All")

    @property
    def active_filters(self) -> list[str]:
        """Names of the filters in use (for the 'clear' link and saved searches)."""
        if not hasattr(self.form, "cleaned_data"):
            return []
        return [
            k
            for k, v in self.form.cleaned_data.items()
            if v not in (None, "", [])
            and not (hasattr(v, "start") and v.start is None and v.stop is None)
        ]

    def advanced_fields(self):
        """The bound fields of the 高级筛选 panel: all but the search box (``q``)."""
        return [field for field in self.form if field.name != "q"]

    @property
    def advanced_active(self) -> bool:
        """Whether a filter of the panel (not the search box, not a hidden one) is in use."""
        hidden = {name for name, f in self.form.fields.items() if f.widget.is_hidden}
        return any(name not in ("q", *hidden) for name in self.active_filters)
