"""Leads (线索), their pool, campaigns, automatic assignment rules and ownership events
(DESIGN §6, issue 6).

A lead lies either with an owner or in a lead pool group (``pool_group`` of kind ``lead``,
``pooled_at`` set, no owner), exactly as a customer lies in the public pool: the pool
machinery in ``pools`` works on both through the same field names (``owner``,
``pool_group``, ``pooled_at``, ``pool_reason``, ``pool_note``, ``previous_owner``,
``owned_since``, ``last_followup_at``; declared once by ``pools.models.PooledModel``).
Follow-ups and files on leads are ``customers.FollowUp`` / ``customers.Attachment`` rows whose
record is the lead (``customers.owned``: the same model and form as customer follow-ups).
"""

from __future__ import annotations

from django.contrib.contenttypes.fields import GenericRelation
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import ImportJob, Option, OwnedModel, User
from crm.tenancy import TenantModel, scoped_manager
from customers.models import Customer, normalize_name
from pools.models import PooledModel, pool_labels


class Campaign(TenantModel):
    """A marketing activity (市场活动) leads come from, with its cost and dates."""

    name = models.CharField(_("name"), max_length=100)
    cost = models.DecimalField(_("cost"), max_digits=14, decimal_places=2, default=0)
    starts_on = models.DateField(_("starts on"), null=True, blank=True)
    ends_on = models.DateField(_("ends on"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    remark = models.CharField(_("remark"), max_length=500, blank=True, default="")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    objects = scoped_manager()

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-is_active", "-starts_on", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="campaign_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class LeadQuerySet(models.QuerySet):
    def in_pool(self) -> LeadQuerySet:
        return self.filter(pooled_at__isnull=False)

    def outside_pool(self) -> LeadQuerySet:
        return self.filter(pooled_at__isnull=True)

    def open(self) -> LeadQuerySet:
        """Leads still being worked (not closed, not converted)."""
        return self.filter(status__in=[Lead.Status.NEW, Lead.Status.CONTACTED])


LEAD_LISTED = Q(pooled_at__isnull=True)


class Lead(PooledModel, OwnedModel):
    """A sales lead: a person at a company who might buy, not yet a customer."""

    pool_kind = "lead"  # its groups are lead pools (PoolGroup.Kind.LEAD)

    # The follow-ups and files whose record is the lead (no column: deleting a lead deletes
    # them, as a foreign key would).
    followups = GenericRelation(
        "customers.FollowUp", content_type_field="record_type", object_id_field="record_id"
    )
    attachments = GenericRelation(
        "customers.Attachment", content_type_field="record_type", object_id_field="record_id"
    )

    class Status(models.TextChoices):
        NEW = "new", _("New")
        CONTACTED = "contacted", _("Contacted")
        CLOSED = "closed", _("Closed")
        CONVERTED = "converted", _("Converted")

    name = models.CharField(_("contact person"), max_length=50)
    company = models.CharField(_("company"), max_length=200, blank=True, default="")
    company_normalized = models.CharField(max_length=200, editable=False, default="")
    mobile = models.CharField(_("mobile"), max_length=20, blank=True, default="")
    phone = models.CharField(_("telephone"), max_length=30, blank=True, default="")
    email = models.EmailField(_("email"), blank=True, default="")
    title = models.CharField(_("job title"), max_length=50, blank=True, default="")
    source = models.ForeignKey(
        Option,
        verbose_name=_("source"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="leads",
    )
    province = models.CharField(_("province"), max_length=20, blank=True, default="")
    city = models.CharField(_("city"), max_length=20, blank=True, default="")
    district = models.CharField(_("district"), max_length=20, blank=True, default="")
    address = models.CharField(_("address"), max_length=200, blank=True, default="")
    remark = models.TextField(_("remark"), blank=True, default="")
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.NEW
    )
    close_reason = models.ForeignKey(
        Option,
        verbose_name=_("close reason"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    close_note = models.CharField(_("close note"), max_length=500, blank=True, default="")
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    last_followup_at = models.DateTimeField(_("last follow-up"), null=True, blank=True)
    next_followup_at = models.DateTimeField(_("next follow-up"), null=True, blank=True)
    # Pool state: the PooledModel columns, with the same meaning as on customers.Customer.
    # Conversion (转为客户): the customer it became or was merged into.
    customer = models.ForeignKey(
        Customer,
        verbose_name=_("converted to"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="leads",
    )
    # The opportunity the conversion created with the customer (转为客户 + 同时创建商机). The
    # key lives on the lead: leads sit above opportunities in the layers (wave2.md §3.1's
    # source_lead).
    converted_opportunity = models.ForeignKey(
        "opportunities.Opportunity",
        verbose_name=_("opportunity created"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    converted_at = models.DateTimeField(_("converted at"), null=True, blank=True)
    converted_by = models.ForeignKey(
        User,
        verbose_name=_("converted by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    import_job = models.ForeignKey(
        ImportJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = scoped_manager(LeadQuerySet)

    class Meta:
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        ordering = ["-created_at", "-id"]
        indexes = [
            # PERF: the lists sort inside one tenant; keys match the sorts offered.
            models.Index(
                fields=["tenant", "owner", "-created_at", "-id"],
                name="lead_owner_created",
                condition=LEAD_LISTED,
            ),
            models.Index(
                fields=["tenant", "-created_at", "-id"],
                name="lead_created",
                condition=LEAD_LISTED,
            ),
            models.Index(
                fields=["tenant", "next_followup_at", "owner"],
                name="lead_next_follow",
                condition=LEAD_LISTED,
            ),
            models.Index(fields=["tenant", "company_normalized"], name="lead_company_norm"),
            models.Index(fields=["tenant", "mobile"], name="lead_mobile"),
            models.Index(fields=["tenant", "status", "created_at"], name="lead_status_created"),
            models.Index(fields=["tenant", "campaign", "created_at"], name="lead_campaign"),
            # The lead pool list and recycling, as for customers.
            models.Index(
                fields=["tenant", "pool_group", "-pooled_at", "-id"],
                name="lead_pool_group",
                condition=Q(pooled_at__isnull=False),
            ),
            models.Index(
                fields=["tenant", "pool_group", "owned_since"],
                name="lead_pool_owned",
                condition=Q(owner__isnull=False),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(pooled_at__isnull=True) | Q(owner__isnull=True),
                name="lead_pooled_has_no_owner",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.company} {self.name}".strip() if self.company else self.name

    def save(self, *args, **kwargs):
        self.company_normalized = normalize_name(self.company)
        super().save(*args, **kwargs)

    @property
    def in_pool(self) -> bool:
        return self.pooled_at is not None

    @property
    def is_converted(self) -> bool:
        return self.status == self.Status.CONVERTED

    @property
    def is_read_only(self) -> bool:
        """A converted lead is kept as it was (its history lives on the customer)."""
        return self.is_converted


pool_labels(
    Lead,
    pool_group=_("lead pool"),
    pooled_at=_("in the lead pool since"),
    pool_reason=_("why it is in the lead pool"),
)


class LeadEvent(TenantModel):
    """Every change of a lead's owner (the lead's counterpart of customers.OwnershipEvent):
    the pool's daily claim limits and the assignment rules' daily bounds count these."""

    class Kind(models.TextChoices):
        CREATED = "created", _("Created manually")
        CLAIMED = "claimed", _("Claimed from the lead pool")
        ASSIGNED = "assigned", _("Assigned from the lead pool")
        AUTO_ASSIGNED = "auto_assigned", _("Assigned by a rule")
        TRANSFERRED = "transferred", _("Transferred")
        IMPORTED = "imported", _("Imported")
        RETURNED = "returned", _("Returned to the lead pool")
        RECYCLED = "recycled", _("Recycled into the lead pool")
        MOVED = "moved", _("Moved between lead pools")
        CONVERTED = "converted", _("Converted to a customer")

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    from_user = models.ForeignKey(
        User,
        verbose_name=_("from"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    to_user = models.ForeignKey(
        User,
        verbose_name=_("to"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    actor = models.ForeignKey(
        User,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    note = models.CharField(_("note"), max_length=500, blank=True, default="")
    pool_group = models.ForeignKey(
        "pools.PoolGroup",
        verbose_name=_("lead pool"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    rule = models.ForeignKey(
        "leads.AssignmentRule",
        verbose_name=_("assignment rule"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    objects = scoped_manager()

    class Meta:
        verbose_name = _("lead event")
        verbose_name_plural = _("lead events")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "lead", "-created_at"], name="leadevent_lead"),
            models.Index(fields=["tenant", "to_user", "kind", "created_at"], name="leadevent_to"),
            models.Index(fields=["tenant", "rule", "created_at"], name="leadevent_rule"),
        ]


class AssignmentRule(TenantModel):
    """线索自动分配: leads matching every condition set here go to the rule's users in turn.

    Rules are tried in ``sort_order``; the first whose conditions match and that has a user
    able to take the lead (active, under the daily bound and the holding limit) wins. An
    empty condition matches anything.
    """

    name = models.CharField(_("name"), max_length=50)
    sort_order = models.PositiveIntegerField(_("sort order"), default=0)
    is_enabled = models.BooleanField(_("enabled"), default=True)
    # Conditions (empty = any).
    source = models.ForeignKey(
        Option,
        verbose_name=_("source"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    province = models.CharField(_("province"), max_length=20, blank=True, default="")
    city = models.CharField(_("city"), max_length=20, blank=True, default="")
    pool_group = models.ForeignKey(
        "pools.PoolGroup",
        verbose_name=_("lead pool"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Only leads lying in this pool (empty: any pool, and new leads)."),
    )
    # When it applies.
    on_create = models.BooleanField(_("new leads"), default=True)
    on_import = models.BooleanField(_("imported leads"), default=True)
    on_return = models.BooleanField(_("returned leads"), default=True)
    periodic = models.BooleanField(_("leads left in a pool (periodic job)"), default=True)
    # Bounds.
    daily_limit = models.PositiveIntegerField(
        _("per user per day"), default=0, help_text=_("0 means no limit.")
    )
    holding_limit = models.PositiveIntegerField(
        _("holding limit per user"),
        default=0,
        help_text=_("Skip users who already own this many open leads; 0 means no limit."),
    )
    users = models.ManyToManyField(
        User, through="AssignmentRuleUser", related_name="+", verbose_name=_("users")
    )
    # Round robin: the position after the user who got the last lead (where the next
    # turn starts; 0 = the first user).
    cursor = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    objects = scoped_manager()

    class Meta:
        verbose_name = _("assignment rule")
        verbose_name_plural = _("assignment rules")
        ordering = ["sort_order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="assignrule_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class AssignmentRuleUser(TenantModel):
    """One user of an assignment rule, in turn order."""

    rule = models.ForeignKey(AssignmentRule, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField(default=0)

    objects = scoped_manager()

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "rule", "user"], name="assignruleuser_unique"
            ),
        ]


class LeadImportChange(TenantModel):
    """What an import overwrote on an existing lead, for 撤销导入 (undo): the field values
    before and when the import wrote them (a later change of the lead blocks the undo)."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="+")
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="+")
    row = models.PositiveIntegerField()
    before = models.JSONField(default=dict)
    written_at = models.DateTimeField(default=timezone.now)

    objects = scoped_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "job", "row"], name="leadimportchange_row")
        ]
        indexes = [models.Index(fields=["tenant", "job"], name="leadimportchange_job")]
