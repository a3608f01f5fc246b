"""Forms of the pool group settings pages (pool.manage). Choice querysets are set in
``__init__`` from the request's tenant; relation fields are django-scopes' safe fields."""

from __future__ import annotations

from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_scopes.forms import SafeModelChoiceField, SafeModelMultipleChoiceField

from crm.forms import WithDepartments
from crm.models import Department, Option, OptionKind, User
from crm.widgets import DepartmentPickerMultiple, UserPickerMultiple
from pools.models import (
    DEFAULT_HIDDEN_FIELDS,
    HIDDEN_FIELD_CHOICES,
    LEAD_HIDDEN_FIELD_CHOICES,
    PoolGroup,
    PoolLevelRule,
)


def _rule(name: str, **kwargs):
    """The form field of a PoolGroup rule, with the model's label, help text and limits."""
    return PoolGroup._meta.get_field(name).formfield(**kwargs)


def _days(**kwargs):
    return forms.IntegerField(
        required=False, min_value=0, widget=forms.NumberInput(attrs={"min": 0}), **kwargs
    )


class DepartmentMultipleChoiceField(SafeModelMultipleChoiceField):
    widget = DepartmentPickerMultiple

    def label_from_instance(self, obj):
        return "　" * obj.depth + obj.name


class UserMultipleChoiceField(WithDepartments, SafeModelMultipleChoiceField):
    widget = UserPickerMultiple

    def label_from_instance(self, obj):
        name = obj.get_full_name()
        return name if obj.is_active else _("%(name)s (deactivated)") % {"name": name}


def _select_size(queryset, most: int = 8) -> int:
    return max(3, min(most, queryset.count()))


class GroupForm(forms.Form):
    """Every rule of a pool group plus its members and admins. The per-level recycling days
    are a formset of their own (``LevelRuleFormSet``)."""

    name = _rule("name")
    is_enabled = _rule("is_enabled")
    sort_order = _rule("sort_order")
    open_to_all = _rule("open_to_all")
    departments = DepartmentMultipleChoiceField(
        label=_("Member departments"),
        required=False,
        queryset=Department.objects.none(),
        help_text=_("Their users and those of every department below them are members."),
    )
    users = UserMultipleChoiceField(
        label=_("Member users"), required=False, queryset=User.objects.none()
    )
    admins = UserMultipleChoiceField(
        label=_("Pool admins"),
        required=False,
        queryset=User.objects.none(),
        help_text=_(
            "They assign and move this group's customers and see every hidden field; "
            "they are members too."
        ),
    )
    claim_mode = _rule("claim_mode", widget=forms.RadioSelect)
    daily_claim_limit = _rule("daily_claim_limit")
    holding_limit = _rule("holding_limit")
    holding_counts_signed = _rule("holding_counts_signed")
    cooldown_days = _rule("cooldown_days")
    allow_return_elsewhere = _rule("allow_return_elsewhere")
    recycle_no_followup_days = _rule("recycle_no_followup_days")
    recycle_no_deal_days = _rule("recycle_no_deal_days")
    recycle_no_opportunity_days = _rule("recycle_no_opportunity_days")
    exempt_signed = _rule("exempt_signed")
    exempt_with_opportunity = _rule("exempt_with_opportunity")
    exempt_locked = _rule("exempt_locked")
    warn_days = _rule("warn_days")
    hidden_fields = forms.MultipleChoiceField(
        label=_("Fields hidden while a customer is in the pool"),
        required=False,
        choices=HIDDEN_FIELD_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        initial=DEFAULT_HIDDEN_FIELDS,
        help_text=_("Members see them again once they own the customer."),
    )

    # (heading, field names): the page shows one fieldset each; the level rules follow the
    # recycling days.
    FIELDSETS = [
        (
            "general",
            pgettext_lazy("pool group form", "Name and order"),
            ["name", "is_enabled", "sort_order"],
        ),
        (
            "members",
            pgettext_lazy("pool group form", "Members"),
            ["open_to_all", "departments", "users", "admins"],
        ),
        (
            "claim",
            pgettext_lazy("pool group form", "Claim rules"),
            [
                "claim_mode",
                "daily_claim_limit",
                "holding_limit",
                "holding_counts_signed",
                "cooldown_days",
                "allow_return_elsewhere",
            ],
        ),
        (
            "recycle",
            pgettext_lazy("pool group form", "Recycling rules"),
            ["recycle_no_followup_days", "recycle_no_deal_days", "recycle_no_opportunity_days"],
        ),
        (
            "exempt",
            pgettext_lazy("pool group form", "Exemptions and warning"),
            ["exempt_signed", "exempt_with_opportunity", "exempt_locked", "warn_days"],
        ),
        ("hidden", pgettext_lazy("pool group form", "Hidden fields"), ["hidden_fields"]),
    ]
    RULE_FIELDS = [
        "name",
        "is_enabled",
        "open_to_all",
        "sort_order",
        "claim_mode",
        "daily_claim_limit",
        "holding_limit",
        "holding_counts_signed",
        "cooldown_days",
        "recycle_no_followup_days",
        "recycle_no_deal_days",
        "recycle_no_opportunity_days",
        "exempt_signed",
        "exempt_with_opportunity",
        "exempt_locked",
        "warn_days",
        "hidden_fields",
        "allow_return_elsewhere",
    ]

    def __init__(
        self,
        *args,
        tenant_id: int,
        kind: str,
        group: PoolGroup | None = None,
        **kwargs,
    ):
        self.kind = group.kind if group is not None else kind
        if group is not None and "initial" not in kwargs:
            kwargs["initial"] = self.initial_for(group)
        super().__init__(*args, **kwargs)
        if self.kind == PoolGroup.Kind.LEAD:
            self._for_leads()
        self.fields["departments"].queryset = Department.objects.filter(
            tenant_id=tenant_id, is_active=True
        ).order_by("path")
        # Current members stay choosable when deactivated, so saving does not drop them
        # silently; nobody else of the tenant who is inactive is offered.
        current = list(group.member_users.values_list("user_id", flat=True)) if group else []
        users = (
            User.tenant_objects.filter(tenant_id=tenant_id)
            .filter(Q(is_active=True) | Q(pk__in=current))
            .order_by("-is_active", "name", "id")
        )
        self.fields["users"].queryset = users
        self.fields["admins"].queryset = users
        size = _select_size(users)
        self.fields["users"].widget.attrs["size"] = size
        self.fields["admins"].widget.attrs["size"] = size
        depts = self.fields["departments"].queryset
        self.fields["departments"].widget.attrs["size"] = _select_size(depts)
        self.fields["name"].widget.attrs.setdefault("autocomplete", "off")

    # A lead pool's rules: no deal, no signed or locked leads (pools.services).
    LEAD_RULE_FIELDS = [
        "name",
        "is_enabled",
        "open_to_all",
        "sort_order",
        "claim_mode",
        "daily_claim_limit",
        "holding_limit",
        "cooldown_days",
        "recycle_no_followup_days",
        "warn_days",
        "hidden_fields",
        "allow_return_elsewhere",
    ]

    def _for_leads(self) -> None:
        """The same form for a lead pool: the rules that make sense for leads, in lead
        wording."""
        keep = set(self.LEAD_RULE_FIELDS) | {"departments", "users", "admins"}
        for name in list(self.fields):
            if name not in keep:
                del self.fields[name]
        f = self.fields
        f["admins"].label = _("Lead pool admins")
        f["admins"].help_text = _(
            "They assign and move this pool's leads and see every hidden field; they are "
            "members too."
        )
        f["claim_mode"].choices = [
            (PoolGroup.ClaimMode.SELF, _("Members claim leads themselves")),
            (PoolGroup.ClaimMode.ADMIN, _("Only lead pool admins assign leads")),
        ]
        f["holding_limit"].help_text = _(
            "How many open leads a rep may own after a claim; 0 means no limit."
        )
        f["cooldown_days"].help_text = _(
            "A rep cannot claim back a lead they returned, or that was recycled from them, "
            "for this many days; 0 means no cool-down."
        )
        f["allow_return_elsewhere"].label = _("members may return leads into another lead pool")
        f["recycle_no_followup_days"].help_text = _(
            "Open leads go back to the pool after this many days with their owner without a "
            "follow-up; closed and converted leads never do. Empty: never recycle."
        )
        f["warn_days"].help_text = _(
            "The owner is notified this many days before an open lead goes back to the lead "
            "pool; 0 means no warning."
        )
        f["hidden_fields"].choices = LEAD_HIDDEN_FIELD_CHOICES
        f["hidden_fields"].label = _("Fields hidden while a lead is in the pool")
        f["hidden_fields"].help_text = _("Members see them again once they own the lead.")

    @property
    def rule_fields(self) -> list[str]:
        return self.LEAD_RULE_FIELDS if self.kind == PoolGroup.Kind.LEAD else self.RULE_FIELDS

    @classmethod
    def initial_for(cls, group: PoolGroup) -> dict:
        initial = {name: getattr(group, name) for name in cls.RULE_FIELDS}
        members = list(group.member_users.values_list("user_id", "is_admin"))
        initial["users"] = [uid for uid, _admin in members]
        initial["admins"] = [uid for uid, admin in members if admin]
        initial["departments"] = list(
            group.member_departments.values_list("department_id", flat=True)
        )
        return initial

    # A lead pool has no exemptions to set: that fieldset holds its warning only.
    LEAD_FIELDSET_TITLES = {"exempt": pgettext_lazy("pool group form", "Warning")}

    def fieldsets(self):
        """[(key, heading, [bound fields])] for the template (the form's fields only)."""
        titles = self.LEAD_FIELDSET_TITLES if self.kind == PoolGroup.Kind.LEAD else {}
        result = []
        for key, title, names in self.FIELDSETS:
            bound = [self[n] for n in names if n in self.fields]
            if bound:
                result.append((key, titles.get(key, title), bound))
        return result

    def rule_data(self) -> dict:
        """The group's own fields for ``pool_group_save(data=...)``."""
        return {name: self.cleaned_data[name] for name in self.rule_fields}


class LevelRuleForm(forms.Form):
    """One customer level: its own recycling days instead of the group's, when ticked."""

    level = SafeModelChoiceField(
        queryset=Option.objects.none(), widget=forms.HiddenInput, label=_("Customer level")
    )
    use_own = forms.BooleanField(label=_("Use own days for this level"), required=False)
    no_followup_days = _days(label=_("Days without a follow-up"))
    no_deal_days = _days(label=_("Days without a deal"))
    no_opportunity_days = _days(label=_("Days without a new opportunity"))

    def __init__(self, *args, level_queryset=None, levels=(), **kwargs):
        super().__init__(*args, **kwargs)
        if level_queryset is not None:
            self.fields["level"].queryset = level_queryset
        # The level this row is about, for its heading (bound: the posted one).
        value = str(self["level"].value() or "")
        self.level_option = next((o for o in levels if str(o.pk) == value), None)

    def clean(self):
        data = super().clean()
        if not data.get("use_own") and (
            data.get("no_followup_days") is not None
            or data.get("no_deal_days") is not None
            or data.get("no_opportunity_days") is not None
        ):
            raise forms.ValidationError(
                _("Tick “use own days” to apply these days to the level, or clear them."),
                code="unused_days",
            )
        return data


class BaseLevelRuleFormSet(forms.BaseFormSet):
    """One row per customer level of the tenant (active ones, plus any level that already
    has a rule in the group), in the option list's order."""

    def __init__(self, *args, tenant_id: int, group: PoolGroup | None = None, **kwargs):
        rules = {}
        if group is not None:
            rules = {r.level_id: r for r in PoolLevelRule.objects.filter(group=group)}
        self.level_queryset = (
            Option.objects.filter(tenant_id=tenant_id, kind=OptionKind.CUSTOMER_LEVEL)
            .filter(Q(is_active=True) | Q(pk__in=list(rules)))
            .order_by("sort_order", "id")
        )
        self.levels = list(self.level_queryset)
        initial = []
        for option in self.levels:
            rule = rules.get(option.pk)
            initial.append(
                {
                    "level": option.pk,
                    "use_own": rule is not None,
                    "no_followup_days": rule.no_followup_days if rule else None,
                    "no_deal_days": rule.no_deal_days if rule else None,
                    "no_opportunity_days": rule.no_opportunity_days if rule else None,
                }
            )
        kwargs.setdefault("prefix", "levels")
        super().__init__(*args, initial=initial, **kwargs)
        self.max_num = self.absolute_max = len(self.levels)

    def get_form_kwargs(self, index):
        kwargs = super().get_form_kwargs(index)
        kwargs["levels"] = self.levels
        kwargs["level_queryset"] = self.level_queryset
        return kwargs

    def clean(self):
        if any(self.errors):
            return
        seen = set()
        for form in self.forms:
            level = form.cleaned_data.get("level")
            if level is None:
                continue
            if level.pk in seen:
                raise forms.ValidationError(_("Each level may appear only once."), code="dup")
            seen.add(level.pk)

    def level_rules(self) -> list[tuple[Option, int | None, int | None, int | None]]:
        """The ticked rows, as ``pool_group_save(level_rules=...)`` takes them."""
        return [
            (
                f.cleaned_data["level"],
                f.cleaned_data["no_followup_days"],
                f.cleaned_data["no_deal_days"],
                f.cleaned_data["no_opportunity_days"],
            )
            for f in self.forms
            if f.cleaned_data.get("level") and f.cleaned_data.get("use_own")
        ]


LevelRuleFormSet = forms.formset_factory(
    LevelRuleForm, formset=BaseLevelRuleFormSet, extra=0, validate_max=True
)


class InitializeForm(forms.Form):
    """初始化公海分组: the group that customers without one are put into."""

    group = SafeModelChoiceField(
        label=_("Target pool group"), queryset=PoolGroup.objects.none(), empty_label=None
    )

    def __init__(self, *args, tenant_id: int, **kwargs):
        super().__init__(*args, **kwargs)
        groups = PoolGroup.objects.filter(
            tenant_id=tenant_id, kind=PoolGroup.Kind.CUSTOMER, is_enabled=True
        )
        self.fields["group"].queryset = groups
        if "group" not in self.initial:
            default = next((g for g in groups if g.is_default), None)
            self.initial["group"] = default.pk if default else None
