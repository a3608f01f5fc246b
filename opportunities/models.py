"""Products (产品) with their categories, images and stock log; opportunities (商机) with their
stages, lines, contacts with roles, team and stage history (wave2.md §2, §3)."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_scopes import ScopedManager
from guardian.managers import UserObjectPermissionManager
from guardian.models import UserObjectPermissionBase

from crm.models import Department, Option, OwnedModel, User, random_file_name
from crm.tenancy import TenantModel, scoped_manager
from customers.models import Contact, Customer

# ---------------------------------------------------------------- products

MAX_CATEGORY_LEVEL = 4


class ProductCategory(TenantModel):
    """A node of the product tree (at most four levels). ``path`` is "/<id>/<id>/" from the
    root down to this node, so "this category and below" is one ``path__startswith``."""

    name = models.CharField(_("name"), max_length=64)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent category"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    level = models.PositiveSmallIntegerField(_("level"), default=1, editable=False)
    path = models.CharField(max_length=255, default="", editable=False)
    sort = models.IntegerField(_("sort order"), default=0)

    objects = scoped_manager()

    class Meta:
        verbose_name = _("product category")
        verbose_name_plural = _("product categories")
        ordering = ["sort", "name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "parent", "name"], name="prodcat_unique_name"
            ),
            models.UniqueConstraint(
                fields=["tenant", "name"],
                condition=Q(parent__isnull=True),
                name="prodcat_unique_root_name",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "path"], name="prodcat_path")]

    def __str__(self) -> str:
        return self.name


class Product(TenantModel):
    class Status(models.TextChoices):
        ON_SALE = "on_sale", _("On sale")
        OFF_SALE = "off_sale", _("Off sale")

    code = models.CharField(_("product code"), max_length=32, blank=True, default="")
    name = models.CharField(_("product name"), max_length=128)
    category = models.ForeignKey(
        ProductCategory,
        verbose_name=_("product category"),
        on_delete=models.PROTECT,
        related_name="products",
    )
    spec = models.CharField(_("specification"), max_length=64, blank=True, default="")
    brand = models.CharField(_("brand"), max_length=64, blank=True, default="")
    unit = models.CharField(_("unit"), max_length=16, blank=True, default="")
    price = models.DecimalField(_("standard price"), max_digits=14, decimal_places=2)
    stock = models.DecimalField(_("stock"), max_digits=12, decimal_places=2, default=Decimal(0))
    order_type = models.ForeignKey(
        Option,
        verbose_name=_("order type"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    is_vehicle = models.BooleanField(_("vehicle"), default=False)
    maintenance_interval_days = models.PositiveIntegerField(
        _("maintenance interval (days)"), null=True, blank=True
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ON_SALE
    )
    description = models.TextField(_("description"), blank=True, default="")
    created_by = models.ForeignKey(
        User,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = scoped_manager()

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "code"], condition=~Q(code=""), name="product_unique_code"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "status", "name"], name="product_status_name"),
            models.Index(fields=["tenant", "category"], name="product_category"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.spec}".strip()


def product_image_path(instance: ProductImage, filename: str) -> str:
    name = random_file_name(filename)
    return f"tenants/{instance.tenant_id}/products/{instance.product_id}/{name}"


class ProductImage(TenantModel):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="images")
    file = models.FileField(_("image"), upload_to=product_image_path, max_length=300)
    sort = models.IntegerField(_("sort order"), default=0)
    created_at = models.DateTimeField(default=timezone.now)

    objects = scoped_manager()

    class Meta:
        verbose_name = _("product image")
        verbose_name_plural = _("product images")
        ordering = ["sort", "id"]

    def __str__(self) -> str:
        return self.file.name


class ProductStockChange(TenantModel):
    """One change of a product's stock (edited by hand; later shipments and returns)."""

    class Reason(models.TextChoices):
        EDIT = "edit", _("Edited")
        SHIPMENT = "shipment", _("Shipment")
        RETURN = "return", pgettext_lazy("stock change", "Return")

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="stock_changes")
    old = models.DecimalField(_("old stock"), max_digits=12, decimal_places=2)
    new = models.DecimalField(_("new stock"), max_digits=12, decimal_places=2)
    reason = models.CharField(
        _("reason"), max_length=10, choices=Reason.choices, default=Reason.EDIT
    )
    note = models.CharField(_("note"), max_length=200, blank=True, default="")
    changed_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(_("changed at"), default=timezone.now)

    objects = scoped_manager()

    class Meta:
        verbose_name = _("stock change")
        verbose_name_plural = _("stock changes")
        ordering = ["-changed_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "product", "-changed_at"], name="prodstock_product")
        ]


# ---------------------------------------------------------------- stages and settings


class StageKind(models.TextChoices):
    OPEN = "open", _("In progress")
    WON = "won", _("Won")
    LOST = "lost", _("Lost")


class OpportunityStage(TenantModel):
    """A stage of the tenant's one pipeline. Exactly one won and one lost stage."""

    Kind = StageKind

    name = models.CharField(_("stage name"), max_length=32)
    probability = models.PositiveSmallIntegerField(
        _("win probability (%)"), validators=[MinValueValidator(0), MaxValueValidator(100)]
    )
    sort = models.IntegerField(_("sort order"), default=0)
    kind = models.CharField(
        _("stage type"), max_length=8, choices=StageKind.choices, default=StageKind.OPEN
    )
    allow_rollback_open = models.BooleanField(_("may move back to an earlier stage"), default=True)
    allow_reopen = models.BooleanField(_("may be reopened"), default=False)
    is_active = models.BooleanField(_("active"), default=True)

    objects = scoped_manager()

    class Meta:
        verbose_name = _("sales stage")
        verbose_name_plural = _("sales stages")
        ordering = ["sort", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="oppstage_unique_name"),
            models.UniqueConstraint(
                fields=["tenant"], condition=Q(kind="won"), name="oppstage_one_won"
            ),
            models.UniqueConstraint(
                fields=["tenant"], condition=Q(kind="lost"), name="oppstage_one_lost"
            ),
            models.CheckConstraint(
                condition=Q(probability__lte=100), name="oppstage_probability_range"
            ),
        ]
        indexes = [models.Index(fields=["tenant", "sort"], name="oppstage_sort")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_open(self) -> bool:
        return self.kind == StageKind.OPEN


# (name, probability, kind) of a new tenant's stages (wave2.md §3.2).
DEFAULT_STAGES = [
    ("初步接洽", 10, "open"),
    ("需求确定", 30, "open"),
    ("方案/报价", 50, "open"),
    ("谈判/合同", 80, "open"),
    ("赢单", 100, "won"),
    ("输单", 0, "lost"),
]


class OpportunitySettings(TenantModel):
    class StageMode(models.TextChoices):
        FREE = "free", _("Free: jump to any stage")
        STRICT = "strict", _("Strict: forward one stage at a time, back to any earlier one")

    stage_mode = models.CharField(
        _("stage mode"), max_length=8, choices=StageMode.choices, default=StageMode.FREE
    )
    probability_override = models.BooleanField(
        _("probability may be entered by hand"), default=False
    )

    objects = scoped_manager()

    class Meta:
        verbose_name = _("opportunity settings")
        verbose_name_plural = _("opportunity settings")
        constraints = [models.UniqueConstraint(fields=["tenant"], name="oppsettings_one")]

    def __str__(self) -> str:
        return str(_("opportunity settings"))


# ---------------------------------------------------------------- opportunities


class OpportunityQuerySet(models.QuerySet):
    def open(self) -> OpportunityQuerySet:
        return self.filter(status=StageKind.OPEN)

    def closed(self) -> OpportunityQuerySet:
        return self.exclude(status=StageKind.OPEN)


class Opportunity(OwnedModel):
    """A deal in the making (商机) on one customer."""

    Status = StageKind

    name = models.CharField(_("opportunity name"), max_length=128)
    customer = models.ForeignKey(
        Customer,
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="opportunities",
    )
    primary_contact = models.ForeignKey(
        Contact,
        verbose_name=_("primary contact"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    budget = models.DecimalField(
        _("customer budget"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    amount = models.DecimalField(
        _("expected amount"), max_digits=14, decimal_places=2, default=Decimal(0)
    )
    # The amount was entered by hand: the lines' total no longer rewrites it.
    amount_manual = models.BooleanField(_("amount entered by hand"), default=False)
    expected_close_date = models.DateField(_("expected close date"))
    stage = models.ForeignKey(
        OpportunityStage,
        verbose_name=_("sales stage"),
        on_delete=models.PROTECT,
        related_name="opportunities",
    )
    probability = models.PositiveSmallIntegerField(
        _("win probability (%)"), validators=[MinValueValidator(0), MaxValueValidator(100)]
    )
    commit = models.BooleanField(_("committed"), default=False)
    status = models.CharField(
        _("status"), max_length=8, choices=StageKind.choices, default=StageKind.OPEN
    )
    stage_entered_at = models.DateTimeField(_("in this stage since"), default=timezone.now)
    closed_date = models.DateField(_("closed on"), null=True, blank=True)
    lost_reason = models.ForeignKey(
        Option,
        verbose_name=_("lost reason"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    lost_note = models.TextField(_("lost note"), blank=True, default="")
    next_followup_at = models.DateTimeField(_("next follow-up"), null=True, blank=True)
    last_followup_at = models.DateTimeField(_("last follow-up"), null=True, blank=True)
    owner_department = models.ForeignKey(
        Department,
        verbose_name=_("owner's department"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    remark = models.TextField(_("remark"), blank=True, default="")
    participants = models.ManyToManyField(
        User,
        through="OpportunityParticipant",
        through_fields=("opportunity", "user"),
        related_name="+",
        verbose_name=_("team members"),
    )

    objects = scoped_manager(OpportunityQuerySet)

    class Meta:
        verbose_name = _("opportunity")
        verbose_name_plural = _("opportunities")
        ordering = ["-created_at", "-id"]
        permissions = []  # "change_opportunity" is the object-level edit grant (team editors)
        indexes = [
            # PERF (bench/opportunities.py): the kanban's columns are walks of 50 entries in
            # the order of the card (expected close, id), of the tenant or of one owner; an
            # owner's work lists 本月预计成交 / 7天未跟进 and capped counts read their index
            # alone (the columns they test are in it).
            models.Index(
                fields=["tenant", "owner", "status", "expected_close_date"],
                name="opp_owner_status_close",
            ),
            models.Index(
                fields=["tenant", "owner", "status", "last_followup_at", "created_at"],
                name="opp_owner_stale",
            ),
            models.Index(
                fields=["tenant", "stage", "expected_close_date", "id"], name="opp_stage_close"
            ),
            models.Index(
                fields=["tenant", "owner", "stage", "expected_close_date", "id"],
                name="opp_owner_stage_close",
            ),
            # 赢单 / 输单 columns: what closed in the last 30 days, ranked without the table.
            models.Index(
                fields=["tenant", "stage", "closed_date"],
                include=["expected_close_date", "owner", "id", "status"],
                name="opp_stage_closed",
            ),
            models.Index(fields=["tenant", "customer"], name="opp_customer"),
            models.Index(
                fields=["tenant", "status", "expected_close_date"], name="opp_status_close"
            ),
            # The kanban's column sums read these alone (views.kanban._column_sums).
            models.Index(
                fields=["tenant", "closed_date"],
                include=["status", "stage", "owner", "amount", "probability"],
                name="opp_closed",
            ),
            models.Index(
                fields=["tenant", "status", "owner", "stage"],
                include=["amount", "probability"],
                name="opp_status_sums",
            ),
            models.Index(fields=["tenant", "-created_at", "-id"], name="opp_created"),
            models.Index(fields=["tenant", "last_followup_at"], name="opp_last_follow"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(probability__lte=100), name="opp_probability_range"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_open(self) -> bool:
        return self.status == StageKind.OPEN

    @property
    def weighted_amount(self) -> Decimal:
        return (self.amount * self.probability / Decimal(100)).quantize(Decimal("0.01"))

    def days_in_stage(self) -> int:
        return (timezone.now() - self.stage_entered_at).days


class OpportunityParticipant(TenantModel):
    """A team member on the opportunity (我参与的). Edit rights are a django-guardian grant
    (``opportunities.change_opportunity`` on it), given by crm.participants."""

    opportunity = models.ForeignKey(Opportunity, on_delete=models.CASCADE)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    added_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    objects = scoped_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "opportunity", "user"], name="oppparticipant_unique"
            )
        ]
        indexes = [models.Index(fields=["tenant", "user"], name="oppparticipant_user")]


class OpportunityUserObjectPermission(UserObjectPermissionBase):
    """django-guardian's direct foreign-key table for opportunities, with the tenant."""

    content_object = models.ForeignKey(Opportunity, on_delete=models.CASCADE)
    tenant = models.ForeignKey("crm.Tenant", on_delete=models.PROTECT, related_name="+")

    objects = ScopedManager(tenant="tenant", _manager_class=UserObjectPermissionManager)

    class Meta(UserObjectPermissionBase.Meta):
        unique_together = []
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "user", "permission", "content_object"],
                name="opportunity_objperm_unique",
            )
        ]


class OpportunityLine(TenantModel):
    """A product on the opportunity (意向产品). name and spec are snapshots of the product."""

    opportunity = models.ForeignKey(Opportunity, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(
        Product, verbose_name=_("product"), on_delete=models.PROTECT, related_name="+"
    )
    name = models.CharField(_("product name"), max_length=128)
    spec = models.CharField(_("specification"), max_length=64, blank=True, default="")
    qty = models.DecimalField(_("quantity"), max_digits=12, decimal_places=2)
    list_price = models.DecimalField(_("list price"), max_digits=14, decimal_places=2)
    unit_price = models.DecimalField(_("sale price"), max_digits=14, decimal_places=2)
    discount_pct = models.DecimalField(
        _("discount (%)"), max_digits=5, decimal_places=2, default=Decimal(0)
    )
    subtotal = models.DecimalField(_("subtotal"), max_digits=14, decimal_places=2)
    remark = models.CharField(_("remark"), max_length=200, blank=True, default="")
    sort = models.IntegerField(default=0)

    objects = scoped_manager()

    class Meta:
        verbose_name = _("opportunity product")
        verbose_name_plural = _("opportunity products")
        ordering = ["sort", "id"]
        indexes = [models.Index(fields=["tenant", "product"], name="oppline_product")]

    def __str__(self) -> str:
        return self.name


class OpportunityContact(TenantModel):
    """A contact of the customer with their role in this deal (决策链)."""

    opportunity = models.ForeignKey(
        Opportunity, on_delete=models.CASCADE, related_name="contact_roles"
    )
    contact = models.ForeignKey(
        Contact, verbose_name=_("contact"), on_delete=models.CASCADE, related_name="+"
    )
    role = models.ForeignKey(
        Option,
        verbose_name=_("role"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    is_primary = models.BooleanField(_("primary contact"), default=False)
    remark = models.CharField(_("remark"), max_length=200, blank=True, default="")

    objects = scoped_manager()

    class Meta:
        verbose_name = _("opportunity contact")
        verbose_name_plural = _("opportunity contacts")
        ordering = ["-is_primary", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "opportunity", "contact"], name="oppcontact_unique"
            )
        ]
        indexes = [models.Index(fields=["tenant", "contact"], name="oppcontact_contact")]


class OpportunityStageChange(TenantModel):
    """One stage change (create, move, win, lose, reopen): dwell times, inflow, conversion."""

    opportunity = models.ForeignKey(
        Opportunity, on_delete=models.CASCADE, related_name="stage_changes"
    )
    from_stage = models.ForeignKey(
        OpportunityStage,
        verbose_name=_("from stage"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    to_stage = models.ForeignKey(
        OpportunityStage, verbose_name=_("to stage"), on_delete=models.PROTECT, related_name="+"
    )
    changed_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(_("changed at"), default=timezone.now)
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    probability = models.PositiveSmallIntegerField(_("win probability (%)"))
    note = models.TextField(_("note"), blank=True, default="")

    objects = scoped_manager()

    class Meta:
        verbose_name = _("stage change")
        verbose_name_plural = _("stage changes")
        ordering = ["changed_at", "id"]
        indexes = [
            models.Index(
                fields=["tenant", "opportunity", "changed_at"], name="oppchange_opportunity"
            ),
            models.Index(fields=["tenant", "changed_at"], name="oppchange_changed"),
        ]
