"""Public pool (公海) groups and their rules (DESIGN §7).

A customer always belongs to one pool group (``Customer.pool_group``, its 所属公海): while it
has an owner the group's recycling rules apply to it; while it is in the pool
(``Customer.pooled_at`` set, no owner) the group's members see it and may claim it.
"""

from __future__ import annotations

from django.contrib.contenttypes.fields import GenericForeignKey, GenericRelation
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import Department, Option, User
from crm.tenancy import TenantModel, scoped_manager

# What a group may hide while a customer is in its pool (seed 001: 联系方式默认隐藏).
HIDDEN_FIELD_CHOICES = [
    ("contact_phones", _("Contacts' mobile and phone numbers")),
    ("contact_emails", _("Contacts' e-mail addresses")),
    ("address", _("Address and coordinates")),
    ("legal_representative", _("Legal representative")),
    ("credit_code", _("Unified social credit code")),
    ("bank", _("Bank and account")),
    ("remark", _("Remark")),
]
DEFAULT_HIDDEN_FIELDS = ["contact_phones", "contact_emails"]
HIDDEN_FIELD_KEYS = {key for key, _label in HIDDEN_FIELD_CHOICES}
# A lead pool hides the lead's own fields; the keys mean the same thing as for customers
# (so the default, phones and e-mail, fits both kinds).
LEAD_HIDDEN_FIELD_CHOICES = [
    ("contact_phones", _("Mobile and phone numbers")),
    ("contact_emails", _("E-mail address")),
    ("address", _("Address")),
    ("remark", _("Remark")),
]
HIDDEN_FIELD_CHOICES_BY_KIND = {"customer": HIDDEN_FIELD_CHOICES, "lead": LEAD_HIDDEN_FIELD_CHOICES}
HIDDEN_FIELD_KEYS_BY_KIND = {
    kind: {key for key, _label in choices} for kind, choices in HIDDEN_FIELD_CHOICES_BY_KIND.items()
}


def default_hidden_fields() -> list[str]:
    return list(DEFAULT_HIDDEN_FIELDS)


class PoolReason(models.TextChoices):
    """Why a row lies in the pool (shown in the pool lists)."""

    RETURNED = "returned", _("Returned by its owner")
    RECYCLED_FOLLOWUP = "recycled_followup", _("No follow-up")
    RECYCLED_DEAL = "recycled_deal", _("No deal")
    RECYCLED_OPPORTUNITY = "recycled_oppty", _("No new opportunity")
    IMPORTED = "imported", _("Imported into the pool")
    CREATED = "created", _("Created in the pool")
    INITIALIZED = "initialized", _("Put into the pool when pool groups were initialised")


class PooledModel(models.Model):
    """The pool state of a pooled record (customers in the public pool, leads in a lead pool),
    declared once: the pool engine (``pools.services``, ``pools.recycling``) reads and writes
    exactly these columns, whatever the model.

    ``pool_group`` is the row's group at all times (所属公海: its recycling rules apply while
    someone owns it); ``pooled_at`` is set while the row lies in that group's pool, without an
    owner. A concrete model names its kind (``pool_kind``, a ``PoolGroup.Kind`` value) and has
    an ``owner``; its pool subject (``pools.subjects``) says what else differs.
    """

    #: The PoolGroup.Kind whose groups hold rows of this model.
    pool_kind: str = ""

    pool_group = models.ForeignKey(
        "pools.PoolGroup",
        verbose_name=_("pool group"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    pooled_at = models.DateTimeField(_("in the pool since"), null=True, blank=True)
    pool_reason = models.CharField(
        _("why it is in the pool"),
        max_length=20,
        choices=PoolReason.choices,
        blank=True,
        default="",
    )
    pool_reason_days = models.PositiveIntegerField(null=True, blank=True)
    pool_note = models.CharField(_("return reason"), max_length=500, blank=True, default="")
    previous_owner = models.ForeignKey(
        User,
        verbose_name=_("previous owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    owned_since = models.DateTimeField(_("owned since"), null=True, blank=True)
    # The warnings sent before recycling the row (no column: deleting the row deletes them).
    recycle_warnings = GenericRelation(
        "pools.RecycleWarning", content_type_field="record_type", object_id_field="record_id"
    )

    class Meta:
        abstract = True

    @classmethod
    def visible_in_pool_q(cls, user) -> Q:
        """Rows ``user`` sees as a member of a pool group of the model's kind
        (crm.visibility picks this up)."""
        from pools.selectors import member_group_ids

        ids = member_group_ids(user, cls.pool_kind)
        if ids is None:
            return Q(pooled_at__isnull=False)
        return Q(pooled_at__isnull=False, pool_group_id__in=ids) if ids else Q(pk__in=[])


def pool_labels(model: type[PooledModel], **labels) -> None:
    """Give a pooled model's pool columns its own words (a lead lies in a 线索池, not in the
    公海): ``pool_labels(Lead, pool_group=_("lead pool"))``. Only labels change; the columns
    stay those of ``PooledModel``."""
    for name, label in labels.items():
        field = model._meta.get_field(name)
        # Field keeps the label it was declared with in _verbose_name for its deconstruction
        # (migrations): both change, so the migration state matches the model.
        field.verbose_name = field._verbose_name = label


class PoolGroup(TenantModel):
    """One pool group (公海分组) with its members, admins and rules."""

    class Kind(models.TextChoices):
        CUSTOMER = "customer", _("Customer pool")
        LEAD = "lead", _("Lead pool")

    class ClaimMode(models.TextChoices):
        SELF = "self", _("Members claim customers themselves")
        ADMIN = "admin", _("Only pool admins assign customers")

    # What lies in it: customers (公海) or leads (线索池); the same rules and machinery.
    kind = models.CharField(_("pool of"), max_length=8, choices=Kind.choices, default=Kind.CUSTOMER)
    name = models.CharField(_("name"), max_length=50)
    is_default = models.BooleanField(
        _("default pool"),
        default=False,
        help_text=_("New customers and customers without a group belong to it."),
    )
    is_enabled = models.BooleanField(_("enabled"), default=True)
    open_to_all = models.BooleanField(
        _("every member of the company"),
        default=False,
        help_text=_("Every user is a member, whatever the departments and users chosen."),
    )
    sort_order = models.PositiveIntegerField(_("sort order"), default=0)
    claim_mode = models.CharField(
        _("claim mode"), max_length=8, choices=ClaimMode.choices, default=ClaimMode.SELF
    )
    daily_claim_limit = models.PositiveIntegerField(
        _("daily claim limit per rep"), default=0, help_text=_("0 means no limit.")
    )
    holding_limit = models.PositiveIntegerField(
        _("holding limit per rep"),
        default=0,
        help_text=_("How many customers a rep may own after a claim; 0 means no limit."),
    )
    holding_counts_signed = models.BooleanField(
        _("signed customers count towards the holding limit"), default=False
    )
    cooldown_days = models.PositiveIntegerField(
        _("former owner cool-down (days)"),
        default=0,
        help_text=_(
            "A rep cannot claim back a customer they returned, or that was recycled from "
            "them, for this many days; 0 means no cool-down."
        ),
    )
    recycle_no_followup_days = models.PositiveIntegerField(
        _("recycle after days without a follow-up"),
        null=True,
        blank=True,
        help_text=_("Empty: never recycle for missing follow-ups."),
    )
    recycle_no_deal_days = models.PositiveIntegerField(
        _("recycle after days without a deal"),
        null=True,
        blank=True,
        help_text=_("Empty: never recycle for a missing deal."),
    )
    # Days without a new opportunity (悟空's rule type 2): counted from the later of the
    # ownership start and the customer's newest opportunity, which the opportunities app
    # dates (pools.hooks.register_activity_date("opportunity", ...)).
    recycle_no_opportunity_days = models.PositiveIntegerField(
        _("recycle after days without a new opportunity"),
        null=True,
        blank=True,
        help_text=_("Empty: never recycle for missing new opportunities."),
    )
    exempt_signed = models.BooleanField(_("signed customers are never recycled"), default=True)
    exempt_with_opportunity = models.BooleanField(
        _("customers with an open opportunity are never recycled"), default=True
    )
    exempt_locked = models.BooleanField(_("locked customers are never recycled"), default=True)
    warn_days = models.PositiveIntegerField(
        _("warn days before recycling"),
        default=3,
        help_text=_("The owner is notified this many days ahead; 0 means no warning."),
    )
    hidden_fields = models.JSONField(
        _("fields hidden while in the pool"), default=default_hidden_fields, blank=True
    )
    allow_return_elsewhere = models.BooleanField(
        _("members may return customers into another group"), default=False
    )
    departments = models.ManyToManyField(
        Department,
        through="PoolGroupDepartment",
        related_name="+",
        verbose_name=_("member departments"),
        blank=True,
    )
    users = models.ManyToManyField(
        User,
        through="PoolGroupUser",
        related_name="+",
        verbose_name=_("members"),
        blank=True,
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    objects = scoped_manager()

    class Meta:
        verbose_name = _("pool group")
        verbose_name_plural = _("pool groups")
        ordering = ["-is_default", "sort_order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="poolgroup_unique_name"),
            models.UniqueConstraint(
                fields=["tenant", "kind"],
                condition=Q(is_default=True),
                name="poolgroup_one_default_kind",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def recycles(self) -> bool:
        own = (
            self.recycle_no_followup_days
            or self.recycle_no_deal_days
            or self.recycle_no_opportunity_days
        )
        return bool(own) or any(
            r.no_followup_days or r.no_deal_days or r.no_opportunity_days
            for r in self.level_rules.all()
        )


class PoolGroupDepartment(TenantModel):
    """A member department: its users and those of every department below it."""

    group = models.ForeignKey(
        PoolGroup, on_delete=models.CASCADE, related_name="member_departments"
    )
    department = models.ForeignKey(Department, on_delete=models.CASCADE, related_name="+")

    objects = scoped_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "group", "department"], name="pooldept_unique"
            ),
        ]


class PoolGroupUser(TenantModel):
    """A member user; ``is_admin`` makes them a pool admin of the group (assign, move)."""

    group = models.ForeignKey(PoolGroup, on_delete=models.CASCADE, related_name="member_users")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    is_admin = models.BooleanField(_("pool admin"), default=False)

    objects = scoped_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "group", "user"], name="pooluser_unique"),
        ]
        indexes = [models.Index(fields=["tenant", "user"], name="pooluser_user")]


class PoolLevelRule(TenantModel):
    """Recycling days for one customer level, replacing the group's (seed: 按客户级别)."""

    group = models.ForeignKey(PoolGroup, on_delete=models.CASCADE, related_name="level_rules")
    level = models.ForeignKey(
        Option, verbose_name=_("customer level"), on_delete=models.CASCADE, related_name="+"
    )
    no_followup_days = models.PositiveIntegerField(
        _("days without a follow-up"),
        null=True,
        blank=True,
        help_text=_("Empty: never recycle customers of this level for missing follow-ups."),
    )
    no_deal_days = models.PositiveIntegerField(
        _("days without a deal"),
        null=True,
        blank=True,
        help_text=_("Empty: never recycle customers of this level for a missing deal."),
    )
    no_opportunity_days = models.PositiveIntegerField(
        _("days without a new opportunity"),
        null=True,
        blank=True,
        help_text=_("Empty: never recycle customers of this level for missing new opportunities."),
    )

    objects = scoped_manager()

    class Meta:
        verbose_name = _("level rule")
        verbose_name_plural = _("level rules")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "group", "level"], name="poollevel_unique"),
        ]


class RecycleWarning(TenantModel):
    """One warning sent for one pooled row (a customer, a lead…: ``record``, any pooled
    model) and one recycle date: never twice for the same. The engine names no model of a
    higher app: the row is a content type and an id, and the pooled models delete their
    warnings with them (a ``GenericRelation`` on each)."""

    record_type = models.ForeignKey(
        ContentType, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    record_id = models.PositiveBigIntegerField()
    record = GenericForeignKey("record_type", "record_id")
    recycle_on = models.DateField()
    owner = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    objects = scoped_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "record_type", "record_id", "recycle_on"],
                name="recyclewarning_unique_record",
            ),
        ]
