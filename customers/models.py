"""Customers (客户), their contacts, follow-ups, tags, stars, participants, attachments,
ownership events and saved searches."""

from __future__ import annotations

import re
import unicodedata

from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_scopes import ScopedManager
from guardian.managers import UserObjectPermissionManager
from guardian.models import UserObjectPermissionBase

from crm.models import Option, OwnedModel, User, random_file_name
from crm.tenancy import TenantModel, scoped_manager, tenant_key_without_index
from pools.models import PooledModel, PoolReason

__all__ = ["PoolReason"]  # re-exported: the pool reasons of customers are the pool's

_NAME_NOISE = re.compile(r"[\s()（）\[\]【】.,，。·\-_/]+")


def normalize_name(name: str) -> str:
    """The name as the duplicate check compares it: full-width folded, case and
    punctuation ignored ("Ａ公司（上海）" == "a公司上海")."""
    folded = unicodedata.normalize("NFKC", name or "").lower()
    return _NAME_NOISE.sub("", folded)


def normalize_names(names: list[str]) -> list[str]:
    """``[normalize_name(n) for n in names]``. PERF: imports fold 100,000 names. NFKC runs
    on the names that need it (on all of them at once it takes the slow path for all), then
    the names are lowered and stripped as one string, split again at NULs (which NFKC,
    lower() and the noise pattern leave alone, and which no cleaned name holds)."""
    joined = "\x00".join(
        name if unicodedata.is_normalized("NFKC", name) else unicodedata.normalize("NFKC", name)
        for name in names
    )
    parts = _NAME_NOISE.sub("", joined.lower()).split("\x00")
    if len(parts) != len(names):  # a name held a NUL
        return [normalize_name(name) for name in names]
    return parts


class Tag(TenantModel):
    name = models.CharField(_("name"), max_length=30)
    color = models.CharField(_("colour"), max_length=7, default="#0e7c86")

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="tag_unique_name")]

    def __str__(self) -> str:
        return self.name


class CustomerQuerySet(models.QuerySet):
    def in_pool(self) -> CustomerQuerySet:
        return self.filter(deleted_at__isnull=True, pooled_at__isnull=False)

    def alive(self) -> CustomerQuerySet:
        return self.filter(deleted_at__isnull=True)

    def outside_pool(self) -> CustomerQuerySet:
        """Live customers that are not lying in a pool (what the customer lists show)."""
        return self.filter(deleted_at__isnull=True, pooled_at__isnull=True)

    def in_bin(self) -> CustomerQuerySet:
        return self.filter(deleted_at__isnull=False)


# The rows the customer lists show (alive, not lying in a pool): the list indexes hold these.
LISTED = Q(deleted_at__isnull=True, pooled_at__isnull=True)


class Customer(PooledModel, OwnedModel):
    """A company the team sells to. An empty owner means nobody is responsible for it."""

    pool_kind = "customer"  # its groups are the public pool's (PoolGroup.Kind.CUSTOMER)

    class Lifecycle(models.TextChoices):
        DEVELOPMENT = "development", _("Development customer")
        SIGNED = "signed", _("Signed customer")

    class DealStatus(models.TextChoices):
        NONE = "none", _("No deal yet")
        DEAL = "deal", _("Deal made")

    class Visibility(models.TextChoices):
        PRIVATE = "private", _("Private: owner, participants and managers")
        PUBLIC = "public", _("Public: every member may open it")

    name = models.CharField(_("customer name"), max_length=200)
    name_normalized = models.CharField(max_length=200, editable=False, default="")
    legal_representative = models.CharField(
        _("legal representative / operator"), max_length=50, blank=True, default=""
    )
    credit_code = models.CharField(
        _("unified social credit code"), max_length=18, blank=True, default=""
    )
    bank_name = models.CharField(_("bank"), max_length=100, blank=True, default="")
    bank_account = models.CharField(_("bank account"), max_length=40, blank=True, default="")
    industry = models.ForeignKey(
        Option,
        verbose_name=_("industry"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    products = models.CharField(_("products"), max_length=200, blank=True, default="")
    raw_materials = models.CharField(_("raw materials"), max_length=200, blank=True, default="")
    province = models.CharField(_("province"), max_length=20, blank=True, default="")
    city = models.CharField(_("city"), max_length=20, blank=True, default="")
    district = models.CharField(_("district"), max_length=20, blank=True, default="")
    address = models.CharField(_("address"), max_length=200, blank=True, default="")
    longitude = models.DecimalField(
        _("longitude"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    latitude = models.DecimalField(
        _("latitude"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    level = models.ForeignKey(
        Option,
        verbose_name=_("level"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    source = models.ForeignKey(
        Option,
        verbose_name=_("source"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    status = models.ForeignKey(
        Option,
        verbose_name=_("customer status"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    referrer = models.ForeignKey(
        User,
        verbose_name=_("referrer"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    remark = models.TextField(_("remark"), blank=True, default="")
    visibility = models.CharField(
        _("visibility"), max_length=10, choices=Visibility.choices, default=Visibility.PRIVATE
    )
    is_locked = models.BooleanField(_("locked"), default=False)
    lifecycle = models.CharField(
        _("lifecycle"), max_length=12, choices=Lifecycle.choices, default=Lifecycle.DEVELOPMENT
    )
    deal_status = models.CharField(
        _("deal status"), max_length=8, choices=DealStatus.choices, default=DealStatus.NONE
    )
    signed_at = models.DateTimeField(_("signed at"), null=True, blank=True)
    last_followup_at = models.DateTimeField(_("last follow-up"), null=True, blank=True)
    next_followup_at = models.DateTimeField(_("next follow-up"), null=True, blank=True)
    tags = models.ManyToManyField(
        Tag, through="CustomerTag", related_name="customers", verbose_name=_("tags")
    )
    participants = models.ManyToManyField(
        User,
        through="CustomerParticipant",
        through_fields=("customer", "user"),
        related_name="+",
        verbose_name=_("participants"),
    )
    deleted_at = models.DateTimeField(_("deleted at"), null=True, blank=True)
    deleted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The public pool (pools app, DESIGN §7): the pool columns come from PooledModel.
    # The import that created it (undo removes what an import created; "?import=" lists it).
    import_job = models.ForeignKey(
        "crm.ImportJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = scoped_manager(CustomerQuerySet)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["-created_at", "-id"]
        permissions = []  # "change_customer" (Django's default) is the object-level edit grant
        indexes = [
            # PERF: every list sorts inside one tenant; the keys match the sorts offered.
            # The list indexes hold the listed customers only (alive and outside the pool:
            # every customer list filters both; the bin uses cust_deleted, the pool its own)
            # and end with the columns the visibility and view filters read (owner,
            # visibility, last follow-up), so PostgreSQL answers
            # the capped counts and deep-page ids from the index alone (index-only scans:
            # 3-5x faster than visiting the rows; bench/customer_list.py).
            models.Index(
                fields=["tenant", "owner", "-created_at", "-id", "visibility", "last_followup_at"],
                name="cust_owner_created",
                condition=LISTED,
            ),
            models.Index(
                fields=["tenant", "-created_at", "-id", "owner", "visibility", "last_followup_at"],
                name="cust_created",
                condition=LISTED,
            ),
            models.Index(
                fields=["tenant", "-last_followup_at", "-id"],
                name="cust_last_follow",
                condition=LISTED,
            ),
            models.Index(
                fields=["tenant", "next_followup_at", "owner", "created_at", "id"],
                name="cust_next_follow",
                condition=LISTED,
            ),
            # The public part of a list in the created order (crm.visibility.visible_parts).
            models.Index(
                fields=["tenant", "-created_at", "-id", "owner", "last_followup_at"],
                name="cust_public_created",
                condition=Q(deleted_at__isnull=True, pooled_at__isnull=True, visibility="public"),
            ),
            models.Index(fields=["tenant", "name_normalized"], name="cust_name_norm"),
            models.Index(fields=["tenant", "name", "id"], name="cust_name"),
            # The pool list: per group and across groups, newest arrivals first.
            models.Index(
                fields=["tenant", "pool_group", "-pooled_at", "-id"],
                name="cust_pool_group",
                condition=Q(deleted_at__isnull=True, pooled_at__isnull=False),
            ),
            models.Index(
                fields=["tenant", "-pooled_at", "-id"],
                name="cust_pool",
                condition=Q(deleted_at__isnull=True, pooled_at__isnull=False),
            ),
            # Recycling candidates: owned customers of one group, by how long they are owned.
            models.Index(
                fields=["tenant", "pool_group", "owned_since"],
                name="cust_pool_owned",
                condition=Q(deleted_at__isnull=True, owner__isnull=False),
            ),
            # The recycle bin only (so that live lists never pick it over their sort index).
            models.Index(
                fields=["tenant", "deleted_at"],
                name="cust_deleted",
                condition=Q(deleted_at__isnull=False),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(pooled_at__isnull=True) | Q(owner__isnull=True),
                name="cust_pooled_has_no_owner",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        self.name_normalized = normalize_name(self.name)
        super().save(*args, **kwargs)

    @classmethod
    def visible_to_all_q(cls) -> Q:
        """Rows every member of the tenant may open (crm.visibility picks this up). A public
        customer lying in a pool follows the pool's membership instead."""
        return Q(visibility=cls.Visibility.PUBLIC, pooled_at__isnull=True)

    @property
    def in_pool(self) -> bool:
        return self.pooled_at is not None and self.deleted_at is None

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def days_since_followup(self) -> int | None:
        reference = self.last_followup_at or self.created_at
        if reference is None:
            return None
        return (timezone.now() - reference).days


class CustomerTag(TenantModel):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE)
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "customer", "tag"], name="customertag_unique")
        ]
        indexes = [models.Index(fields=["tenant", "tag"], name="customertag_tag")]


class CustomerParticipant(TenantModel):
    """A team member on the customer (我参与的). Edit rights are a django-guardian grant
    (``customers.change_customer`` on this customer), given by the participant service."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    added_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "customer", "user"], name="customerparticipant_unique"
            )
        ]
        indexes = [models.Index(fields=["tenant", "user"], name="customerparticipant_user")]


class CustomerUserObjectPermission(UserObjectPermissionBase):
    """django-guardian's direct foreign-key table for customers, with the tenant."""

    content_object = models.ForeignKey(Customer, on_delete=models.CASCADE)
    tenant = models.ForeignKey("crm.Tenant", on_delete=models.PROTECT, related_name="+")

    # guardian calls ``objects.is_generic()``: its manager, scoped by tenant.
    objects = ScopedManager(tenant="tenant", _manager_class=UserObjectPermissionManager)

    class Meta(UserObjectPermissionBase.Meta):
        unique_together = []
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "user", "permission", "content_object"],
                name="customer_objperm_unique",
            )
        ]


class CustomerStar(TenantModel):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "user", "customer"], name="customerstar_unique"
            )
        ]


class Contact(TenantModel):
    """A person at a customer (联系人)."""

    tenant = tenant_key_without_index()  # the Meta indexes all lead with tenant_id

    class Gender(models.TextChoices):
        UNKNOWN = "", _("Not given")
        MALE = "male", _("Male")
        FEMALE = "female", _("Female")

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="contacts"
    )
    name = models.CharField(_("name"), max_length=50)
    mobile = models.CharField(_("mobile"), max_length=20, blank=True, default="")
    phone = models.CharField(_("telephone"), max_length=30, blank=True, default="")
    email = models.EmailField(_("email"), blank=True, default="")
    title = models.CharField(_("job title"), max_length=50, blank=True, default="")
    gender = models.CharField(
        _("gender"), max_length=6, choices=Gender.choices, blank=True, default=""
    )
    is_decision_maker = models.BooleanField(_("decision maker"), default=False)
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    role = models.CharField(_("role in the purchase"), max_length=50, blank=True, default="")
    remark = models.CharField(_("remark"), max_length=500, blank=True, default="")
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["-is_decision_maker", "id"]
        # A customer's contacts are found by the customer key's own index (which deletes
        # of customers need): no (tenant, customer) index beside it.
        indexes = [
            models.Index(fields=["tenant", "mobile"], name="contact_mobile"),
            models.Index(fields=["tenant", "phone"], name="contact_phone"),
            models.Index(fields=["tenant", "-created_at", "-id"], name="contact_created"),
        ]

    def __str__(self) -> str:
        return self.name


def record_type_key() -> models.ForeignKey:
    """The kind of owned record a follow-up or a file is on (customers.owned); indexed
    together with the record id and the tenant by the model's own index."""
    return models.ForeignKey(
        ContentType,
        verbose_name=_("record type"),
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )


class FollowUp(TenantModel):
    """A follow-up record (跟进记录) on an owned record (a customer, a lead…; see
    customers.owned), optionally with one of its customer's contacts."""

    # The record it is on, whatever its kind; and its customer whenever there is one (a
    # customer's own follow-ups, a converted lead's, an opportunity's): the customer
    # timeline and the statistics read that column without joins. A converted lead keeps
    # its history (record = the lead), the customer gains it (customer = the customer).
    record_type = record_type_key()
    record_id = models.PositiveBigIntegerField(_("record"))
    record = GenericForeignKey("record_type", "record_id")
    customer = models.ForeignKey(
        Customer,
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="followups",
    )
    contact = models.ForeignKey(
        Contact,
        verbose_name=_("contact"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="followups",
    )
    kind = models.ForeignKey(
        Option,
        verbose_name=_("follow-up type"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    content = models.TextField(_("content"))
    followed_at = models.DateTimeField(_("time"), default=timezone.now)
    next_followup_at = models.DateTimeField(_("next follow-up"), null=True, blank=True)
    created_by = models.ForeignKey(
        User, verbose_name=_("by"), on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # What it counts as in the follow-up statistics (reports.followups): its customer's
    # lifecycle NOW ("development" / "signed"), "lead" for a lead's (for good, even once the
    # lead is converted), "" while its customer is in the recycle bin. Kept by the customer
    # services that change a lifecycle, trash, restore or merge (customers.events
    # .followups_recount), so the statistics count a year of follow-ups without joining
    # the customers.
    counts_as = models.CharField(max_length=12, blank=True, default="", editable=False)

    LEAD = "lead"

    class Meta:
        verbose_name = _("follow-up")
        verbose_name_plural = _("follow-ups")
        ordering = ["-followed_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "customer", "-followed_at"], name="followup_customer"),
            models.Index(fields=["tenant", "created_by", "-followed_at"], name="followup_author"),
            models.Index(fields=["tenant", "-followed_at", "-id"], name="followup_time"),
            models.Index(
                fields=["tenant", "record_type", "record_id", "-followed_at"],
                name="followup_record",
            ),
        ]

    def __str__(self) -> str:
        return self.content[:50]


class FollowUpComment(TenantModel):
    """A manager's comment on a follow-up (点评)."""

    followup = models.ForeignKey(FollowUp, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    content = models.CharField(_("comment"), max_length=1000)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["tenant", "followup"], name="followupcomment_followup")]


def attachment_path(instance: Attachment, filename: str) -> str:
    """Files of a record with a customer live with the customer, others with their record
    (``tenants/<id>/leads/<lead id>/``), under a random name: the name the user gave is
    ``Attachment.original_name``, sent with the download (SECURITY: never a path on disk)."""
    name = random_file_name(filename)
    if instance.customer_id is None:
        model = ContentType.objects.get_for_id(instance.record_type_id).model
        return f"tenants/{instance.tenant_id}/{model}s/{instance.record_id}/{name}"
    return f"tenants/{instance.tenant_id}/customers/{instance.customer_id}/{name}"


class Attachment(TenantModel):
    """A file on an owned record (and optionally on one of its follow-ups)."""

    # On a record of any kind (customers.owned), and on its customer whenever there is one
    # (a lead's files reach its customer on conversion), as follow-ups are.
    record_type = record_type_key()
    record_id = models.PositiveBigIntegerField(_("record"))
    record = GenericForeignKey("record_type", "record_id")
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments"
    )
    followup = models.ForeignKey(
        FollowUp, null=True, blank=True, on_delete=models.SET_NULL, related_name="attachments"
    )
    file = models.FileField(_("file"), upload_to=attachment_path, max_length=300)
    original_name = models.CharField(_("file name"), max_length=200)
    size = models.PositiveBigIntegerField(_("size"))
    content_type = models.CharField(max_length=100, blank=True, default="")
    uploaded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("uploaded at"), default=timezone.now)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "customer"], name="attachment_customer"),
            models.Index(fields=["tenant", "record_type", "record_id"], name="attachment_record"),
        ]

    def __str__(self) -> str:
        return self.original_name


# The ownership events that touch a pool (OwnershipEvent's partial index "ownership_pool_time"
# and reports.pool's WHERE, which must repeat it word for word for the index to be used).
POOL_EVENT_Q = (
    Q(pool_group__isnull=False)
    | Q(kind="deleted", from_user__isnull=True)
    | Q(kind="restored", to_user__isnull=True)
)


class OwnershipEvent(TenantModel):
    """Every change of a customer's owner (DESIGN §7); the increment/stock report reads these."""

    tenant = tenant_key_without_index()  # the Meta indexes all lead with tenant_id

    class Kind(models.TextChoices):
        CREATED = "created", _("Created manually")
        CLAIMED = "claimed", _("Claimed from the pool")
        ASSIGNED = "assigned", _("Assigned from the pool")
        CONVERTED = "converted", _("Converted from a lead")
        TRANSFERRED = "transferred", _("Transferred")
        IMPORTED = "imported", _("Imported")
        SIGNED_BACK = "signed_back", _("Signed back to development")
        RETURNED = "returned", _("Returned to the pool")
        RECYCLED = "recycled", _("Recycled automatically")
        MOVED = "moved", _("Moved between pools")
        MERGED = "merged", _("Merged into another customer")
        DELETED = "deleted", _("Deleted")
        RESTORED = "restored", _("Restored from the recycle bin")
        BECAME_SIGNED = "became_signed", _("Became signed")

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="ownership_events"
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    # from_user and to_user are empty for many events (a customer created or imported has
    # no previous owner; one imported into a pool, none at all): their indexes (Meta) hold
    # the events that name someone, the only ones any query looks for.
    from_user = models.ForeignKey(
        User,
        verbose_name=_("from"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    to_user = models.ForeignKey(
        User,
        verbose_name=_("to"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
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
        verbose_name=_("pool group"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The customer's lifecycle when it happened (the increment report's 开发客户 / 签约客户
    # filter): for a lifecycle change, the side the event counts in. BECAME_SIGNED leaves
    # the development view and SIGNED_BACK enters it, so both say "development".
    lifecycle = models.CharField(
        _("lifecycle"),
        max_length=12,
        choices=Customer.Lifecycle.choices,
        default=Customer.Lifecycle.DEVELOPMENT,
    )
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        verbose_name = _("ownership event")
        verbose_name_plural = _("ownership events")
        ordering = ["-created_at", "-id"]
        # A customer's few events are found by the customer key's own index and sorted: no
        # (tenant, customer, time) index beside it (one index less on every insert).
        # PERF: the user keys' indexes leave the empty ones out (partial): an import into a
        # pool writes 100,000 events naming nobody (bench/import_pool.py). Every query by
        # user names one (``to_user = …``, ``IN (…)``), which PostgreSQL and SQLite both
        # match to the condition. Users are deactivated, never deleted (and PROTECT would
        # refuse): no query looks for a user's events across tenants.
        indexes = [
            models.Index(fields=["tenant", "kind", "created_at"], name="ownership_kind_time"),
            # 公海分析 (reports.pool) reads a period's events that touch a pool: the ones
            # naming a group, and a pooled customer's deletion or restore (no owner either
            # side). A third of the events; the report's WHERE repeats the condition.
            models.Index(
                fields=["tenant", "created_at"],
                # PERF: with what the report reads, PostgreSQL answers from the index alone
                # (an index-only scan; SQLite builds it without the INCLUDE).
                include=["id", "kind", "pool_group", "from_user", "to_user", "customer"],
                name="ownership_pool_time",
                condition=POOL_EVENT_Q,
            ),
            models.Index(
                fields=["tenant", "to_user", "created_at"],
                name="ownership_to_time",
                condition=Q(to_user__isnull=False),
            ),
            models.Index(
                fields=["tenant", "from_user"],
                name="ownership_from_user",
                condition=Q(from_user__isnull=False),
            ),
        ]


class CustomerAttrEvent(TenantModel):
    """A change of one status-like field of a customer (wave2 §14.2 R3, 增量/存量对比): its
    status, level, deal status or lifecycle (``field`` is the column's name; values are
    option ids or choice values as text, "" for empty), or one tag added or removed
    (``field = "tag"``: ``new_value`` is the tag id when added, ``old_value`` when
    removed). A new customer's values count as changes from empty. ``owner`` is the
    customer's owner when it happened (the report attributes the change to them).
    Written by the customer services (customers.events), in bulk for batch actions."""

    tenant = tenant_key_without_index()  # the Meta indexes all lead with tenant_id

    FIELDS = ("status", "level", "deal_status", "lifecycle")
    TAG = "tag"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="attr_events")
    field = models.CharField(_("field"), max_length=20)
    old_value = models.CharField(_("old value"), max_length=40, blank=True, default="")
    new_value = models.CharField(_("new value"), max_length=40, blank=True, default="")
    owner = models.ForeignKey(
        User,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    lifecycle = models.CharField(
        _("lifecycle"),
        max_length=12,
        choices=Customer.Lifecycle.choices,
        default=Customer.Lifecycle.DEVELOPMENT,
    )
    at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        verbose_name = _("customer field change")
        verbose_name_plural = _("customer field changes")
        ordering = ["-at", "-id"]
        # The report reads one field's changes in a period; a customer's page its history.
        # The customer key keeps its own index too: deleting customers (purge, merge)
        # cascades by customer_id alone.
        indexes = [
            models.Index(fields=["tenant", "field", "at"], name="attrevent_field_time"),
            models.Index(fields=["tenant", "customer", "at"], name="attrevent_customer_time"),
        ]


class SavedSearch(TenantModel):
    """A named combination of list conditions, per user, shown in the menu of its list
    (the customer list, or the lead list)."""

    class ListKind(models.TextChoices):
        CUSTOMERS = "customers", _("Customers")
        LEADS = "leads", _("Leads")
        OPPORTUNITIES = "opportunity", _("Opportunities")

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    list_kind = models.CharField(
        max_length=12, choices=ListKind.choices, default=ListKind.CUSTOMERS
    )
    name = models.CharField(_("name"), max_length=50)
    query = models.CharField(_("conditions"), max_length=1000)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "user", "list_kind", "name"], name="savedsearch_unique_kind"
            )
        ]

    def __str__(self) -> str:
        return self.name


class CustomerImportChange(TenantModel):
    """What an import overwrote on an existing customer, for 撤销导入 (undo): the field values
    before, the contacts it added, and when it wrote them (a later change blocks the undo)."""

    job = models.ForeignKey("crm.ImportJob", on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    row = models.PositiveIntegerField()
    before = models.JSONField(default=dict)
    added_contact_ids = models.JSONField(default=list, blank=True)
    written_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "job", "row"], name="importchange_row")
        ]
        indexes = [models.Index(fields=["tenant", "job"], name="importchange_job")]
