"""Spreadsheet imports (DESIGN §8): the life of an import job, shared by every kind of
record (customers now, leads next). A kind plugs in an :class:`Importer`.

1. ``import_start`` saves the upload as a job that holds the tenant's import slot (a
   partial unique index: one running import per tenant) and checks it: read the sheet, match
   the headers, validate every row, look duplicates up with a few set-based queries. The
   result, the *plan*, is stored with the job; nothing else is written. Small files are
   checked in the request, larger ones by a worker (``import_check_task``).
2. The preview shows the plan's counts and first rejected rows; ``import_confirm`` takes the
   slot again and applies the plan (``import_apply``), batch by batch (on PostgreSQL several
   batches at once, on connections of their own). Each batch commits together with its
   record in the job, so a restarted worker writes only the batches not done and no row is
   written twice.
3. ``import_undo`` (撤销导入) within :data:`UNDO_DAYS` days asks the importer to remove what
   the import created and restore what it overwrote, where nobody has touched it since.

A job belongs to the user who uploaded it and to holders of ``import.manage`` (``jobs_for``);
anyone else gets a 404 on its pages. It writes with its creator's rights: an existing record
the creator may not edit is skipped as :data:`OUT_OF_REACH`, never named
(``records_in_reach``; the importers check it again as each batch is written).
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import gzip
import hashlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm import activity
from crm.exceptions import DomainError, NotVisibleError, PermissionRefusedError, ServiceError
from crm.models import ImportJob, User
from crm.services import notification_send
from crm.tenancy import tenant_scope

logger = logging.getLogger(__name__)

UNDO_DAYS = 7
FILE_RETENTION_DAYS = 7
# A file whose check was begun this many times without ending (the worker was killed while
# reading it: out of memory, a crash in the reader) fails instead of being read again.
MAX_READ_ATTEMPTS = 2
PREVIEW_ROWS = 20
ALLOWED_EXTENSIONS = (".xlsx", ".xlsm", ".xls", ".csv", ".ods", ".et", ".ett")

IMPORT_APPLIED = activity.register_action("import.applied", gettext_lazy("imported a file"))
IMPORT_UNDONE = activity.register_action("import.undone", gettext_lazy("undid an import"))


class ImportBusyError(ServiceError):
    """Another import of the tenant is running (one at a time)."""


@dataclass(frozen=True)
class Column:
    """An importable column: matched by its label (either language) or an alias."""

    key: str
    label: str | Promise
    required: bool = False
    kind: str = "text"  # text | phone | date | datetime | choice | decimal | tags | bool
    aliases: tuple[str, ...] = ()
    max_length: int | None = None
    sample: str = ""
    help: str | Promise = ""


# What other systems call a record's owner (负责人), for the owner column of every importer.
OWNER_ALIASES = (
    "负责人",
    "业务负责人",
    "归属人",
    "负责人姓名",
    "所有人",
    "业务员",
    "销售员",
    "所属销售",
    "归属销售",
    "销售负责人",
    "Owner",
)


def owner_column(*aliases: str, help: str | Promise = "") -> Column:
    """The owner column (an import by owner): OWNER_ALIASES and the kind's own ``aliases``
    (客户负责人, 线索所有人…)."""
    return Column(
        "owner",
        gettext_lazy("Owner"),
        kind="owner",
        aliases=(*OWNER_ALIASES, *aliases),
        help=help,
    )


@dataclass
class Plan:
    """The checked rows of a file: what confirming will do, row by row."""

    rows: list[list] = field(default_factory=list)  # [row number, action, match id, values]
    rejected: list[tuple[int, list, str]] = field(default_factory=list)  # row, cells, reason
    skipped: list[tuple[int, str]] = field(default_factory=list)  # row, reason
    state: dict[str, Any] = field(default_factory=dict)  # kept in the summary for applying

    def counts(self) -> dict[str, int]:
        creates = sum(1 for r in self.rows if r[1] == "create")
        return {
            "create": creates,
            "update": len(self.rows) - creates,
            "skip": len(self.skipped),
            "reject": len(self.rejected),
        }


class Importer:
    """What a kind of record supplies to the import machinery."""

    kind: str = ""
    permission: str = ""
    label: str | Promise = ""
    model: type | None = None  # the owned model imported (reports name only visible rows)
    batch_size = 1000
    max_rows = 100_000

    def columns(self, tenant_id: int) -> list[Column]:
        raise NotImplementedError

    def choices(self, tenant_id: int) -> dict[str, list[str]]:
        """Allowed values of the choice columns (the template's second sheet)."""
        return {}

    def clean_options(self, actor: User, data: dict) -> dict:
        """The target and duplicate settings, validated; a ServiceError otherwise."""
        raise NotImplementedError

    def prefetch(self, job: ImportJob, size: int) -> Any:
        """What the check needs from the database, read while the file (``size`` bytes) is
        parsed in another thread; handed to :meth:`check` as ``prefetched``."""
        return None

    def check(
        self, job: ImportJob, sheet, mapping: dict[str, int], progress, prefetched: Any = None
    ) -> Plan:
        raise NotImplementedError

    def apply(self, job: ImportJob, rows: list[list]) -> dict[str, Any]:
        """Write one batch of plan rows (inside the batch's transaction); returns counts
        ``created``, ``updated``, ``skipped``, ``failed``, ``errors`` [(row, reason)] and
        ``state`` (merged into the job's summary for the next batches: ``merge_state``)."""
        raise NotImplementedError

    def prepare_apply(self, job: ImportJob) -> None:
        """Run once by ``import_apply`` before the batches are written (again when a stopped
        apply resumes: it must do only what is left), in a transaction of its own: what the
        batches need that the check could not write (the option values an import adds)."""

    def required_keys(self, job: ImportJob) -> set[str]:
        """Columns the job's options require besides the always required ones (the owner
        column of an import by owner): the mapping step asks for them like the others."""
        return set()

    def parallel_apply(self, rows: list[list]) -> bool:
        """Whether the batches of a plan may be written at once, on several connections
        (``import_apply``): only if no batch's ``apply`` depends on another batch having
        been written before it."""
        return False

    def merge_state(self, summary: dict[str, Any], state: dict[str, Any]) -> None:
        """Fold a batch's ``state`` into the job's summary (batches written one after the
        other: the last one's state is the latest)."""
        summary.update(state)

    def undo(self, job: ImportJob, actor: User) -> dict[str, Any]:
        raise NotImplementedError

    def template(self, tenant_id: int) -> bytes:
        """An .xlsx template: required columns marked with *, a sample row, and a second
        sheet with the allowed values and the date formats accepted."""
        import io

        from crm.spreadsheets import DATE_FORMATS_HELP
        from crm.xlsx import write_xlsx

        columns = self.columns(tenant_id)
        headers = [f"{c.label}*" if c.required else str(c.label) for c in columns]
        sample = [c.sample for c in columns]
        choices = self.choices(tenant_id)
        lists = [(str(c.label), choices[c.key]) for c in columns if c.key in choices]
        lists.append((_("Date formats"), list(DATE_FORMATS_HELP)))
        notes = [
            _("Columns marked * are required."),
            _("Columns may be in any order; the header row is matched by column name."),
            _("At most %(rows)s rows per file.") % {"rows": f"{self.max_rows:,}"},
        ]
        lists.append((_("Notes"), notes))
        depth = max(len(values) for _label, values in lists)
        rows = [
            [values[i] if i < len(values) else "" for _l, values in lists] for i in range(depth)
        ]
        buffer = io.BytesIO()
        write_xlsx(
            buffer,
            headers,
            [sample],
            title=str(self.label),
            extra_sheets=[(_("Allowed values"), [label for label, _v in lists], rows)],
        )
        return buffer.getvalue()

    def result_link(self, job: ImportJob) -> str:
        return ""

    def visible_ids(self, user: User, ids) -> set[int]:
        """Which of ``ids`` (rows of :attr:`model`) ``user`` may see now: the pages name
        only those (an undo report lists the rows it kept, whoever holds them since)."""
        from crm.visibility import visible_to

        ids = sorted({pk for pk in ids if pk is not None})
        if self.model is None or not ids:
            return set()
        found: set[int] = set()
        rows = visible_to(user, self.model.objects.all())
        for chunk in _id_chunks(ids):
            found.update(rows.filter(pk__in=chunk).values_list("pk", flat=True))
        return found


_IMPORTERS: dict[str, Importer] = {}


def register(importer: Importer) -> Importer:
    _IMPORTERS[importer.kind] = importer
    return importer


def importer_for(kind: str) -> Importer:
    try:
        return _IMPORTERS[kind]
    except KeyError as exc:
        raise NotVisibleError(_("The record does not exist.")) from exc


# ---------------------------------------------------------------- reads


def jobs_for(user: User):
    """Import jobs ``user`` may open, of the kinds they may import: their own, everyone's
    with ``import.manage`` (tenant admins).

    SECURITY: a job's pages (preview, confirm, cancel, undo, error file, progress) show the
    rows of someone's file and act with that person's rights; another importer does not
    learn that the job exists (404, not 403)."""
    kinds = [k for k, imp in _IMPORTERS.items() if user.can(imp.permission)]
    jobs = ImportJob.objects.filter(tenant_id=user.tenant_id, kind__in=kinds)
    if not user.can("import.manage"):
        jobs = jobs.filter(created_by_id=user.pk)
    return jobs.select_related("created_by")


def job_get(user: User, pk: int) -> ImportJob:
    job = jobs_for(user).filter(pk=pk).first()
    if job is None:
        raise NotVisibleError(_("The record does not exist."))
    return job


def may_open(user: User, job: ImportJob) -> bool:
    """Whether ``job`` is among :func:`jobs_for` ``user`` (no query)."""
    return (
        job.tenant_id == user.tenant_id
        and job.kind in _IMPORTERS
        and user.can(_IMPORTERS[job.kind].permission)
        and (job.created_by_id == user.pk or user.can("import.manage"))
    )


def running_job(tenant_id: int) -> ImportJob | None:
    return (
        ImportJob.objects.filter(tenant_id=tenant_id, status__in=ImportJob.RUNNING)
        .select_related("created_by")
        .first()
    )


def undo_deadline(job: ImportJob) -> datetime.datetime | None:
    if job.finished_at is None:
        return None
    return job.finished_at + datetime.timedelta(days=UNDO_DAYS)


def may_undo(job: ImportJob, now: datetime.datetime | None = None) -> bool:
    deadline = undo_deadline(job)
    return _applied(job) and deadline is not None and (now or timezone.now()) < deadline


def _applied(job: ImportJob) -> bool:
    """Finished, or stopped by an error after some batches were written."""
    return job.status == ImportJob.Status.DONE or (
        job.status == ImportJob.Status.FAILED
        and job.checked_at is not None
        and job.progress_done > 0
    )


def column_names(columns: list[Column]) -> dict[str, str]:
    """Every name a column answers to (its label in each language, its aliases), folded,
    mapped to the column key."""
    from django.utils import translation

    from crm.spreadsheets import clean_header

    names: dict[str, str] = {}
    for column in columns:
        labels = {str(column.label), *column.aliases}
        for language in ("en", "zh-hans"):
            with translation.override(language):
                labels.add(str(column.label))
        for label in labels:
            names[clean_header(label).casefold()] = column.key
    return names


def _auto_match(headers: list[str], columns: list[Column]) -> tuple[dict[int, str], dict[int, int]]:
    """Automatic recognition: column index -> key for each header naming a column, and the
    later columns naming a key an earlier one took (index -> the earlier index): the first
    gets the field, the others are left unmapped (``resolve_mapping`` notes why)."""
    from crm.spreadsheets import clean_header

    names = column_names(columns)
    found: dict[int, str] = {}
    taken: dict[str, int] = {}
    repeats: dict[int, int] = {}
    for index, header in enumerate(headers):
        key = names.get(clean_header(header).casefold()) if header else None
        if key is None:
            continue
        if key in taken:
            repeats[index] = taken[key]
        else:
            taken[key] = index
            found[index] = key
    return found, repeats


def match_headers(headers: list[str], columns: list[Column]) -> tuple[dict[str, int], list[str]]:
    """Column key -> index in the sheet, and the headers that match no column. A header
    naming a column an earlier header took is left out (the first one gets the field)."""
    found, _repeats = _auto_match(headers, columns)
    unknown = [h for i, h in enumerate(headers) if h and i not in found and i not in _repeats]
    return {key: index for index, key in found.items()}, unknown


# ---------------------------------------------------------------- the column mapping (issue 17)

MAPPING_SAMPLES = 3


def header_signature(headers: list[str]) -> str:
    """The key a remembered mapping is found by: a hash of the header row as the reader
    cleaned it (``crm.spreadsheets.clean_header``, folded), blank columns at the end left
    out. The order counts: a mapping names the columns by their index."""
    from crm.spreadsheets import clean_header

    cleaned = [clean_header(h).casefold() for h in headers]
    while cleaned and not cleaned[-1]:
        cleaned.pop()
    return hashlib.sha256("\x1f".join(cleaned).encode()).hexdigest()


def _remembered_mapping(job: ImportJob, headers: list[str]) -> dict[str, str] | None:
    from crm.models import ImportMapping

    found = (
        ImportMapping.objects.filter(
            tenant_id=job.tenant_id, kind=job.kind, signature=header_signature(headers)
        )
        .values_list("mapping", flat=True)
        .first()
    )
    return found if isinstance(found, dict) else None


def resolve_mapping(
    job: ImportJob, headers: list[str], columns: list[Column]
) -> tuple[dict[str, int], list[dict]]:
    """Which column of the file goes to which field: the user's mapping
    (``job.options["mapping"]``, set by :func:`import_remap`), else the mapping remembered
    for the tenant, the kind and this header row (:class:`crm.models.ImportMapping`), else
    automatic recognition (the headers matched by name, :func:`column_names`).

    Returns key -> column index (as :func:`match_headers`) and a description of every column
    of the file for the mapping step: ``{index, header, key ("" = 不导入), source, note}``,
    ``source`` being ``auto``, ``remembered``, ``user`` (the user changed it) or ``none``.
    A field two columns name goes to the first one; the later ones are left out with a note.

    PERF: once per file (one query at most), never per row."""
    keys = {c.key for c in columns}
    auto, repeats = _auto_match(headers, columns)
    user = job.options.get("mapping") if isinstance(job.options, dict) else None
    remembered = None if isinstance(user, dict) else _remembered_mapping(job, headers)

    def by_index(stored: dict) -> dict[int, str]:
        chosen: dict[int, str] = {}
        for index in range(len(headers)):
            key = stored.get(str(index)) or ""
            if key in keys:
                chosen[index] = key
        return chosen

    # The user's choices are compared with automatic recognition ("user": changed by hand).
    if remembered is not None:
        baseline, base_source = by_index(remembered), "remembered"
    else:
        baseline, base_source = auto, "auto"
    chosen = by_index(user) if isinstance(user, dict) else baseline

    mapping: dict[str, int] = {}
    described: list[dict] = []
    for index, header in enumerate(headers):
        key = chosen.get(index, "")
        note = ""
        if key and key in mapping:
            note = _("Same field as column %(column)d; not imported.") % {
                "column": mapping[key] + 1
            }
            key = ""
        elif key:
            mapping[key] = index
        elif index in repeats:
            note = _("Same field as column %(column)d; not imported.") % {
                "column": repeats[index] + 1
            }
        if chosen is not baseline and key != baseline.get(index, ""):
            source = "user"
        elif key:
            source = base_source
        else:
            source = "none"
        described.append(
            {"index": index, "header": header, "key": key, "source": source, "note": note}
        )
    return mapping, described


def _mapping_summary(sheet, columns: list[Column], described: list[dict]) -> list[dict]:
    """The mapping step's rows: the described columns with their field's label, the header
    as written and the first values (blank columns without a header or a value left out)."""
    from crm.spreadsheets import cell_text, formula_without_value

    labels = {c.key: str(c.label) for c in columns}
    raw = list(getattr(sheet, "raw_headers", []) or [])
    first = [values for _row, values in sheet.rows[:MAPPING_SAMPLES]]
    shown: list[dict] = []
    for column in described:
        index = column["index"]
        samples = []
        for values in first:
            value = values[index] if index < len(values) else ""
            # A formula without a cached value is shown empty (its row says why).
            text = "" if formula_without_value(value) else cell_text(value)
            if text:
                samples.append(text[:60])
        if not column["header"] and not column["key"] and not samples:
            continue
        written = raw[index] if index < len(raw) and raw[index] else column["header"]
        shown.append(
            {
                **column,
                "header": cell_text(written) if written else "",
                "label": labels.get(column["key"], ""),
                "samples": samples,
            }
        )
    return shown


def _missing_message(missing: list[str]) -> str:
    return _("Choose a column for %(fields)s in “Column mapping”.") % {"fields": "、".join(missing)}


def _remember_mapping(job: ImportJob, actor: User | None, mapping: dict[str, str]) -> None:
    """Keep ``mapping`` as the tenant's mapping of this header row (one upsert)."""
    from crm.models import ImportMapping

    summary = job.summary or {}
    signature = summary.get("mapping_signature")
    if not signature:
        return
    ImportMapping.objects.update_or_create(
        tenant_id=job.tenant_id,
        kind=job.kind,
        signature=signature,
        defaults={
            "mapping": mapping,
            "headers": [c.get("header", "") for c in summary.get("mapping_columns", [])],
            "updated_by": actor,
        },
    )


def _mapping_in_use(job: ImportJob) -> dict[str, str]:
    return {str(c["index"]): c["key"] for c in (job.summary or {}).get("mapping_columns", [])}


# ---------------------------------------------------------------- the importer's reach

# The reason of a row whose existing record the importer may not edit (issue 14): it never
# names the record, which the importer may not even see.
OUT_OF_REACH = gettext_lazy("Already exists, owned by someone else")


def _id_chunks(ids: list[int]):
    # SQLite's limit on bound parameters is lower than PostgreSQL's.
    size = 900 if connection.vendor == "sqlite" else 5000
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def records_in_reach(
    actor: User,
    queryset: QuerySet,
    ids,
    fields: tuple[str, ...] = (),
    *,
    pool_admin_groups: list[int] | None,
) -> dict[int, dict]:
    """The rows of ``queryset`` (an owned model) among ``ids`` that ``actor`` may see, by id:
    the ``fields`` asked for and ``editable``. Rows ``actor`` may not see are left out.

    Editable, as ``crm.visibility.can_edit`` decides for one row: the data scope covers the
    owner (scope ``all``: every row, pooled ones included), or the actor is a participant
    holding the object grant ``<app>.change_<model>``. A pooled row (no owner) is editable
    by the admins of its pool group: ``pool_admin_groups``, the ids of the groups of the
    model's kind the actor administers (``None``: every group, the kind's pool managers),
    which the caller supplies from the pools app. A member who merely sees a pooled row
    may claim it, not overwrite it.

    PERF: set-based for the 100,000 rows of a large import: one query per chunk of ids
    through crm.visibility's conditions, plus one per chunk of the visible rows not yet
    editable for the grants; with scope ``all`` and no ``fields`` asked for, none."""
    from crm.visibility import edit_permission, owner_scope, participants_relation, visible_to

    ids = sorted(set(ids))
    found: dict[int, dict] = {}
    if not ids or not actor.is_active or actor.tenant_id is None:
        return found
    scope = owner_scope(actor)
    if scope.is_all and not fields:
        return {pk: {"editable": True} for pk in ids}
    model = queryset.model
    pooled = any(f.name == "pooled_at" for f in model._meta.get_fields())
    columns = ["pk", "owner_id", *(("pooled_at", "pool_group_id") if pooled else ()), *fields]
    admin_groups = None if pool_admin_groups is None else set(pool_admin_groups)
    visible = visible_to(actor, queryset)
    pending: list[int] = []
    for chunk in _id_chunks(ids):
        for values in visible.filter(pk__in=chunk).values_list(*columns):
            row = dict(zip(columns, values, strict=True))
            editable = scope.covers(row["owner_id"]) or (
                pooled
                and row["owner_id"] is None
                and row["pooled_at"] is not None
                and (admin_groups is None or row["pool_group_id"] in admin_groups)
            )
            row["editable"] = editable
            found[row["pk"]] = row
            if not editable:
                pending.append(row["pk"])
    if pending and participants_relation(model) is not None:
        from guardian.utils import get_user_obj_perms_model

        grants = get_user_obj_perms_model(model)
        codename = edit_permission(model).split(".", 1)[1]
        for chunk in _id_chunks(pending):
            for pk in grants.objects.filter(
                tenant_id=actor.tenant_id,
                user_id=actor.pk,
                permission__codename=codename,
                permission__content_type__app_label=model._meta.app_label,
                content_object_id__in=chunk,
            ).values_list("content_object_id", flat=True):
                found[pk]["editable"] = True
    return found


# ---------------------------------------------------------------- stage 1: upload and check


def _busy_message(tenant_id: int) -> str:
    job = running_job(tenant_id)
    if job is None:
        return _("Another import is running; try again in a moment.")
    return _(
        "%(name)s is importing “%(file)s” (started %(time)s); try again when it has finished."
    ) % {
        "name": str(job.created_by),
        "file": job.original_name,
        "time": date_format(timezone.localtime(job.started_at or job.created_at), "H:i"),
    }


def import_start(*, actor: User, kind: str, upload, options: dict) -> ImportJob:
    """Save the uploaded file as a job and check it (the preview). Refused when the user
    lacks the permission, the options are wrong, the file is unusable at first sight, or
    another import of the tenant is running."""
    importer = importer_for(kind)
    if not actor.can(importer.permission):
        raise PermissionRefusedError()
    name = (getattr(upload, "name", "") or "upload").rsplit("/", 1)[-1][:200]
    if not name.lower().endswith(ALLOWED_EXTENSIONS):
        raise ServiceError(
            _(
                "Upload an Excel (.xlsx, .xls), WPS (.et), OpenDocument (.ods) or CSV file; "
                "“%(name)s” is none of them."
            )
            % {"name": name},
            code="file_type",
        )
    limit = settings.IMPORT_MAX_BYTES
    if upload.size > limit:
        raise ServiceError(
            _("The file is larger than %(mb)d MB; split it into several files.")
            % {"mb": limit // (1024 * 1024)},
            code="too_large",
        )
    if upload.size == 0:
        raise ServiceError(_("The file is empty."), code="empty")
    clean = importer.clean_options(actor, options)
    now = timezone.now()
    try:
        with transaction.atomic():
            job = ImportJob(
                tenant_id=actor.tenant_id,
                kind=kind,
                status=ImportJob.Status.VALIDATING,
                created_by=actor,
                original_name=name,
                options=clean,
                started_at=now,
                heartbeat_at=now,
            )
            # The name on disk is random (crm.models.job_file_path); ``original_name`` is
            # the one shown and sent back.
            job.file.save(name, upload, save=False)
            job.save()
    except IntegrityError as exc:
        # The row was rolled back; its file must not stay behind.
        job.file.delete(save=False)
        raise ImportBusyError(_busy_message(actor.tenant_id), code="busy") from exc
    if upload.size <= settings.IMPORT_SYNC_BYTES:
        import_check(job.pk)
        job.refresh_from_db()
    else:
        from crm.tasks import import_check_task

        transaction.on_commit(lambda: import_check_task.delay(job.tenant_id, job.pk))
    return job


def _progress(job_id: int):
    """A callback the stages report progress with (one UPDATE every call)."""

    def report(done: int, total: int | None = None) -> None:
        fields = {"progress_done": done, "heartbeat_at": timezone.now()}
        if total is not None:
            fields["progress_total"] = total
        ImportJob.objects.filter(pk=job_id).update(**fields)

    return report


_gc_lock = threading.Lock()
_gc_holders = 0
_gc_was_enabled = False


@contextlib.contextmanager
def _without_cyclic_gc():
    """PERF: the stages hold 100,000s of rows (lists, dicts, strings, none of them in a
    reference cycle) while they allocate more; the cyclic garbage collector would walk them
    all again at every full collection: a third of the check's time (bench/import_pool.py).
    Reference counting still frees everything; the collector resumes when the last stage
    running in the process ends (it is one switch for all threads: counted, so that
    overlapping stages in threads never leave it off)."""
    global _gc_holders, _gc_was_enabled
    with _gc_lock:
        if _gc_holders == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_holders += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_holders -= 1
            if _gc_holders == 0 and _gc_was_enabled:
                gc.enable()


@_without_cyclic_gc()
def import_check(job_id: int) -> None:
    """Stage 1 (worker or request): read, validate and plan; the job ends PREVIEWED or
    FAILED. Nothing but the job and its files is written."""
    from crm.spreadsheets import SpreadsheetError, read_sheet

    job = ImportJob.objects.get(pk=job_id)
    if job.status != ImportJob.Status.VALIDATING:
        return
    if not _begin_reading(job):
        return
    importer = importer_for(job.kind)
    try:
        with job.file.open("rb") as handle:
            data = handle.read()
        columns = importer.columns(job.tenant_id)
        known = _known_headers(columns)
        language = translation.get_language()

        def read(content: bytes):
            with translation.override(language):
                return read_sheet(
                    content, job.original_name, known_headers=known, max_rows=importer.max_rows
                )

        # PERF: calamine parses the file without holding the GIL; the importer reads what
        # it needs from the database (the tenant's existing keys) meanwhile.
        with ThreadPoolExecutor(max_workers=1) as pool:
            reading = pool.submit(read, data)
            prefetched = importer.prefetch(job, size=len(data))
            sheet = reading.result()
        del data
        mapping, described = resolve_mapping(job, sheet.headers, columns)
        mapping_columns = _mapping_summary(sheet, columns, described)
        unknown = [c["header"] for c in mapping_columns if not c["key"] and c["source"] == "none"]
        required = importer.required_keys(job)
        missing = [
            str(c.label)
            for c in columns
            if (c.required or c.key in required) and c.key not in mapping
        ]
        head = {
            "header_row": sheet.header_row,
            "sheet": getattr(sheet, "sheet_name", "") or "",
            "unknown_columns": unknown,
            "columns": [str(c.label) for c in columns if c.key in mapping],
            "mapping_columns": mapping_columns,
            "mapping_signature": header_signature(sheet.headers),
            "mapping_width": len(sheet.headers),
        }
        if missing:
            # Not a failure: the mapping step shows the file's columns with the reason, and
            # nothing can be confirmed until a column is chosen (import_remap).
            _mapping_refused(job, head, len(sheet.rows), _missing_message(missing))
            return
        progress = _progress(job.pk)
        progress(0, len(sheet.rows))
        plan = importer.check(job, sheet, mapping, progress, prefetched=prefetched)
        # The rejected rows keep their cells; the sheet's are not needed any more (memory:
        # the plan is serialised next).
        total = len(sheet.rows)
        sheet.rows = []
        del prefetched
    except (SpreadsheetError, DomainError) as exc:
        _fail(job, str(exc.message))
        return
    except Exception:
        logger.exception("import %s: the check failed", job.pk)
        _fail(job, _("The file could not be checked because of an internal error."))
        return
    summary = {
        **plan.counts(),
        "total": total,
        **head,
        "rejected_preview": [[row, reason] for row, _cells, reason in plan.rejected[:PREVIEW_ROWS]],
        "skipped_preview": [[row, reason] for row, reason in plan.skipped[:PREVIEW_ROWS]],
        **plan.state,
    }
    # PERF: orjson writes the 100,000 planned rows of a large file in a tenth of json's time;
    # the plan is deleted once applied, so it is not compressed either.
    payload = orjson.dumps(plan.rows, default=_json_value)
    job.plan.save("plan.json", ContentFile(payload), save=False)
    if plan.rejected:
        job.error_file.save("errors.xlsx", ContentFile(_error_file(sheet, plan)), save=False)
    job.summary = summary
    job.status = ImportJob.Status.PREVIEWED
    job.checked_at = timezone.now()
    job.progress_done = job.progress_total = total
    job.save()


def _mapping_refused(job: ImportJob, head: dict, total: int, message: str) -> None:
    """The check stops before the rows: the mapping leaves a required field without a column.
    The job is PREVIEWED without a plan (the tenant's import slot is free again), its page
    shows the mapping step with ``message``; confirming is refused until the mapping is
    fixed (:func:`import_remap`). Nothing is written."""
    job.summary = {
        "create": 0,
        "update": 0,
        "skip": 0,
        "reject": 0,
        "total": total,
        **head,
        "mapping_errors": [message],
    }
    job.message = message[:1000]
    job.status = ImportJob.Status.PREVIEWED
    job.checked_at = timezone.now()
    job.progress_done = job.progress_total = 0
    job.save()


def _reading_stopped_message() -> str:
    return _(
        "The file could not be read: the worker stopped while reading it, %(count)d times. "
        "The file may be too large or damaged: open it in Excel or WPS, save it again as "
        ".xlsx (or split it into smaller files) and upload it again."
    ) % {"count": MAX_READ_ATTEMPTS}


def _begin_reading(job: ImportJob) -> bool:
    """Count one more start of the check; False (and the job failed with a message) when
    :data:`MAX_READ_ATTEMPTS` starts before it never finished: the worker was killed while
    reading the file each time (a redelivered task, ``import_resume_stale``), so it is not
    read again and again."""
    with transaction.atomic():
        locked = ImportJob.objects.select_for_update().get(pk=job.pk)
        if locked.status != ImportJob.Status.VALIDATING:
            return False
        if locked.attempts >= MAX_READ_ATTEMPTS:
            _fail(locked, _reading_stopped_message())
            job.refresh_from_db()
            return False
        ImportJob.objects.filter(pk=job.pk).update(
            attempts=F("attempts") + 1, heartbeat_at=timezone.now()
        )
    job.refresh_from_db()
    return True


def _json_value(value):
    """The plan's cleaned values that JSON has no type for (dates, decimals)."""
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} in an import plan")


def _known_headers(columns: list[Column]) -> list[str]:
    """The names header detection looks for: the labels first (its message quotes the first
    few), then every other name, folded as the reader folds them."""
    labels = [str(c.label) for c in columns]
    return labels + [name for name in column_names(columns) if name not in labels]


def _error_file(sheet, plan: Plan) -> bytes:
    """The rejected rows as uploaded, with a 错误原因 column at the end (fix, then re-import)."""
    import io

    from crm.xlsx import write_xlsx

    headers = [*sheet.raw_headers, _("Error reason")]
    rows = ([*cells, reason] for _row, cells, reason in plan.rejected)
    buffer = io.BytesIO()
    write_xlsx(buffer, headers, rows, title=_("Rejected rows"))
    return buffer.getvalue()


def _fail(job: ImportJob, message: str) -> None:
    job.status = ImportJob.Status.FAILED
    job.message = message[:1000]
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "message", "finished_at"])


def import_cancel(*, actor: User, job: ImportJob) -> ImportJob:
    """Drop a checked import that is not wanted (nothing was written)."""
    _require(actor, job)
    updated = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.PREVIEWED).update(
        status=ImportJob.Status.CANCELLED, finished_at=timezone.now()
    )
    if not updated:
        raise ServiceError(_("Only a checked import that is not applied can be cancelled."))
    job.refresh_from_db()
    return job


def _require(actor: User, job: ImportJob) -> None:
    """The job is the actor's (or they hold import.manage) and of a kind they may import;
    otherwise it does not exist for them."""
    if job.tenant_id != actor.tenant_id:
        raise NotVisibleError(_("The record does not exist."))
    if not actor.can(importer_for(job.kind).permission):
        raise PermissionRefusedError()
    if not may_open(actor, job):
        raise NotVisibleError(_("The record does not exist."))


# ---------------------------------------------------------------- the mapping step


def import_remap(*, actor: User, job: ImportJob, mapping: dict, add_options: bool) -> ImportJob:
    """The user's column mapping for a checked import (the mapping step of the preview):
    ``mapping`` is ``{str(column index): column key, or "" for 不导入}``. Refused when the job
    is not the actor's (nor are they an ``import.manage`` holder), is not waiting for
    confirmation, or the mapping names an unknown field, gives one field two columns, or
    leaves a required field without one. Otherwise the mapping is remembered for the tenant
    and this header row, kept in the job's options (with ``add_options``: unknown option
    values are added to the tenant's lists) and the file is checked again (the dry run is
    recomputed; nothing but the job is written)."""
    _require(actor, job)
    if job.status != ImportJob.Status.PREVIEWED:
        raise ServiceError(
            _("The columns can be changed only while the import waits for confirmation."),
            code="state",
        )
    if not job.file:
        raise ServiceError(_("The uploaded file is gone; upload it again."), code="file_gone")
    summary = job.summary or {}
    importer = importer_for(job.kind)
    clean = _clean_mapping(
        importer.columns(job.tenant_id), summary, mapping, required=importer.required_keys(job)
    )
    options = {**(job.options or {}), "mapping": clean, "add_options": bool(add_options)}
    now = timezone.now()
    try:
        with transaction.atomic():
            updated = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.PREVIEWED).update(
                status=ImportJob.Status.VALIDATING,
                options=options,
                message="",
                attempts=0,
                started_at=now,
                heartbeat_at=now,
                progress_done=0,
                progress_total=0,
            )
            if updated:
                _remember_mapping(job, actor, clean)
    except IntegrityError as exc:
        raise ImportBusyError(_busy_message(actor.tenant_id), code="busy") from exc
    if not updated:
        raise ServiceError(
            _("The columns can be changed only while the import waits for confirmation."),
            code="state",
        )
    job.refresh_from_db()
    # The previous check's rows and error file describe the old mapping.
    for name in ("plan", "error_file"):
        stored = getattr(job, name)
        if stored:
            stored.delete(save=False)
    job.save(update_fields=["plan", "error_file"])
    if job.file.size <= settings.IMPORT_SYNC_BYTES:
        import_check(job.pk)
        job.refresh_from_db()
    else:
        from crm.tasks import import_check_task

        transaction.on_commit(lambda: import_check_task.delay(job.tenant_id, job.pk))
    return job


def _clean_mapping(
    columns: list[Column], summary: dict, mapping: dict, required: set[str] = frozenset()
) -> dict[str, str]:
    """``mapping`` checked against the file's columns and the importer's fields (``required``:
    the keys the job's options require besides the always required ones)."""
    fields = {c.key: c for c in columns}
    width = int(summary.get("mapping_width") or 0)
    headers = {str(c["index"]): c.get("header", "") for c in summary.get("mapping_columns", [])}
    clean: dict[str, str] = {}
    for index, key in (mapping or {}).items():
        index, key = str(index), str(key or "")
        if not index.isdigit() or int(index) >= width:
            raise ServiceError(_("The file has no such column."), code="mapping_column")
        if key and key not in fields:
            raise ServiceError(
                _("“%(key)s” is not a field of this import.") % {"key": key[:50]},
                code="mapping_field",
            )
        clean[index] = key
    by_key: dict[str, list[str]] = {}
    for index in sorted(clean, key=int):
        if clean[index]:
            by_key.setdefault(clean[index], []).append(index)
    for key, indexes in by_key.items():
        if len(indexes) > 1:
            first, second = (
                headers.get(i) or _("column %(n)d") % {"n": int(i) + 1} for i in indexes[:2]
            )
            raise ServiceError(
                _(
                    "“%(first)s” and “%(second)s” both go to “%(field)s”; "
                    "a field takes one column only."
                )
                % {"first": first, "second": second, "field": str(fields[key].label)},
                code="mapping_twice",
            )
    missing = [
        str(c.label) for c in columns if (c.required or c.key in required) and c.key not in by_key
    ]
    if missing:
        raise ServiceError(_missing_message(missing), code="mapping_required")
    return clean


# ---------------------------------------------------------------- stage 2: apply


def import_confirm(*, actor: User, job: ImportJob) -> ImportJob:
    """Apply the checked plan (the preview's result, not a second check)."""
    _require(actor, job)
    if job.status != ImportJob.Status.PREVIEWED:
        raise ServiceError(_("This import is not waiting for confirmation."), code="state")
    errors = (job.summary or {}).get("mapping_errors")
    if errors:
        raise ServiceError(errors[0], code="mapping")
    if not job.plan:
        raise ServiceError(_("The checked rows of this import are gone; upload the file again."))
    now = timezone.now()
    try:
        with transaction.atomic():
            updated = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.PREVIEWED).update(
                status=ImportJob.Status.APPLYING,
                started_at=now,
                heartbeat_at=now,
                progress_done=0,
                progress_total=job.summary.get("create", 0) + job.summary.get("update", 0),
            )
    except IntegrityError as exc:
        raise ImportBusyError(_busy_message(actor.tenant_id), code="busy") from exc
    if not updated:
        raise ServiceError(_("This import is not waiting for confirmation."), code="state")
    job.refresh_from_db()
    if any(
        c.get("source") in ("user", "remembered")
        for c in (job.summary or {}).get("mapping_columns", [])
    ):
        # The mapping in use is offered for the next file with these headers. One found
        # automatically is not kept: recognition may improve, a stored copy would not.
        _remember_mapping(job, actor, _mapping_in_use(job))
    if job.progress_total <= settings.IMPORT_SYNC_ROWS:
        import_apply(job.pk)
        job.refresh_from_db()
    else:
        from crm.tasks import import_apply_task

        transaction.on_commit(lambda: import_apply_task.delay(job.tenant_id, job.pk))
    return job


def _load_plan(job: ImportJob) -> list[list]:
    with job.plan.open("rb") as handle:
        data = handle.read()
    if data[:2] == b"\x1f\x8b":  # a plan written before plans were left uncompressed
        data = gzip.decompress(data)
    return orjson.loads(data)


@_without_cyclic_gc()
def import_apply(job_id: int) -> None:
    """Stage 2 (worker or request): write the plan in batches. Each batch runs in one
    transaction that also records it in the job as done (with its counts and the progress);
    a rerun (worker restart, a second delivery of the task) writes only the batches not
    done, so no row is written twice.

    PERF: on PostgreSQL, in transactions of its own, a plan its importer allows it for
    (``Importer.parallel_apply``) has ``settings.IMPORT_APPLY_CONNECTIONS`` batches written
    at once, each on a connection of its own (threads): the server indexes one batch while
    it parses the next, where one connection leaves a core idle (bench/import_pool.py). Each
    batch is still one transaction; a batch is taken with a transaction-level advisory lock,
    so that two workers applying the same job never write the same batch."""
    job = ImportJob.objects.get(pk=job_id)
    if job.status != ImportJob.Status.APPLYING:
        return
    importer = importer_for(job.kind)
    run = _ApplyRun(job, importer, _load_plan(job))
    # Transactions of our own on PostgreSQL (not inside a caller's).
    own = connection.vendor == "postgresql" and not connection.in_atomic_block
    workers = 1
    if own and importer.parallel_apply(run.rows):
        workers = max(1, min(settings.IMPORT_APPLY_CONNECTIONS, len(run.pending)))
    try:
        importer.prepare_apply(job)
        run.go(workers, lazy_commits=own)
    except Exception:
        # The committed batches stay (and are undoable); the job is marked failed so that
        # the tenant's slot is free and the user is told.
        logger.exception("import %s: applying failed", job_id)
        failed = ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.APPLYING).update(
            status=ImportJob.Status.FAILED, finished_at=timezone.now()
        )
        if failed:  # no batch commits once the job has left APPLYING: the count is final
            done = ImportJob.objects.get(pk=job_id).progress_done
            ImportJob.objects.filter(pk=job_id).update(
                message=_(
                    "The import stopped because of an internal error after %(done)d rows; "
                    "those rows were imported and can be undone."
                )
                % {"done": done}
            )
        return
    if run.stopped:
        return
    # Whoever commits the last batch finds them all done here (each worker looks after its
    # own commits); the others leave the finishing to it.
    job = ImportJob.objects.get(pk=job_id)
    if job.status == ImportJob.Status.APPLYING and run.all_done(job):
        _finish(job)


class _Stopped(Exception):
    """The job left APPLYING while a batch was written (it failed elsewhere): the batch is
    rolled back and the run ends."""


class _ApplyRun:
    """The batches of one ``import_apply`` call and the workers that write them.

    The plan's rows are cut into batches of ``size`` rows from row ``start`` (both kept in
    the job's summary under ``batches`` with the indexes done, so that a rerun cuts them the
    same way; ``start`` is the progress of a job whose apply began before batches were
    recorded: its rows before it were written)."""

    def __init__(self, job: ImportJob, importer: Importer, rows: list[list]) -> None:
        self.job_id = job.pk
        self.tenant_id = job.tenant_id
        self.importer = importer
        self.rows = rows
        layout = job.summary.get("batches") or {
            "start": job.progress_done,
            "size": importer.batch_size,
            "done": [],
        }
        self.start, self.size = layout["start"], layout["size"]
        self.count = -(-max(0, len(rows) - self.start) // self.size)
        done = set(layout["done"])
        self.pending = [i for i in range(self.count) if i not in done]
        self.stopped = False
        self.lazy_commits = False
        self._queue = iter(self.pending)
        self._lock = threading.Lock()
        self._language = translation.get_language()

    def all_done(self, job: ImportJob) -> bool:
        return len(_done_batches(job.summary)) >= self.count

    def go(self, workers: int, lazy_commits: bool) -> None:
        """Write the pending batches with ``workers`` connections: this thread's and
        ``workers - 1`` threads'. The first exception stops every worker after its current
        batch and is raised here."""
        self.lazy_commits = lazy_commits
        if workers <= 1:
            self._work()
            return
        failures: list[BaseException] = []

        def thread_main() -> None:
            # A thread starts without the caller's tenant scope and language (context
            # variables and thread-locals): both are set again, the scope to the job's
            # tenant; the thread's connection is closed when it ends.
            try:
                with tenant_scope(self.tenant_id), translation.override(self._language):
                    self._work()
            except BaseException as exc:  # re-raised in the calling thread
                failures.append(exc)
                self.stopped = True
            finally:
                connection.close()

        threads = [
            threading.Thread(target=thread_main, name=f"import-{self.job_id}-{n}", daemon=True)
            for n in range(1, workers)
        ]
        for thread in threads:
            thread.start()
        try:
            self._work()
        except BaseException:
            self.stopped = True
            for thread in threads:
                thread.join()
            raise
        for thread in threads:
            thread.join()
        if failures:
            raise failures[0]

    def _next(self) -> int | None:
        with self._lock:
            if self.stopped:
                return None
            return next(self._queue, None)

    def _work(self) -> None:
        while (index := self._next()) is not None:
            try:
                self._write(index)
            except _Stopped:
                self.stopped = True
                return

    def _write(self, index: int) -> None:
        """Write batch ``index`` in one transaction, unless another worker has it."""
        first = self.start + index * self.size
        batch = self.rows[first : first + self.size]
        with transaction.atomic():
            if self.lazy_commits:
                # PERF: a batch's commit need not wait for its WAL to reach the disk (tens
                # of MB per 10,000 rows): a crash can only lose whole batches, their record
                # with them, and a resumed import writes them again. _finish commits
                # normally, which makes every batch before it durable too.
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
            if not _take_batch(self.job_id, index):
                return  # another worker is writing it; it finishes the job if it is last
            job = ImportJob.objects.get(pk=self.job_id)
            if job.status != ImportJob.Status.APPLYING:
                raise _Stopped
            layout = job.summary.get("batches")
            if layout and (layout["start"], layout["size"]) != (self.start, self.size):
                # Another worker (another release, another batch size) cut the plan before
                # this one recorded anything: it goes on, this run gives way.
                raise _Stopped
            if index in _done_batches(job.summary):
                return
            result = self.importer.apply(job, batch)
            # The job's row is locked for the update only (FOR NO KEY UPDATE: the batch's
            # rows hold a key-share lock on it, which a plain FOR UPDATE would wait for in
            # the other workers' transactions), and re-read: another batch may have
            # committed meanwhile.
            job = ImportJob.objects.select_for_update(no_key=True).get(pk=self.job_id)
            if job.status != ImportJob.Status.APPLYING:
                raise _Stopped
            summary = dict(job.summary)
            for key in ("created", "updated", "skipped", "failed"):
                summary[key] = summary.get(key, 0) + result.get(key, 0)
            errors = summary.setdefault("late_errors", [])
            errors.extend(result.get("errors", [])[: max(0, 200 - len(errors))])
            self.importer.merge_state(summary, result.get("state", {}))
            summary["batches"] = {
                "start": self.start,
                "size": self.size,
                "done": sorted({*_done_batches(summary), index}),
            }
            job.summary = summary
            job.progress_done += len(batch)
            job.heartbeat_at = timezone.now()
            job.save(update_fields=["summary", "progress_done", "heartbeat_at"])


def _done_batches(summary: dict) -> list[int]:
    """The indexes of the batches a job has written (``_ApplyRun``), sorted, no repeats."""
    return (summary.get("batches") or {}).get("done", [])


def _take_batch(job_id: int, index: int) -> bool:
    """Whether this transaction may write batch ``index`` of the job: on PostgreSQL it takes
    a transaction-level advisory lock (one bigint key: job id × 2^20 + batch; the only other
    advisory lock, the product category moves', takes two int keys, a key space PostgreSQL
    keeps apart) and answers False if another transaction holds it. Elsewhere
    (SQLite) the transaction holds the database's write lock already."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [job_id * 2**20 + index])
        return cursor.fetchone()[0]


def _finish(job: ImportJob) -> None:
    summary = dict(job.summary)
    # The preview's skipped and rejected rows count in the result too.
    summary["skipped"] = summary.get("skipped", 0) + summary.get("skip", 0)
    summary["failed"] = summary.get("failed", 0) + summary.get("reject", 0)
    now = timezone.now()
    with transaction.atomic():
        updated = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.APPLYING).update(
            status=ImportJob.Status.DONE, finished_at=now, summary=summary
        )
        if not updated:
            return
        job.refresh_from_db()
        counts = {k: summary.get(k, 0) for k in ("created", "updated", "skipped", "failed")}
        activity.activity_record(
            actor=job.created_by,
            target=job,
            action=IMPORT_APPLIED,
            changes={k: ["", str(v)] for k, v in counts.items()},
            note=job.original_name,
        )
        notification_send(
            tenant_id=job.tenant_id,
            recipients=[job.created_by],
            title=_(
                "Import of “%(file)s” finished: %(created)d created, %(updated)d updated, "
                "%(skipped)d skipped, %(failed)d failed"
            )
            % {"file": job.original_name, **counts},
            link=f"/imports/{job.pk}/",
        )
    # The plan is applied; it is not needed any more.
    if job.plan:
        job.plan.delete(save=True)


# ---------------------------------------------------------------- undo and housekeeping


def import_undo(*, actor: User, job: ImportJob) -> dict:
    """撤销导入: remove the records the import created and restore what it overwrote, where
    nobody touched them since; the report says what could not be undone and why."""
    _require(actor, job)
    if not may_undo(job):
        raise ServiceError(
            _("Only a finished import of the last %(days)d days can be undone.")
            % {"days": UNDO_DAYS},
            code="undo_expired",
        )
    importer = importer_for(job.kind)
    with transaction.atomic():
        locked = ImportJob.objects.select_for_update().get(pk=job.pk)
        if not _applied(locked):
            raise ServiceError(_("This import was undone already."), code="state")
        report = importer.undo(locked, actor)
        summary = dict(locked.summary)
        summary["undo"] = report
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.UNDONE,
            undone_at=timezone.now(),
            undone_by=actor,
            summary=summary,
        )
        locked.refresh_from_db()
        activity.activity_record(
            actor=actor,
            target=locked,
            action=IMPORT_UNDONE,
            changes={
                "removed": ["", str(report.get("removed", 0))],
                "restored": ["", str(report.get("restored", 0))],
                "kept": ["", str(len(report.get("kept", [])))],
            },
            note=locked.original_name,
        )
    job.refresh_from_db()
    return report


def import_resume_stale(*, now: datetime.datetime | None = None, minutes: int = 10) -> int:
    """Restart the jobs whose worker went away (no progress for ``minutes``): the stage
    resumes where its last batch committed. A check begun :data:`MAX_READ_ATTEMPTS` times
    already is not restarted: the job fails with a message (the file killed the worker)."""
    from crm.tasks import import_apply_task, import_check_task

    cutoff = (now or timezone.now()) - datetime.timedelta(minutes=minutes)
    count = 0
    for job in ImportJob.objects.filter(status__in=ImportJob.RUNNING, heartbeat_at__lt=cutoff):
        if job.status == ImportJob.Status.VALIDATING and job.attempts >= MAX_READ_ATTEMPTS:
            ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.VALIDATING).update(
                status=ImportJob.Status.FAILED,
                message=_reading_stopped_message(),
                finished_at=timezone.now(),
            )
            continue
        ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())
        task = import_check_task if job.status == ImportJob.Status.VALIDATING else import_apply_task
        task.delay(job.tenant_id, job.pk)
        count += 1
    return count


def import_purge_files(*, now: datetime.datetime | None = None) -> int:
    """Delete the uploads, plans and error files older than :data:`FILE_RETENTION_DAYS` (the
    jobs stay as the import history)."""
    cutoff = (now or timezone.now()) - datetime.timedelta(days=FILE_RETENTION_DAYS)
    count = 0
    old = ImportJob.objects.filter(created_at__lt=cutoff).exclude(status__in=ImportJob.RUNNING)
    for job in old.exclude(file="", plan="", error_file=""):
        for name in ("file", "plan", "error_file"):
            stored = getattr(job, name)
            if stored:
                stored.delete(save=False)
                count += 1
        job.save(update_fields=["file", "plan", "error_file"])
    return count
