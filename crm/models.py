"""Core models: tenants, users, departments, roles, and the platform pieces every module uses."""

from __future__ import annotations

import datetime
import os
import re
import secrets
import zoneinfo
from functools import cached_property

from django.contrib.auth.models import AbstractUser, UserManager
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from crm import permissions
from crm.tenancy import TenantModel, scoped_manager, tenant_key_without_index


def validate_time_zone(value: str) -> None:
    """An IANA time zone name (Asia/Shanghai): the tenant's clock."""
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(
            _("%(zone)s is not a time zone (e.g. Asia/Shanghai)."), params={"zone": value}
        ) from exc


class Tenant(models.Model):
    """A company. GLOBAL model: the tenant wall itself (on the allow-list in the tests)."""

    name = models.CharField(_("name"), max_length=100)
    slug = models.SlugField(_("short name"), max_length=50, unique=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    # Tenant settings. A follow-up overdue by this many days is also reminded to the owner's
    # manager (crm.reminders, customers/reminders.py, leads/reminders.py).
    followup_overdue_escalation_days = models.PositiveSmallIntegerField(
        _("days overdue before a follow-up goes to the manager"), default=3
    )
    # The tenant's clock: the 08:30 follow-up digest and everyone's quiet hours follow it.
    time_zone = models.CharField(
        _("time zone"), max_length=50, default="Asia/Shanghai", validators=[validate_time_zone]
    )
    # When the last e-mail digests went out (crm.deliveries.email_digests claims each day once;
    # the next digest lists the reminders created since).
    reminder_digest_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("tenant")
        verbose_name_plural = _("tenants")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def tzinfo(self) -> datetime.tzinfo:
        try:
            return zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return timezone.get_default_timezone()

    def today(self, now: datetime.datetime | None = None) -> datetime.date:
        """Today's date on the tenant's clock (``time_zone``), at ``now`` (default: now): the
        day a closed date, a report period or 本月 is counted in, whatever the server's."""
        return (now or timezone.now()).astimezone(self.tzinfo).date()


class DataScope(models.TextChoices):
    OWN = "own", _("Own records")
    OWN_AND_SUBORDINATES = "own_and_subordinates", _("Own and subordinates' records")
    DEPARTMENT = "department", _("Own department")
    DEPARTMENT_AND_BELOW = "department_and_below", _("Own department and below")
    ALL = "all", _("All records")


class Role(TenantModel):
    """A set of permission codes (crm.permissions) and a data scope for records."""

    class Builtin(models.TextChoices):
        ADMIN = "admin", _("Administrator")
        SALES_MANAGER = "sales_manager", _("Sales manager")
        SALES_REP = "sales_rep", _("Sales representative")
        AFTER_SALES = "after_sales", _("After-sales specialist")

    name = models.CharField(_("name"), max_length=50)
    builtin = models.CharField(
        _("built-in role"), max_length=20, choices=Builtin.choices, blank=True, default=""
    )
    permissions = models.JSONField(_("permissions"), default=list, blank=True)
    data_scope = models.CharField(
        _("data scope"), max_length=24, choices=DataScope.choices, default=DataScope.OWN
    )
    description = models.CharField(_("description"), max_length=200, blank=True, default="")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("role")
        verbose_name_plural = _("roles")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="role_unique_name"),
            models.UniqueConstraint(
                fields=["tenant", "builtin"],
                name="role_unique_builtin",
                condition=~models.Q(builtin=""),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def permission_labels(self) -> list[str]:
        return [str(permissions.label(c)) for c in self.permissions if c in permissions.all_codes()]


class Department(TenantModel):
    """A node of the tenant's department tree.

    ``path`` is a materialised path of ids ("/3/7/12/"): "this department and everything
    below" is ``path__startswith`` on an index that begins with the tenant.
    """

    name = models.CharField(_("name"), max_length=50)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent department"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    path = models.CharField(max_length=255, editable=False, default="")
    leader = models.ForeignKey(
        "crm.User",
        verbose_name=_("department head"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    is_active = models.BooleanField(_("active"), default=True)
    sort_order = models.PositiveIntegerField(_("sort order"), default=0)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        ordering = ["path"]
        indexes = [models.Index(fields=["tenant", "path"], name="department_tenant_path")]

    def __str__(self) -> str:
        return self.name

    @property
    def depth(self) -> int:
        return max(self.path.count("/") - 2, 0)

    def ancestor_ids(self) -> list[int]:
        return [int(p) for p in self.path.strip("/").split("/") if p][:-1]


class User(AbstractUser):
    """A person who logs in. Tenant users belong to exactly one tenant; platform operators
    (``tenant`` empty) use the Django admin only. Username and mobile are unique across the
    installation because login happens before the tenant is known."""

    tenant = models.ForeignKey(
        Tenant,
        verbose_name=_("tenant"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="users",
    )
    name = models.CharField(_("full name"), max_length=50, blank=True, default="")
    # Unique within a company (``user_tenant_mobile``): one number may exist in two companies;
    # signing in with it then asks for the username (crm.auth).
    mobile = models.CharField(_("mobile"), max_length=20, null=True, blank=True)
    department = models.ForeignKey(
        Department,
        verbose_name=_("department"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="members",
    )
    role = models.ForeignKey(
        Role,
        verbose_name=_("role"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="users",
    )
    manager = models.ForeignKey(
        "self",
        verbose_name=_("direct manager"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reports",
    )
    title = models.CharField(_("job title"), max_length=50, blank=True, default="")
    # Set by an administrator's password reset: the next sign-in must choose a new password.
    must_change_password = models.BooleanField(_("must change password"), default=False)

    # SECURITY: the default manager stays global on purpose: login looks users up before a
    # tenant is known, and a scoped UserManager breaks migrations (django-scopes issue #30).
    # Application code uses ``tenant_objects``; tests/crm/test_structure.py keeps
    # ``User.objects`` out of everything but the auth and admin modules.
    objects = UserManager()
    tenant_objects = scoped_manager()

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        indexes = [models.Index(fields=["tenant", "department"], name="user_tenant_department")]
        constraints = [
            # SECURITY: sign-in matches usernames case-insensitively, so the database keeps
            # them unique that way (not only the Python check in crm.services).
            models.UniqueConstraint(Lower("username"), name="user_username_ci_unique"),
            models.UniqueConstraint(fields=["tenant", "mobile"], name="user_tenant_mobile"),
        ]

    def __str__(self) -> str:
        return self.name or self.username

    def get_full_name(self) -> str:
        return self.name or self.username

    def get_short_name(self) -> str:
        return self.name or self.username

    @property
    def is_platform_operator(self) -> bool:
        return self.tenant_id is None

    @cached_property
    def permission_codes(self) -> permissions.PermissionSet:
        if not self.is_active or self.role_id is None:
            return permissions.PermissionSet()
        return permissions.PermissionSet(
            c for c in self.role.permissions if c in permissions.all_codes()
        )

    def can(self, code: str) -> bool:
        return code in self.permission_codes

    @property
    def data_scope(self) -> str:
        return self.role.data_scope if self.role_id else DataScope.OWN


class OptionKind(models.TextChoices):
    CUSTOMER_SOURCE = "customer_source", _("Customer source")
    CUSTOMER_LEVEL = "customer_level", _("Customer level")
    CUSTOMER_STATUS = "customer_status", _("Customer status")
    INDUSTRY = "industry", _("Industry")
    FOLLOWUP_TYPE = "followup_type", _("Follow-up type")
    LOST_REASON = "lost_reason", _("Lost reason")
    ORDER_TYPE = "order_type", _("Order type")
    POOL_RETURN_REASON = "pool_return_reason", _("Pool return reason")
    LEAD_CLOSE_REASON = "lead_close_reason", _("Lead close reason")
    CONTACT_ROLE = "contact_role", _("Contact role in an opportunity")


# Option entries the system relies on, by list: code → the label a new tenant starts with.
OPTION_CODES: dict[str, dict[str, str]] = {
    "followup_type": {"phone": "电话", "visit": "拜访"},
}


class Option(TenantModel):
    """One entry of a tenant-editable option list (sources, levels, follow-up types…)."""

    kind = models.CharField(_("list"), max_length=32, choices=OptionKind.choices)
    label = models.CharField(_("label"), max_length=50)
    sort_order = models.PositiveIntegerField(_("sort order"), default=0)
    is_active = models.BooleanField(_("active"), default=True)
    # What the system knows an entry as, whatever the tenant renames it to (the reports' 拜访
    # and 电话: OPTION_CODES); empty for the tenant's own entries. Never edited in the UI.
    code = models.CharField(max_length=20, blank=True, default="", editable=False)

    class Meta:
        verbose_name = _("option")
        verbose_name_plural = _("options")
        ordering = ["kind", "sort_order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "kind", "label"], name="option_unique_label"),
            models.UniqueConstraint(
                fields=["tenant", "kind", "code"],
                condition=~models.Q(code=""),
                name="option_unique_code",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "kind", "sort_order"], name="option_tenant_kind")]

    def __str__(self) -> str:
        return self.label


class NumberSequence(TenantModel):
    """The last number handed out for one prefix on one day in one tenant."""

    prefix = models.CharField(max_length=8)
    day = models.DateField()
    last_value = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "prefix", "day"], name="numbering_unique_day"
            ),
        ]


class ActivityLogQuerySet(models.QuerySet):
    def delete(self):
        raise TypeError("Activity log entries cannot be deleted.")

    def for_object(self, obj: models.Model) -> ActivityLogQuerySet:
        return self.filter(content_type=ContentType.objects.get_for_model(obj), object_id=obj.pk)


class ActivityLog(TenantModel):
    """Who did what to which record, with field changes ``{field: [old, new]}``.

    Append-only: there is no UI to edit or delete entries and ``delete()`` raises.
    """

    actor = models.ForeignKey(
        User,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    object_id = models.BigIntegerField()
    object_repr = models.CharField(max_length=200)
    action = models.CharField(max_length=64)
    changes = models.JSONField(default=dict, blank=True)
    note = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    objects = scoped_manager(ActivityLogQuerySet)

    class Meta:
        verbose_name = _("activity log entry")
        verbose_name_plural = _("activity log")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["tenant", "content_type", "object_id", "-created_at"],
                name="activity_tenant_object",
            ),
            models.Index(fields=["tenant", "-created_at", "-id"], name="activity_tenant_time"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.object_repr}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.pop("_allow_update", False):
            raise TypeError("Activity log entries cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Activity log entries cannot be deleted.")


class NotificationQuerySet(models.QuerySet):
    def unread(self) -> NotificationQuerySet:
        return self.filter(read_at__isnull=True)


class Notification(TenantModel):
    """An in-app message for one user (the bell), created by services and tasks."""

    recipient = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("message"), blank=True, default="")
    link = models.CharField(_("link"), max_length=300, blank=True, default="")
    created_at = models.DateTimeField(_("time"), default=timezone.now)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    objects = scoped_manager(NotificationQuerySet)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "recipient", "read_at"], name="notification_unread"),
            models.Index(fields=["tenant", "recipient", "-created_at"], name="notification_time"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def local_link(self) -> str:
        """The link when it stays on this site ("/customers/1/"), else "" (SECURITY:
        never an off-site or ``javascript:`` URL in an href or a redirect)."""
        link = self.link or ""
        if link.startswith("/") and not link.startswith(("//", "/\\")):
            return link
        return ""


class OwnedModel(TenantModel):
    """Base of records with an owner (leads, customers, opportunities, documents, tickets).

    An empty owner means the record has no one responsible (pool or unassigned). Concrete
    models may add ``participants = ManyToManyField(User, through=...)`` whose through model
    has a ``user`` foreign key and a ``can_edit`` flag; :func:`crm.visibility.visible_to`
    picks it up.
    """

    owner = models.ForeignKey(
        User,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_by = models.ForeignKey(
        User,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    updated_by = models.ForeignKey(
        User,
        verbose_name=_("updated by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        abstract = True


def new_token() -> str:
    """An unguessable name for a job's folder (files are served only through views)."""
    return secrets.token_hex(16)


def random_file_name(filename: str) -> str:
    """SECURITY: a stored file's name on disk: random, with the original's extension when it
    is a plain one (``.xlsx``, ``.pdf``). The name the user gave is kept in the database
    (``original_name``) and sent only by the views that check who may download it."""
    extension = os.path.splitext(filename)[1].lower()
    if not re.fullmatch(r"\.[a-z0-9]{1,8}", extension):
        extension = ""
    return secrets.token_hex(16) + extension


def job_file_path(instance, filename: str) -> str:
    """Uploaded sheets, validated plans, error files and exports live per tenant and job,
    under a random name (the download names come from the job: ``original_name``)."""
    folder = "imports" if isinstance(instance, ImportJob) else "exports"
    return f"tenants/{instance.tenant_id}/{folder}/{instance.token}/{random_file_name(filename)}"


class ImportJob(TenantModel):
    """One spreadsheet import (DESIGN §8): uploaded, checked (the preview), applied.

    The checked rows are kept with the job (``plan``) so that confirming applies exactly
    what the preview showed. ``progress_done`` of the applying stage is committed with each
    batch of rows, so a restarted worker resumes after the last committed batch.
    """

    class Kind(models.TextChoices):
        CUSTOMERS = "customers", _("Customers")
        LEADS = "leads", _("Leads")

    class Status(models.TextChoices):
        VALIDATING = "validating", _("Checking the file")
        PREVIEWED = "previewed", _("Checked, waiting for confirmation")
        APPLYING = "applying", _("Importing")
        DONE = "done", pgettext_lazy("import status", "Imported")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")
        UNDONE = "undone", _("Undone")

    # An import in one of these holds the tenant's import slot (one at a time).
    RUNNING = ("validating", "applying")

    token = models.CharField(max_length=32, editable=False, default=new_token)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices)
    created_by = models.ForeignKey(
        User, verbose_name=_("imported by"), on_delete=models.PROTECT, related_name="+"
    )
    original_name = models.CharField(_("file name"), max_length=200)
    file = models.FileField(upload_to=job_file_path, max_length=300, blank=True)
    options = models.JSONField(default=dict, blank=True)
    plan = models.FileField(upload_to=job_file_path, max_length=300, blank=True)
    error_file = models.FileField(upload_to=job_file_path, max_length=300, blank=True)
    summary = models.JSONField(default=dict, blank=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    message = models.CharField(max_length=1000, blank=True, default="")
    created_at = models.DateTimeField(_("uploaded at"), default=timezone.now)
    checked_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # How many times a worker (or the request) began checking the file: a worker killed
    # while reading it (out of memory) is not followed by endless retries (crm.importing).
    attempts = models.PositiveSmallIntegerField(default=0)

    objects = scoped_manager()

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="importjob_time")]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "token"], name="importjob_token"),
            # One import at a time per tenant, enforced by the database (two admins pressing
            # 导入 at the same moment: one of them gets the IntegrityError and is told who).
            models.UniqueConstraint(
                fields=["tenant"],
                condition=models.Q(status__in=["validating", "applying"]),
                name="importjob_one_running",
            ),
        ]

    def __str__(self) -> str:
        return self.original_name

    @property
    def is_running(self) -> bool:
        return self.status in self.RUNNING


class ImportMapping(TenantModel):
    """The column mapping last used for one set of headers (issue 17): offered again when a
    file with the same header row is imported, by the tenant, for the same kind of record.

    ``signature`` is a hash of the header row as the reader cleans it
    (``crm.importing.header_signature``); ``mapping`` is ``{str(column index): column key
    or ""}`` ("" = 不导入)."""

    # The unique index (tenant, kind, signature) serves the tenant's key too.
    tenant = tenant_key_without_index()
    kind = models.CharField(_("kind"), max_length=20, choices=ImportJob.Kind.choices)
    signature = models.CharField(max_length=64)
    headers = models.JSONField(default=list, blank=True)
    mapping = models.JSONField(default=dict, blank=True)
    updated_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = scoped_manager()

    class Meta:
        verbose_name = _("import column mapping")
        verbose_name_plural = _("import column mappings")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "kind", "signature"], name="importmapping_headers"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.signature[:8]}"


class ExportJob(TenantModel):
    """An export too large to build in the request: built by a worker, downloaded later."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Waiting")
        RUNNING = "running", _("Exporting")
        DONE = "done", _("Ready")
        FAILED = "failed", _("Failed")

    token = models.CharField(max_length=32, editable=False, default=new_token)
    kind = models.CharField(_("kind"), max_length=20)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    created_by = models.ForeignKey(
        User, verbose_name=_("exported by"), on_delete=models.PROTECT, related_name="+"
    )
    params = models.JSONField(default=dict, blank=True)
    file = models.FileField(upload_to=job_file_path, max_length=300, blank=True)
    row_count = models.PositiveIntegerField(default=0)
    message = models.CharField(max_length=1000, blank=True, default="")
    created_at = models.DateTimeField(_("requested at"), default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = scoped_manager()

    class Meta:
        verbose_name = _("export")
        verbose_name_plural = _("exports")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "created_by", "-created_at"], name="exportjob_user")
        ]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "token"], name="exportjob_token"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {timezone.localtime(self.created_at):%Y-%m-%d %H:%M}"


class RecentView(TenantModel):
    """最近浏览: a user opened the page of one record (``kind`` as registered in
    ``crm.recent``: "customer", "lead"…) at ``viewed_at``. One row per user and record, moved
    forward at each visit (``crm.recent.record_view``); a user keeps at most
    ``crm.recent.KEEP`` rows. Whether the record still exists and is still visible is asked
    when the list is read, never stored here."""

    tenant = tenant_key_without_index()
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(_("kind"), max_length=20)
    object_id = models.PositiveBigIntegerField()
    viewed_at = models.DateTimeField(_("viewed at"), default=timezone.now)

    objects = scoped_manager()

    class Meta:
        verbose_name = _("recent view")
        verbose_name_plural = _("recent views")
        ordering = ["-viewed_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "user", "-viewed_at"], name="recentview_user_time")
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "user", "kind", "object_id"], name="recentview_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_id}"


class Reminder(TenantModel):
    """One reminder fired by ``crm.reminders``: about one record (``object_id`` of the kind's
    model) to one user, for one due moment. The unique constraint is what makes the engine
    send each reminder once, however often and however concurrently it runs (its inserts
    answer the ids of the rows they created: ``ON CONFLICT DO NOTHING RETURNING id``). Title,
    body and link are kept as sent: the bell, the e-mail digest and the group bots deliver
    from the row."""

    tenant = tenant_key_without_index()  # the Meta's unique constraint leads with tenant_id
    kind = models.CharField(_("kind"), max_length=40)
    object_id = models.PositiveBigIntegerField()
    recipient = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    due_at = models.DateTimeField(_("due at"))
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("message"), blank=True, default="")
    link = models.CharField(_("link"), max_length=300, blank=True, default="")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    objects = scoped_manager()

    class Meta:
        verbose_name = _("reminder")
        verbose_name_plural = _("reminders")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "kind", "object_id", "recipient", "due_at"],
                name="reminder_once",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class ReminderChannel(models.TextChoices):
    """Where a reminder reaches its recipient (crm.reminders): the bell records every reminder
    unless its recipient turned it off; the e-mail channel gathers the day's reminders into one
    digest; the group bot pushes each reminder to the recipient's and their department's
    企业微信 / 钉钉 / 飞书 webhooks (crm.webhooks)."""

    BELL = "bell", _("In-app bell")
    EMAIL = "email", _("Daily e-mail digest")
    WEBHOOK = "webhook", _("Group bot")


class ReminderPreference(TenantModel):
    """One user's reminder settings (the preferences page, issue 18 §5). A user without a row
    has the defaults: every kind on every channel, follow-ups 15 minutes before, quiet hours
    22:00 to 08:00 in the tenant's time."""

    MINUTES_CHOICES = (5, 10, 15, 30, 60, 120)

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    minutes_before = models.PositiveSmallIntegerField(
        _("remind me of a follow-up this many minutes before"),
        default=15,
        choices=[(m, m) for m in MINUTES_CHOICES],
    )
    quiet_start = models.TimeField(
        _("quiet hours from"), null=True, blank=True, default=datetime.time(22, 0)
    )
    quiet_end = models.TimeField(
        _("quiet hours until"), null=True, blank=True, default=datetime.time(8, 0)
    )
    # What the user turned off, as "kind:channel" strings (a kind registered later is on).
    off = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = scoped_manager()

    class Meta:
        verbose_name = _("reminder preference")
        verbose_name_plural = _("reminder preferences")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="reminderpreference_user"),
        ]

    def __str__(self) -> str:
        return str(self.user)

    def wants(self, kind: str, channel: str) -> bool:
        return f"{kind}:{channel}" not in self.off

    def quiet_until(self, moment, tz) -> datetime.datetime | None:
        """The end of the quiet hours ``moment`` lies in (in ``tz``), or None outside them.
        Quiet hours may span midnight (22:00 to 08:00) or not (12:00 to 13:30)."""
        start, end = self.quiet_start, self.quiet_end
        if start is None or end is None or start == end:
            return None
        local = moment.astimezone(tz)
        t = local.time()
        if start < end:
            quiet = start <= t < end
            day = local.date()
        else:
            quiet = t >= start or t < end
            day = local.date() + datetime.timedelta(days=1) if t >= start else local.date()
        if not quiet:
            return None
        return datetime.datetime.combine(day, end, tzinfo=tz)


class Webhook(TenantModel):
    """A group bot's incoming webhook (企业微信, 钉钉 or 飞书) that reminders are pushed to: a
    user's own (their preferences page) or a department's (set by an admin; every reminder to a
    member of the department goes there). The secret signs each message the way the provider
    documents (crm.webhooks); it is never shown again once saved."""

    class Provider(models.TextChoices):
        WECOM = "wecom", _("WeCom (企业微信)")
        DINGTALK = "dingtalk", _("DingTalk (钉钉)")
        FEISHU = "feishu", _("Feishu (飞书)")

    provider = models.CharField(_("provider"), max_length=10, choices=Provider.choices)
    url = models.URLField(_("webhook address"), max_length=500)
    secret = models.CharField(_("signing secret"), max_length=200, blank=True, default="")
    user = models.ForeignKey(
        User, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    department = models.ForeignKey(
        Department, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    objects = scoped_manager()

    class Meta:
        verbose_name = _("group bot webhook")
        verbose_name_plural = _("group bot webhooks")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=True) ^ models.Q(department__isnull=True),
                name="webhook_one_owner",
            ),
            models.UniqueConstraint(
                fields=["tenant", "user"],
                condition=models.Q(user__isnull=False),
                name="webhook_one_per_user",
            ),
            models.UniqueConstraint(
                fields=["tenant", "department"],
                condition=models.Q(department__isnull=False),
                name="webhook_one_per_department",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} {self.masked_url}"

    @property
    def masked_url(self) -> str:
        """The address without its key or token (for lists and the delivery log)."""
        return mask_url(self.url)


def mask_url(url: str) -> str:
    base, _sep, query = url.partition("?")
    head, _slash, last = base.rpartition("/")
    if len(last) > 8:
        last = last[:4] + "…"
    return f"{head}/{last}" + ("?…" if query else "")


class Delivery(TenantModel):
    """One push of a reminder to a group bot, or one day's e-mail digest to a user: kept as the
    delivery log an admin reads (sent / failed, the last error). Pending rows are sent by the
    ``reminder_deliveries`` task, outside the beat job, and retried with backoff
    (crm.deliveries); ``next_attempt_at`` also holds a push back until quiet hours end."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    channel = models.CharField(_("channel"), max_length=10, choices=ReminderChannel.choices)
    reminder = models.ForeignKey(
        Reminder, on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries"
    )
    webhook = models.ForeignKey(
        Webhook, on_delete=models.SET_NULL, null=True, blank=True, related_name="deliveries"
    )
    recipient = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    target = models.CharField(_("sent to"), max_length=300, blank=True, default="")
    digest_on = models.DateField(_("digest of"), null=True, blank=True)
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("message"), blank=True, default="")
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True, default="")
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    objects = scoped_manager()

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="delivery_log"),
            # The sender picks what is pending and due.
            models.Index(
                fields=["tenant", "next_attempt_at"],
                name="delivery_pending",
                condition=models.Q(status="pending"),
            ),
        ]
        constraints = [
            # One e-mail digest per user and day, however often the job runs.
            models.UniqueConstraint(
                fields=["tenant", "recipient", "digest_on"],
                condition=models.Q(channel="email"),
                name="delivery_one_digest",
            ),
        ]

    def __str__(self) -> str:
        return self.subject
