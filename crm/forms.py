"""Forms of the core settings pages. Choice querysets are set in ``__init__`` from the
request's tenant; fields are django-scopes' safe fields so nothing queries at import time."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _
from django_scopes.forms import SafeModelChoiceField, SafeModelMultipleChoiceField

from crm import permissions, rights
from crm.auth import mobile_is_ambiguous
from crm.models import DataScope, Department, OptionKind, Role, User
from crm.widgets import UserPicker, UserPickerMultiple

DATETIME_WIDGET = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class WithDepartments:
    """A user field whose every queryset brings the users' departments along (one query for
    the whole picker, crm.widgets)."""

    def _set_queryset(self, queryset):
        if queryset is not None:
            queryset = queryset.select_related("department")
        super()._set_queryset(queryset)

    queryset = property(forms.ModelChoiceField._get_queryset, _set_queryset)


class PersonChoiceField(WithDepartments, SafeModelChoiceField):
    """A user of the tenant, by full name (the record forms of every module), in a
    searchable picker showing departments."""

    widget = UserPicker

    def label_from_instance(self, obj):
        return obj.get_full_name()


class PersonMultipleChoiceField(WithDepartments, SafeModelMultipleChoiceField):
    """Users of the tenant, by full name (participants, assignments of every module), in a
    searchable picker showing departments."""

    widget = UserPickerMultiple

    def label_from_instance(self, obj):
        return obj.get_full_name()


def posted_id_choices(data) -> list[tuple[str, str]]:
    """The choices of a batch form's ``ids``: the posted ids themselves. The services check
    them against visibility or the pool rules; the form checks only their shape."""
    return [(v, v) for v in data.getlist("ids")] if hasattr(data, "getlist") else []


class LoginForm(AuthenticationForm):
    username = forms.CharField(
        label=_("Username or mobile"),
        max_length=150,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username"}),
    )

    error_messages = {
        "invalid_login": _("The username/mobile or the password is not correct."),
        "inactive": _("This account is disabled."),
        "operator": _("Platform operators sign in at /admin/."),
        "ambiguous_mobile": _(
            "This mobile number belongs to accounts in several companies: "
            "sign in with your username instead."
        ),
    }

    def get_invalid_login_error(self):
        # Asked after authenticate() has failed (so axes counts the attempt), whatever the
        # password: a number of several companies never signs in (crm.auth).
        if mobile_is_ambiguous(self.cleaned_data.get("username")):
            return forms.ValidationError(
                self.error_messages["ambiguous_mobile"], code="ambiguous_mobile"
            )
        return super().get_invalid_login_error()

    def confirm_login_allowed(self, user: User) -> None:
        super().confirm_login_allowed(user)
        if user.tenant_id is None:
            raise forms.ValidationError(self.error_messages["operator"], code="operator")


def _department_choices_label(dept: Department) -> str:
    return "　" * dept.depth + dept.name


class DepartmentChoiceField(SafeModelChoiceField):
    def label_from_instance(self, obj):
        return _department_choices_label(obj)


class UserChoiceField(WithDepartments, SafeModelChoiceField):
    widget = UserPicker

    def label_from_instance(self, obj):
        return f"{obj.name or obj.username} ({obj.username})"


def active_departments(tenant_id: int):
    return Department.objects.filter(tenant_id=tenant_id, is_active=True).order_by("path")


def active_users(tenant_id: int):
    from crm.services import assignable_users

    return assignable_users(tenant_id)


class DepartmentForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=50)
    parent = DepartmentChoiceField(
        label=_("Parent department"),
        required=False,
        queryset=Department.objects.none(),
        empty_label=_("(top level)"),
    )
    leader = UserChoiceField(
        label=_("Department head"), required=False, queryset=User.objects.none()
    )

    def __init__(self, *args, tenant_id: int, with_parent: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["parent"].queryset = active_departments(tenant_id)
        self.fields["leader"].queryset = active_users(tenant_id)
        if not with_parent:
            del self.fields["parent"]


class DepartmentMoveForm(forms.Form):
    parent = DepartmentChoiceField(
        label=_("New parent department"),
        required=False,
        queryset=Department.objects.none(),
        empty_label=_("(top level)"),
    )

    def __init__(self, *args, tenant_id: int, department: Department, **kwargs):
        super().__init__(*args, **kwargs)
        # The department's own subtree is not a possible parent.
        self.fields["parent"].queryset = active_departments(tenant_id).exclude(
            path__startswith=department.path
        )


class UserForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150)
    name = forms.CharField(label=_("Full name"), max_length=50)
    mobile = forms.CharField(label=_("Mobile"), max_length=20, required=False)
    email = forms.EmailField(label=_("Email"), required=False)
    title = forms.CharField(label=_("Job title"), max_length=50, required=False)
    department = DepartmentChoiceField(
        label=_("Department"), required=False, queryset=Department.objects.none()
    )
    role = SafeModelChoiceField(label=_("Role"), required=False, queryset=Role.objects.none())
    manager = UserChoiceField(
        label=_("Direct manager"), required=False, queryset=User.objects.none()
    )
    password = forms.CharField(
        label=_("Initial password"),
        required=False,
        widget=forms.PasswordInput,
        help_text=_("Leave empty to generate one; it is shown once after saving."),
    )

    def __init__(self, *args, actor: User, editing: User | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        tenant_id = actor.tenant_id
        self.fields["department"].queryset = active_departments(tenant_id)
        # SECURITY: only the roles within the actor's own rights (crm.rights); the service
        # refuses the others too.
        roles = Role.objects.filter(tenant_id=tenant_id)
        self.fields["role"].queryset = roles.filter(
            pk__in=[r.pk for r in roles if not rights.role_exceeds(actor, r)]
        )
        managers = active_users(tenant_id)
        if editing is not None:
            managers = managers.exclude(pk=editing.pk)
            del self.fields["password"]
        self.fields["manager"].queryset = managers


class UserFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False)
    department = DepartmentChoiceField(
        label=_("Department"),
        required=False,
        queryset=Department.objects.none(),
        empty_label=_("All departments"),
    )
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("All")), ("active", _("Active")), ("inactive", _("Deactivated"))],
    )

    def __init__(self, *args, tenant_id: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].queryset = Department.objects.filter(
            tenant_id=tenant_id
        ).order_by("path")


class RoleForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=50)
    description = forms.CharField(label=_("Description"), max_length=200, required=False)
    data_scope = forms.ChoiceField(
        label=_("Data scope"), choices=DataScope.choices, widget=forms.RadioSelect
    )
    permissions = forms.MultipleChoiceField(
        label=_("Permissions"), required=False, widget=forms.CheckboxSelectMultiple, choices=()
    )

    def __init__(self, *args, actor: User, **kwargs):
        super().__init__(*args, **kwargs)
        # SECURITY: only the codes the actor holds and data scopes no wider than theirs
        # (crm.rights); the service refuses the others too.
        held = set(rights.grantable_codes(actor))
        self.fields["permissions"].choices = [
            (str(group), [(p.code, p.label) for p in perms if p.code in held])
            for group, perms in permissions.grouped()
            if any(p.code in held for p in perms)
        ]
        self.fields["data_scope"].choices = rights.grantable_scopes(actor)


class OptionForm(forms.Form):
    label = forms.CharField(label=_("Label"), max_length=50)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)


class OptionKindForm(forms.Form):
    kind = forms.ChoiceField(choices=OptionKind.choices)


class PasswordChangeForm(forms.Form):
    old_password = forms.CharField(label=_("Current password"), widget=forms.PasswordInput)
    new_password = forms.CharField(label=_("New password"), widget=forms.PasswordInput)
    new_password2 = forms.CharField(label=_("New password again"), widget=forms.PasswordInput)

    def clean(self):
        data = super().clean()
        if data.get("new_password") and data.get("new_password") != data.get("new_password2"):
            self.add_error("new_password2", _("The two passwords are not the same."))
        return data


# ---------------------------------------------------------------- reminders (issue 18)

TIME_WIDGET = forms.TimeInput(attrs={"type": "time"}, format="%H:%M")

# The time zones a Chinese company picks most, first in the list.
COMMON_TIME_ZONES = (
    ("Asia/Shanghai", _("China Standard Time, Beijing (Asia/Shanghai)")),
    ("Asia/Hong_Kong", _("Hong Kong (Asia/Hong_Kong)")),
    ("Asia/Macau", _("Macau (Asia/Macau)")),
    ("Asia/Taipei", _("Taipei (Asia/Taipei)")),
    ("Asia/Urumqi", _("Urumqi (Asia/Urumqi)")),
)


def time_zone_choices() -> list:
    """The common Chinese time zones first, then every IANA name the system knows, sorted."""
    import zoneinfo

    common = [name for name, _label in COMMON_TIME_ZONES]
    rest = sorted(zoneinfo.available_timezones() - set(common))
    return [
        (_("Common"), list(COMMON_TIME_ZONES)),
        (_("All time zones"), [(name, name) for name in rest]),
    ]


class ReminderPreferenceForm(forms.Form):
    """A user's own reminder settings. The kinds × channels grid is one multiple choice,
    ``on``: a ticked box is "kind:channel" on; what is not ticked is off."""

    minutes_before = forms.TypedChoiceField(
        label=_("Remind me of a follow-up"), coerce=int, choices=()
    )
    quiet_start = forms.TimeField(label=_("Quiet from"), required=False, widget=TIME_WIDGET)
    quiet_end = forms.TimeField(label=_("Quiet until"), required=False, widget=TIME_WIDGET)
    on = forms.MultipleChoiceField(required=False, choices=(), widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, **kwargs):
        from crm import reminders
        from crm.models import ReminderChannel, ReminderPreference

        super().__init__(*args, **kwargs)
        self.fields["minutes_before"].choices = [
            (m, _("%(minutes)d minutes before") % {"minutes": m})
            for m in ReminderPreference.MINUTES_CHOICES
        ]
        self.kinds = reminders.kinds()
        self.channels = list(ReminderChannel.choices)
        self.fields["on"].choices = [
            (f"{k.key}:{c}", f"{k.label} · {label}")
            for k in self.kinds
            for c, label in self.channels
        ]

    @classmethod
    def initial_for(cls, pref) -> dict:
        from crm import reminders
        from crm.models import ReminderChannel

        every = [f"{k.key}:{c}" for k in reminders.kinds() for c in ReminderChannel.values]
        return {
            "minutes_before": pref.minutes_before,
            "quiet_start": pref.quiet_start,
            "quiet_end": pref.quiet_end,
            "on": [pair for pair in every if pair not in pref.off],
        }

    def clean(self):
        data = super().clean()
        start, end = data.get("quiet_start"), data.get("quiet_end")
        if (start is None) != (end is None) and not self.errors:
            self.add_error(
                "quiet_end" if end is None else "quiet_start",
                _("Give both the start and the end of the quiet hours, or neither."),
            )
        elif start is not None and start == end:
            self.add_error("quiet_end", _("The quiet hours must start and end at different times."))
        return data

    @property
    def off(self) -> list[str]:
        on = set(self.cleaned_data.get("on") or [])
        return [value for value, _label in self.fields["on"].choices if value not in on]

    def grid(self) -> list[tuple]:
        """Rows of the grid: (kind label, [(value, channel label, checked)])."""
        if self.is_bound:
            on = set(self.data.getlist("on")) if hasattr(self.data, "getlist") else set()
        else:
            on = set(self.initial.get("on") or [])
        return [
            (
                kind.label,
                [(f"{kind.key}:{c}", label, f"{kind.key}:{c}" in on) for c, label in self.channels],
            )
            for kind in self.kinds
        ]


class WebhookForm(forms.Form):
    """A group bot's webhook: the user's own (preferences page) or a department's (settings,
    ``with_department`` to choose it on the add form, ``with_active`` on the edit form). The
    secret is write-only: never rendered back; left blank it keeps the saved one."""

    department = DepartmentChoiceField(
        label=_("Department"), queryset=Department.objects.none(), required=True
    )
    provider = forms.ChoiceField(label=_("Group bot"), choices=())
    url = forms.CharField(
        label=_("Webhook address"),
        max_length=500,
        widget=forms.URLInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text=_("The group bot's address, copied from the group's robot settings."),
    )
    secret = forms.CharField(
        label=_("Signing secret"),
        max_length=200,
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}, render_value=False),
    )
    is_active = forms.BooleanField(label=_("Active"), required=False)

    def __init__(
        self,
        *args,
        tenant_id: int | None = None,
        with_department: bool = False,
        with_active: bool = False,
        has_secret: bool = False,
        **kwargs,
    ):
        from crm.models import Webhook

        super().__init__(*args, **kwargs)
        self.fields["provider"].choices = Webhook.Provider.choices
        self.fields["secret"].help_text = (
            _("A secret is saved: leave this blank to keep it.")
            if has_secret
            else _("Only if the robot is set to sign its messages (加签).")
        )
        if with_department:
            taken = Webhook.objects.filter(tenant_id=tenant_id, department__isnull=False)
            self.fields["department"].queryset = active_departments(tenant_id).exclude(
                pk__in=taken.values("department_id")
            )
        else:
            del self.fields["department"]
        if not with_active:
            del self.fields["is_active"]


class TenantReminderSettingsForm(forms.Form):
    escalation_days = forms.IntegerField(
        label=_("Days overdue before a follow-up also goes to the manager"),
        min_value=0,
        max_value=30,
        help_text=_("0: never. The owner is reminded either way."),
    )
    time_zone = forms.ChoiceField(
        label=_("Time zone"),
        choices=(),
        help_text=_("The morning digest and everyone's quiet hours follow this clock."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = time_zone_choices()


class DeliveryFilterForm(forms.Form):
    """The delivery log's filters."""

    status = forms.ChoiceField(label=_("Status"), required=False, choices=())
    channel = forms.ChoiceField(label=_("Channel"), required=False, choices=())
    q = forms.CharField(label=_("Recipient"), required=False, max_length=50)

    def __init__(self, *args, **kwargs):
        from crm.models import Delivery, ReminderChannel

        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [("", _("All")), *Delivery.Status.choices]
        self.fields["channel"].choices = [
            ("", _("All")),
            *[(c, label) for c, label in ReminderChannel.choices if c != ReminderChannel.BELL],
        ]

    # The shape components/list_search.html reads from a list's filter set.
    @property
    def form(self):
        return self

    def advanced_fields(self):
        return [field for field in self if field.name != "q"]

    @property
    def advanced_active(self) -> bool:
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        return bool(data.get("status") or data.get("channel"))
