"""Forms of the customers module. Choice querysets are set in ``__init__`` from the
request's tenant; relation fields are django-scopes' safe fields."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from django_scopes.forms import SafeModelChoiceField, SafeModelMultipleChoiceField

from crm.forms import DATE_WIDGET, DATETIME_WIDGET, posted_id_choices
from crm.forms import PersonChoiceField as UserChoiceField
from crm.forms import PersonMultipleChoiceField as UserMultipleChoiceField
from crm.importing import ALLOWED_EXTENSIONS
from crm.models import Department, Option, OptionKind, User
from crm.regions import RegionFormMixin
from crm.selectors import options_for
from crm.services import assignable_users
from customers import owned
from customers.importing import (
    MODES,
    TARGET_DEPARTMENT,
    TARGET_OWNER,
    TARGET_POOL,
    TARGET_USERS,
)
from customers.models import Contact, Customer, FollowUp, SavedSearch, Tag
from customers.services import CONTACT_FIELDS, OPTION_FIELDS
from pools.models import PoolGroup


class CustomerForm(RegionFormMixin, forms.ModelForm):
    contact_name = forms.CharField(label=_("Contact name"), max_length=50, required=False)
    contact_phone = forms.CharField(label=_("Contact phone"), max_length=30, required=False)
    tags = SafeModelMultipleChoiceField(
        label=_("Tags"),
        queryset=Tag.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    confirm_duplicates = forms.BooleanField(
        label=_("Save anyway: this is not one of the customers above"), required=False
    )

    class Meta:
        model = Customer
        fields = [
            "name",
            "contact_name",
            "contact_phone",
            "level",
            "status",
            "source",
            "industry",
            "legal_representative",
            "credit_code",
            "bank_name",
            "bank_account",
            "products",
            "raw_materials",
            "province",
            "city",
            "district",
            "address",
            "longitude",
            "latitude",
            "referrer",
            "tags",
            "next_followup_at",
            "visibility",
            "remark",
        ]
        field_classes = {
            "level": SafeModelChoiceField,
            "status": SafeModelChoiceField,
            "source": SafeModelChoiceField,
            "industry": SafeModelChoiceField,
            "referrer": UserChoiceField,
        }
        widgets = {
            "next_followup_at": DATETIME_WIDGET,
            "remark": forms.Textarea(attrs={"rows": 3}),
            "name": forms.TextInput(attrs={"autocomplete": "off"}),
        }

    def __init__(self, *args, tenant_id: int, creating: bool, **kwargs):
        super().__init__(*args, **kwargs)
        instance = self.instance if self.instance.pk else None
        for field, kind in OPTION_FIELDS.items():
            current = getattr(instance, field) if instance else None
            self.fields[field].queryset = options_for(
                tenant_id=tenant_id, kind=kind, include=current
            )
        self.fields["referrer"].queryset = User.tenant_objects.filter(tenant_id=tenant_id)
        self.fields["tags"].queryset = Tag.objects.filter(tenant_id=tenant_id)
        if instance:
            self.fields["tags"].initial = list(instance.tags.values_list("pk", flat=True))
        if not creating:
            del self.fields["contact_name"]
            del self.fields["contact_phone"]

    def customer_data(self) -> dict:
        skip = {"contact_name", "contact_phone", "tags", "confirm_duplicates"}
        return {k: v for k, v in self.cleaned_data.items() if k not in skip}


class ContactForm(forms.ModelForm):
    class Meta:
        model = Contact
        fields = CONTACT_FIELDS
        widgets = {"birthday": DATE_WIDGET}


class FollowUpForm(forms.Form):
    # Tap chips (record.css .chip-group), not a select: one tap on a phone.
    kind = SafeModelChoiceField(
        label=_("Type"),
        queryset=Option.objects.none(),
        widget=forms.RadioSelect(attrs={"class": "chip-group"}),
    )
    contact = SafeModelChoiceField(
        label=_("Contact"), queryset=Contact.objects.none(), required=False
    )
    content = forms.CharField(label=_("What happened"), widget=forms.Textarea(attrs={"rows": 3}))
    followed_at = forms.DateTimeField(
        label=_("Time"), required=False, widget=DATETIME_WIDGET, help_text=_("Empty means now.")
    )
    next_followup_at = forms.DateTimeField(
        label=_("Next follow-up"), required=False, widget=DATETIME_WIDGET
    )
    attachment = forms.FileField(label=_("Attachment"), required=False)

    def __init__(self, *args, record, actor=None, **kwargs):
        """For a follow-up on an owned record (customers.owned): the contacts to choose are
        its customer's (none for a record without a customer, such as an open lead). Given
        the ``actor``, an empty form starts on the type of their latest follow-up (one
        query, on the index followup_author)."""
        super().__init__(*args, **kwargs)
        self.fields["kind"].queryset = options_for(
            tenant_id=record.tenant_id, kind=OptionKind.FOLLOWUP_TYPE
        )
        if actor is not None and not self.is_bound and "kind" not in self.initial:
            self.initial["kind"] = (
                FollowUp.objects.filter(tenant_id=record.tenant_id, created_by=actor)
                .order_by("-followed_at", "-id")
                .values_list("kind_id", flat=True)
                .first()
            )
        customer_id = owned.kind_of(record).customer_id(record)
        if customer_id is None:
            del self.fields["contact"]
        else:
            self.fields["contact"].queryset = Contact.objects.filter(
                tenant_id=record.tenant_id, customer_id=customer_id
            )


class ParticipantForm(forms.Form):
    users = UserMultipleChoiceField(label=_("People"), queryset=User.objects.none())
    can_edit = forms.BooleanField(label=_("May edit the customer"), required=False)

    def __init__(self, *args, tenant_id: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["users"].queryset = assignable_users(tenant_id)


class BatchForm(forms.Form):
    ACTIONS = [
        ("transfer", _("Transfer to…")),
        ("participants", _("Add participants")),
        ("status", _("Change status")),
        ("tag_add", _("Add tag")),
        ("tag_remove", _("Remove tag")),
        ("star", _("Star")),
        ("unstar", _("Remove star")),
        ("trash", _("Move to recycle bin")),
        ("restore", _("Restore")),
        ("purge", _("Delete for good")),
    ]
    action = forms.ChoiceField(choices=ACTIONS)
    ids = forms.TypedMultipleChoiceField(coerce=int, choices=())
    to_user = UserChoiceField(label=_("New owner"), queryset=User.objects.none(), required=False)
    with_related = forms.BooleanField(label=_("Also their open related records"), required=False)
    users = UserMultipleChoiceField(label=_("People"), queryset=User.objects.none(), required=False)
    can_edit = forms.BooleanField(required=False)
    status = SafeModelChoiceField(queryset=Option.objects.none(), required=False)
    tag_name = forms.CharField(max_length=30, required=False)

    def __init__(self, *args, tenant_id: int, **kwargs):
        super().__init__(*args, **kwargs)
        users = assignable_users(tenant_id)
        self.fields["to_user"].queryset = users
        self.fields["users"].queryset = users
        self.fields["status"].queryset = options_for(
            tenant_id=tenant_id, kind=OptionKind.CUSTOMER_STATUS
        )
        self.fields["ids"].choices = posted_id_choices(self.data)

    def clean(self):
        data = super().clean()
        action = data.get("action")
        if action == "transfer" and not data.get("to_user"):
            self.add_error("to_user", _("Choose the new owner."))
        if action == "participants" and not data.get("users"):
            self.add_error("users", _("Choose at least one person."))
        if action in ("tag_add", "tag_remove") and not (data.get("tag_name") or "").strip():
            self.add_error("tag_name", _("Enter a tag name."))
        return data


class CommentForm(forms.Form):
    content = forms.CharField(
        label=_("Comment"), max_length=1000, widget=forms.Textarea(attrs={"rows": 2})
    )


class AttachmentForm(forms.Form):
    file = forms.FileField(label=_("File"))


class SavedSearchForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=50)
    query = forms.CharField(max_length=1000, required=False, widget=forms.HiddenInput)
    # Which list the search belongs to (the lead list reuses this form); empty: customers.
    list_kind = forms.ChoiceField(
        choices=SavedSearch.ListKind.choices, required=False, widget=forms.HiddenInput
    )


class MergeForm(forms.Form):
    keep = forms.IntegerField(widget=forms.RadioSelect)
    ids = forms.TypedMultipleChoiceField(coerce=int, choices=())

    def __init__(self, *args, choices, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["ids"].choices = choices
        self.fields["keep"].widget.choices = choices


# ---------------------------------------------------------------- imports


class ImportStartForm(forms.Form):
    """Upload, target and duplicate handling of an import. A subclass words it for its kind of
    record (the attributes below) and names the kind of pool it imports into."""

    pool_kind = ""  # a pools.models.PoolGroup.Kind value
    page_title = ""
    pool_choice = ""  # the target "into a pool"
    pool_label = ""
    pool_help = ""  # under the pool field: what a pooled row hides
    distribution_help = ""
    mode_label = ""
    mode_skip = ""
    mode_update_only = ""
    keys_label = ""
    keys_choices: list[tuple[str, str]] = []
    keys_help = ""

    file = forms.FileField(
        label=_("File"),
        help_text=_(
            "Excel (.xlsx, .xls), WPS (.et), OpenDocument (.ods) or CSV (UTF-8, GB18030 or "
            "UTF-16). The sheet and the header row are found by their column names; you can "
            "correct the columns in the preview."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(ALLOWED_EXTENSIONS)}),
    )
    target = forms.ChoiceField(
        label=_("Import into"), widget=forms.RadioSelect, initial=TARGET_POOL
    )
    pool_group = SafeModelChoiceField(queryset=PoolGroup.objects.none(), required=False)
    users = UserMultipleChoiceField(
        label=_("Employees"), queryset=User.objects.none(), required=False
    )
    department = SafeModelChoiceField(
        label=_("Department"), queryset=Department.objects.none(), required=False
    )
    distribution = forms.ChoiceField(
        label=_("Distribution"),
        choices=[
            ("even", _("Even (take turns in file order)")),
            ("random", _("Random")),
        ],
        widget=forms.RadioSelect,
        initial="even",
    )
    owner_help = _(
        "Each row goes to the employee its owner column (负责人) names, by full name, "
        "username or mobile; rows whose owner is unknown, deactivated or outside your data "
        "scope are rejected with the reason."
    )
    duplicate_mode = forms.ChoiceField(widget=forms.RadioSelect, initial=MODES[0])
    duplicate_keys = forms.ChoiceField(widget=forms.RadioSelect, initial="either")

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        fields = self.fields
        fields["target"].choices = [
            (TARGET_POOL, self.pool_choice),
            (TARGET_USERS, _("Employees")),
            (TARGET_DEPARTMENT, _("A department")),
            (TARGET_OWNER, _("The owner column of the file")),
        ]
        fields["pool_group"].label = self.pool_label
        fields["pool_group"].queryset = PoolGroup.objects.filter(
            tenant_id=user.tenant_id, kind=self.pool_kind, is_enabled=True
        )
        fields["users"].queryset = User.tenant_objects.filter(
            tenant_id=user.tenant_id, is_active=True
        ).order_by("name")
        fields["department"].queryset = Department.objects.filter(tenant_id=user.tenant_id)
        fields["distribution"].help_text = self.distribution_help
        fields["duplicate_mode"].label = self.mode_label
        fields["duplicate_mode"].choices = [
            (MODES[0], self.mode_skip),
            (
                MODES[1],
                _(
                    "Overwrite it with the file's columns, import new ones too "
                    "(owner and pool are kept; an empty cell clears the field)"
                ),
            ),
            (MODES[2], self.mode_update_only),
        ]
        fields["duplicate_keys"].label = self.keys_label
        fields["duplicate_keys"].choices = self.keys_choices
        fields["duplicate_keys"].help_text = self.keys_help

    def options(self) -> dict:
        data = self.cleaned_data
        return {
            "target": data["target"],
            "pool_group": data["pool_group"].pk if data.get("pool_group") else None,
            "users": [u.pk for u in data.get("users") or []],
            "department": data["department"].pk if data.get("department") else None,
            "distribution": data["distribution"],
            "duplicate_mode": data["duplicate_mode"],
            "duplicate_keys": data["duplicate_keys"],
        }


class CustomerImportForm(ImportStartForm):
    pool_kind = "customer"
    page_title = _("Import customers")
    pool_choice = _("A public pool")
    pool_label = _("Pool group")
    pool_help = _(
        "Customers imported into a pool have no owner; the pool's hidden fields (contact "
        "phones by default) stay hidden until someone claims them."
    )
    distribution_help = _("How the customers are shared among several employees.")
    mode_label = _("When a customer already exists")
    mode_skip = _("Skip it (import only new customers)")
    mode_update_only = _("Only overwrite existing customers, create nothing new")
    keys_label = _("Same customer means")
    keys_choices = [
        ("either", _("Same name or same contact phone")),
        ("name", _("Same name")),
        ("phone", _("Same contact phone")),
    ]
    keys_help = _(
        "Names are compared ignoring case, spaces, brackets and full-width characters; the "
        "whole company is searched, the pools included, and the file itself."
    )
