"""Forms of the lead pages. Choice querysets are set in ``__init__`` from the request's
tenant; relation fields are django-scopes' safe fields. Follow-ups, attachments and saved
searches use the customers module's forms (the same model and UI)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from django_scopes.forms import SafeModelChoiceField

from crm.models import Option, OptionKind, User
from crm.regions import RegionFormMixin
from crm.selectors import options_for
from crm.services import assignable_users
from customers.forms import DATETIME_WIDGET, UserChoiceField, posted_id_choices
from leads.models import Campaign, Lead
from leads.services import LEAD_FIELDS


class LeadForm(RegionFormMixin, forms.ModelForm):
    owner = UserChoiceField(
        label=_("Owner"),
        queryset=User.objects.none(),
        required=False,
        help_text=_("Empty: yourself. Another person takes the transfer right."),
    )
    to_pool = forms.BooleanField(
        label=_("Put it into the lead pool instead (no owner)"), required=False
    )
    confirm_duplicates = forms.BooleanField(
        label=_("Save anyway: this is not one of the records above"), required=False
    )

    class Meta:
        model = Lead
        fields = LEAD_FIELDS
        field_classes = {"source": SafeModelChoiceField, "campaign": SafeModelChoiceField}
        widgets = {
            "next_followup_at": DATETIME_WIDGET,
            "remark": forms.Textarea(attrs={"rows": 3}),
            "company": forms.TextInput(attrs={"autocomplete": "off"}),
            "mobile": forms.TextInput(attrs={"autocomplete": "off", "inputmode": "tel"}),
        }

    def __init__(self, *args, tenant_id: int, creating: bool, may_transfer: bool, **kwargs):
        super().__init__(*args, **kwargs)
        instance = self.instance if self.instance.pk else None
        self.fields["source"].queryset = options_for(
            tenant_id=tenant_id,
            kind=OptionKind.CUSTOMER_SOURCE,
            include=instance.source if instance else None,
        )
        campaigns = Campaign.objects.filter(tenant_id=tenant_id)
        if instance and instance.campaign_id:
            campaigns = campaigns.filter(is_active=True) | campaigns.filter(pk=instance.campaign_id)
        else:
            campaigns = campaigns.filter(is_active=True)
        self.fields["campaign"].queryset = campaigns
        if creating and may_transfer:
            self.fields["owner"].queryset = assignable_users(tenant_id)
        else:
            del self.fields["owner"]
        if not creating:
            del self.fields["to_pool"]

    def lead_data(self) -> dict:
        return {k: v for k, v in self.cleaned_data.items() if k in LEAD_FIELDS}


class LeadBatchForm(forms.Form):
    """The list's batch bar (and the lead page's single actions, with one id)."""

    ACTIONS = [
        ("transfer", _("Transfer to…")),
        ("status", _("Change status")),
        ("close", _("Close")),
        ("reopen", _("Reopen")),
    ]
    action = forms.ChoiceField(choices=ACTIONS)
    ids = forms.TypedMultipleChoiceField(coerce=int, choices=())
    to_user = UserChoiceField(label=_("New owner"), queryset=User.objects.none(), required=False)
    status = forms.ChoiceField(
        label=_("Status"),
        choices=[("", "—")]
        + [(s.value, s.label) for s in (Lead.Status.NEW, Lead.Status.CONTACTED)],
        required=False,
    )
    close_reason = SafeModelChoiceField(
        label=_("Close reason"), queryset=Option.objects.none(), required=False
    )
    close_note = forms.CharField(label=_("Note"), max_length=500, required=False)

    def __init__(self, *args, tenant_id: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_user"].queryset = assignable_users(tenant_id)
        self.fields["close_reason"].queryset = options_for(
            tenant_id=tenant_id, kind=OptionKind.LEAD_CLOSE_REASON
        )
        self.fields["ids"].choices = posted_id_choices(self.data)

    def clean(self):
        data = super().clean()
        action = data.get("action")
        if action == "transfer" and not data.get("to_user"):
            self.add_error("to_user", _("Choose the new owner."))
        if action == "status" and not data.get("status"):
            self.add_error("status", _("Choose the status."))
        if action == "close" and not data.get("close_reason"):
            self.add_error("close_reason", _("Choose why the leads are closed."))
        return data
