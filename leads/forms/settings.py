"""Forms of the lead settings pages (lead.manage): campaigns and assignment rules. Choice
querysets are set in ``__init__`` from the request's tenant; relation fields are
django-scopes' safe fields."""

from __future__ import annotations

from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django_scopes.forms import SafeModelChoiceField

from crm.models import Option, OptionKind, User
from crm.regions import RegionFormMixin
from leads.assignment import RULE_FIELDS
from leads.campaigns import CAMPAIGN_FIELDS
from leads.models import AssignmentRule, Campaign
from pools.models import PoolGroup


def _model_field(model, name: str, **kwargs):
    return model._meta.get_field(name).formfield(**kwargs)


class CampaignForm(forms.Form):
    name = _model_field(Campaign, "name")
    cost = _model_field(Campaign, "cost", min_value=0)
    starts_on = _model_field(Campaign, "starts_on", widget=forms.DateInput(attrs={"type": "date"}))
    ends_on = _model_field(Campaign, "ends_on", widget=forms.DateInput(attrs={"type": "date"}))
    is_active = _model_field(Campaign, "is_active")
    remark = _model_field(Campaign, "remark")

    def __init__(self, *args, campaign: Campaign | None = None, **kwargs):
        if campaign is not None and "initial" not in kwargs:
            kwargs["initial"] = {name: getattr(campaign, name) for name in CAMPAIGN_FIELDS}
        super().__init__(*args, **kwargs)
        self.fields["name"].widget.attrs.setdefault("autocomplete", "off")

    def clean(self):
        cleaned = super().clean()
        starts, ends = cleaned.get("starts_on"), cleaned.get("ends_on")
        if starts and ends and ends < starts:
            self.add_error("ends_on", _("The campaign cannot end before it starts."))
        return cleaned

    def campaign_data(self) -> dict:
        return {name: self.cleaned_data[name] for name in CAMPAIGN_FIELDS}


class OrderedUsersField(forms.Field):
    """Users in the order they were submitted (one ``<select name="users">`` per turn, in
    page order); blanks are skipped, repeats keep their first place. Only the queryset's
    users are accepted."""

    widget = forms.SelectMultiple

    def __init__(self, *, queryset=None, **kwargs):
        self.queryset = queryset if queryset is not None else User.tenant_objects.none()
        super().__init__(**kwargs)

    def to_python(self, value):
        ids: list[int] = []
        for raw in value or []:
            if raw in ("", None):
                continue
            try:
                number = int(raw)
            except (TypeError, ValueError):
                raise forms.ValidationError(_("Choose valid users."), code="invalid") from None
            if number not in ids:
                ids.append(number)
        return ids

    def clean(self, value):
        ids = self.to_python(value)
        if not ids:
            if self.required:
                raise forms.ValidationError(
                    _("Choose at least one user to hand the leads to."), code="required"
                )
            return []
        found = {u.pk: u for u in self.queryset.filter(pk__in=ids)}
        if len(found) != len(ids):
            raise forms.ValidationError(_("Choose valid users."), code="invalid_choice")
        return [found[pk] for pk in ids]


class RuleForm(RegionFormMixin, forms.Form):
    # Province and city picked from the region table (crm.regions), a select each.
    region_fields = ("province", "city")
    region_picker = False
    region_empty_label = _("Any")

    name = _model_field(AssignmentRule, "name")
    is_enabled = _model_field(AssignmentRule, "is_enabled")
    source = SafeModelChoiceField(
        label=_("source"), required=False, queryset=Option.objects.none(), empty_label=_("Any")
    )
    campaign = SafeModelChoiceField(
        label=_("campaign"), required=False, queryset=Campaign.objects.none(), empty_label=_("Any")
    )
    province = _model_field(AssignmentRule, "province")
    city = _model_field(AssignmentRule, "city")
    pool_group = SafeModelChoiceField(
        label=_("lead pool"),
        required=False,
        queryset=PoolGroup.objects.none(),
        empty_label=_("Any"),
        help_text=AssignmentRule._meta.get_field("pool_group").help_text,
    )
    on_create = _model_field(AssignmentRule, "on_create")
    on_import = _model_field(AssignmentRule, "on_import")
    on_return = _model_field(AssignmentRule, "on_return")
    periodic = _model_field(AssignmentRule, "periodic")
    daily_limit = _model_field(AssignmentRule, "daily_limit")
    holding_limit = _model_field(AssignmentRule, "holding_limit")
    users = OrderedUsersField(label=_("Users, in turn order"))

    FIELDSETS = [
        ("general", _("Name"), ["name", "is_enabled"]),
        (
            "conditions",
            _("Conditions (empty: any)"),
            ["source", "campaign", "province", "city", "pool_group"],
        ),
        ("triggers", _("Applies to"), ["on_create", "on_import", "on_return", "periodic"]),
        ("limits", _("Bounds"), ["daily_limit", "holding_limit"]),
    ]
    # Empty turn slots offered below the chosen users.
    EXTRA_SLOTS = 3

    def __init__(self, *args, tenant_id: int, rule: AssignmentRule | None = None, **kwargs):
        current = (
            list(rule.members.order_by("position", "pk").values_list("user_id", flat=True))
            if rule
            else []
        )
        if rule is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                **{name: getattr(rule, name) for name in RULE_FIELDS},
                "users": current,
            }
        super().__init__(*args, **kwargs)
        self.fields["source"].queryset = Option.objects.filter(
            tenant_id=tenant_id, kind=OptionKind.CUSTOMER_SOURCE
        ).filter(Q(is_active=True) | Q(pk=getattr(rule, "source_id", None)))
        self.fields["campaign"].queryset = Campaign.objects.filter(tenant_id=tenant_id).filter(
            Q(is_active=True) | Q(pk=getattr(rule, "campaign_id", None))
        )
        self.fields["pool_group"].queryset = PoolGroup.objects.filter(
            tenant_id=tenant_id, kind=PoolGroup.Kind.LEAD
        )
        # Current members stay choosable when deactivated, so that the page shows them (the
        # service then says why the rule cannot keep them).
        self.fields["users"].queryset = (
            User.tenant_objects.filter(tenant_id=tenant_id)
            .filter(Q(is_active=True) | Q(pk__in=current))
            .order_by("-is_active", "name", "id")
        )
        self.fields["name"].widget.attrs.setdefault("autocomplete", "off")

    def fieldsets(self):
        return [(key, title, [self[n] for n in names]) for key, title, names in self.FIELDSETS]

    def user_choices(self) -> list[User]:
        # With their departments: each turn's picker shows them (crm.widgets).
        return list(self.fields["users"].queryset.select_related("department"))

    def user_slots(self) -> list[str]:
        """The chosen user ids as strings, in turn order, then empty slots."""
        value = self["users"].value() or []
        chosen = [str(v) for v in value if str(v)]
        return chosen + [""] * self.EXTRA_SLOTS

    def rule_data(self) -> dict:
        return {name: self.cleaned_data[name] for name in RULE_FIELDS}
