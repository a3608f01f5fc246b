"""Forms of the conversion pages: 转为客户 and the conversion statistics."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from django_scopes.forms import SafeModelChoiceField

from opportunities.models import OpportunityStage, StageKind

NEW = "new"


class ConvertForm(forms.Form):
    """Merge into one of the matching customers the user may change, or create one; with
    同时创建商机, an opportunity on that customer too (``opportunity_data``)."""

    target = forms.ChoiceField(label=_("Convert into"), widget=forms.RadioSelect)
    name = forms.CharField(
        label=_("Name of the new customer"), max_length=200, required=False, strip=True
    )
    contact = forms.BooleanField(
        label=_("Add the lead's person as a contact"), required=False, initial=True
    )
    with_opportunity = forms.BooleanField(label=_("Also create an opportunity"), required=False)
    opportunity_name = forms.CharField(
        label=_("Opportunity name"), max_length=128, required=False, strip=True
    )
    opportunity_amount = forms.DecimalField(
        label=_("Expected amount"),
        max_digits=14,
        decimal_places=2,
        min_value=0,
        required=False,
    )
    opportunity_close = forms.DateField(
        label=_("Expected close date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    opportunity_stage = SafeModelChoiceField(
        label=_("Sales stage"), queryset=OpportunityStage.objects.none(), required=False
    )

    OPPORTUNITY_FIELDS = (
        "with_opportunity",
        "opportunity_name",
        "opportunity_amount",
        "opportunity_close",
        "opportunity_stage",
    )

    def __init__(
        self,
        *args,
        matches: list[dict],
        default_name: str,
        tenant_id: int | None = None,
        may_create_opportunity: bool = False,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        if may_create_opportunity and tenant_id is not None:
            stages = OpportunityStage.objects.filter(
                tenant_id=tenant_id, kind=StageKind.OPEN, is_active=True
            ).order_by("sort", "id")
            self.fields["opportunity_stage"].queryset = stages
            self.fields["opportunity_stage"].empty_label = None
            self.fields["opportunity_name"].initial = default_name
        else:
            # No opportunity.create right: the form has no opportunity part.
            for field in self.OPPORTUNITY_FIELDS:
                del self.fields[field]
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
        if data.get("with_opportunity"):
            if not data.get("opportunity_name"):
                self.add_error("opportunity_name", _("Enter the opportunity's name."))
            if not data.get("opportunity_close"):
                self.add_error("opportunity_close", _("Enter the expected close date."))
        return data

    @property
    def opportunity_data(self) -> dict | None:
        """The opportunity to create with the customer (leads.conversion.lead_convert's
        ``opportunity``), or None."""
        data = self.cleaned_data
        if not data.get("with_opportunity"):
            return None
        return {
            "name": data["opportunity_name"],
            "amount": data.get("opportunity_amount"),
            "expected_close_date": data["opportunity_close"],
            "stage": data.get("opportunity_stage"),
        }

    @property
    def merge_into(self) -> int | None:
        target = self.cleaned_data["target"]
        return None if target == NEW else int(target)
