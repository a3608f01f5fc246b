"""Forms of the conversion pages: 转为客户 and the conversion statistics."""

from __future__ import annotations

import datetime

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from leads.stats import GROUPINGS, PRESETS, preset_range

NEW = "new"


class ConvertForm(forms.Form):
    """Merge into one of the matching customers the user may change, or create one."""

    target = forms.ChoiceField(label=_("Convert into"), widget=forms.RadioSelect)
    name = forms.CharField(
        label=_("Name of the new customer"), max_length=200, required=False, strip=True
    )
    contact = forms.BooleanField(
        label=_("Add the lead's person as a contact"), required=False, initial=True
    )

    def __init__(self, *args, matches: list[dict], default_name: str, **kwargs):
        super().__init__(*args, **kwargs)
        # SECURITY: only the matches the user may change are offered (the service checks again).
        merge = [
            (str(row["customer"].pk), _("Merge into %(name)s") % {"name": row["customer"].name})
            for row in matches
            if row["editable"]
        ]
        self.fields["target"].choices = [(NEW, _("Create a new customer")), *merge]
        same_name = next((r for r in matches if r["editable"] and r.get("same_name")), None)
        self.fields["target"].initial = str(same_name["customer"].pk) if same_name else NEW
        self.fields["name"].initial = default_name
        self.merge_ids = {int(pk) for pk, _label in merge}

    def clean(self):
        data = super().clean()
        if data.get("target") == NEW and not data.get("name"):
            self.add_error("name", _("Enter the customer name."))
        return data

    @property
    def merge_into(self) -> int | None:
        target = self.cleaned_data["target"]
        return None if target == NEW else int(target)


class StatsForm(forms.Form):
    period = forms.ChoiceField(label=_("Period"), choices=list(PRESETS.items()), required=False)
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    group = forms.ChoiceField(label=_("Group"), choices=list(GROUPINGS.items()), required=False)

    MAX_DAYS = 3 * 366

    def clean(self):
        data = super().clean()
        dates = data.get("date_from") or data.get("date_to")
        period = data.get("period") or ("custom" if dates else "this_month")
        today = timezone.localdate()
        if period == "custom":
            first = data.get("date_from")
            last = data.get("date_to") or today
            if first is None:
                raise forms.ValidationError(_("Choose the first day of the range."))
            if first > last:
                raise forms.ValidationError(_("The range ends before it starts."))
            if (last - first).days > self.MAX_DAYS:
                raise forms.ValidationError(_("Choose a range of at most three years."))
        else:
            first, last = preset_range(period, today)
        data["period"], data["first"], data["last"] = period, first, last
        data["group"] = data.get("group") or "owner"
        return data


def default_range() -> tuple[datetime.date, datetime.date]:
    return preset_range("this_month", timezone.localdate())
