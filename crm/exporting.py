"""Exports to .xlsx (DESIGN §8): the selected or the filtered rows of a list, only what the
user may see.

A module registers each kind of export it offers (customers: customers, contacts and
follow-ups; pools: the pool) with :func:`register`. A kind turns (actor, the list's query
string, the selected ids) into an :class:`ExportSource`: the rows the list shows the actor,
in the list's order, and the columns to write. The same function serves the request and the
worker, so a file always holds what the list showed, rebuilt as the job's creator.

* ``export_start`` (the service behind every 导出 button) checks the kind's permission, builds
  the source (selected ids that are missing or invisible refuse the whole export, as the
  batch actions do), records an :class:`~crm.models.ExportJob` and counts the rows with a
  capped count. Up to ``EXPORT_SYNC_ROWS`` rows the file is built in the request and
  returned as the download; larger exports go to a worker (``export_run_task``).
* ``export_run`` (the worker) re-checks the permission and the visibility as the creator,
  streams the rows into ``job.file`` and notifies the creator with the download link.
* ``export_purge`` deletes the files and jobs older than ``EXPORT_RETENTION_DAYS``.

Every finished export writes one activity-log entry on its job: the kind and the row count.
Every cell goes through :func:`crm.xlsx.neutralise` (formula injection).
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.files import File
from django.db import models, transaction
from django.db.models import QuerySet
from django.http import Http404, HttpResponse, QueryDict
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.http import content_disposition_header
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from crm import activity, masking
from crm.exceptions import DomainError, PermissionRefusedError, ServiceError
from crm.models import ExportJob, User
from crm.services import notification_send
from crm.xlsx import XLSX_CONTENT_TYPE, write_xlsx

logger = logging.getLogger(__name__)

EXPORT_PERMISSION = "customer.export"
# PERF: rows are read from the database in chunks of this size (prefetches run per chunk).
CHUNK_SIZE = 2000
# The batch bar ticks the rows of one page; more ids than this is not a list selection.
MAX_SELECTED = 1000
# What a column hidden from the user (crm.masking: pool rules) shows instead of the value.
MASK = masking.MASK

EXPORT_CREATED = activity.register_action("export.created", gettext_lazy("exported"))


# ---------------------------------------------------------------- kinds and sources


@dataclass(frozen=True)
class Column:
    """One column of an export: its header and how to read a row's value."""

    header: str | Promise
    value: Callable[[Any], Any]


@dataclass(frozen=True)
class ExportSource:
    """What one export writes: ``queryset`` (visibility applied, in the list's order, with
    its joins and prefetches: a fixed number of queries per chunk of rows) and the
    ``columns``."""

    queryset: QuerySet
    columns: Sequence[Column]

    def headers(self) -> list[str]:
        return [str(c.header) for c in self.columns]

    def rows(self) -> Iterator[list]:
        columns = self.columns
        for obj in self.queryset.iterator(chunk_size=CHUNK_SIZE):
            yield [column.value(obj) for column in columns]


@dataclass(frozen=True)
class ExportKind:
    """A kind of export. ``source(actor=, query=, ids=)`` builds its :class:`ExportSource`
    (``ids`` None: the filtered list; a list: those rows, refused as a whole by
    :func:`only_selected` when any is not visible); ``list_url`` names the list's URL;
    ``permission`` is the code exporting it needs."""

    code: str
    label: str | Promise
    source: Callable[..., ExportSource]
    list_url: str
    permission: str = EXPORT_PERMISSION


_KINDS: dict[str, ExportKind] = {}


def register(kind: ExportKind) -> ExportKind:
    if kind.code in _KINDS:
        raise ValueError(f"export kind {kind.code!r} is registered twice")
    if len(kind.code) > ExportJob._meta.get_field("kind").max_length:
        raise ValueError(f"export kind {kind.code!r} is too long")
    _KINDS[kind.code] = kind
    return kind


def permissions() -> tuple[str, ...]:
    """The codes that export something (any of them opens 我的导出)."""
    return tuple(sorted({kind.permission for kind in _KINDS.values()}))


def may_export(user) -> bool:
    return any(user.can(code) for code in permissions())


def kind_for(code: str) -> ExportKind:
    try:
        return _KINDS[code]
    except KeyError as exc:
        raise ValueError(f"unknown export kind {code!r}") from exc


def kind_label(code: str) -> str | Promise:
    kind = _KINDS.get(code)
    return kind.label if kind else code


@dataclass(frozen=True)
class ListRequest:
    """What the list pages' filters read from a request (``user``, ``GET``), for rebuilding
    a list outside a request (the worker)."""

    user: User
    GET: QueryDict


def list_sort(query: QueryDict, sorts, default: str) -> str:
    """The list's sort as ``query`` names it, if it is one of ``sorts``; else ``default``."""
    sort = query.get("sort") or default
    return sort if sort in sorts else default


def list_filtered(filter_class, *, actor: User, query: QueryDict, base, without=()):
    """``base`` filtered as the list page filters it by ``query`` (``filter_class``, less the
    filters named in ``without``); unfiltered when the query does not validate."""
    filterset = filter_class(
        query or None, queryset=base, request=ListRequest(user=actor, GET=query)
    )
    for name in without:
        filterset.filters.pop(name, None)
    return filterset.qs if filterset.is_bound and filterset.is_valid() else base


def not_visible(missing: int) -> ServiceError:
    """The refusal of a selection with ``missing`` rows the actor may not see (or that do
    not exist: nothing tells them apart), as the batch actions refuse theirs."""
    return ServiceError(
        ngettext(
            "%(count)d selected row does not exist or is not visible to you; nothing was exported.",
            "%(count)d selected rows do not exist or are not visible to you; nothing was exported.",
            missing,
        )
        % {"count": missing},
        code="not_visible",
    )


def only_selected(queryset: QuerySet, ids: Sequence[int]) -> QuerySet:
    """``queryset`` restricted to ``ids``, refused as a whole (a ServiceError) when any id
    is missing from it: not in the tenant, invisible, or not of this list."""
    wanted = set(ids)
    selected = queryset.filter(pk__in=wanted)
    found = selected.order_by().values("pk").count()
    if found != len(wanted):
        missing = len(wanted) - found
        raise not_visible(missing)
    return selected


# ---------------------------------------------------------------- columns


def yes_no(value: bool) -> str:
    return str(_("Yes") if value else _("No"))


def field_column(
    model: type[models.Model], name: str, value: Callable[[Any], Any] | None = None
) -> Column:
    """A column headed by the field's (translated) verbose name. Without ``value``: option
    and other foreign keys as their names, choices as their labels, booleans as 是/否,
    dates and times as they are (written as local time)."""
    field = model._meta.get_field(name)
    if value is None:
        if getattr(field, "choices", None):
            display = f"get_{name}_display"

            def value(obj):
                return getattr(obj, display)()

        elif field.is_relation and field.many_to_one:

            def value(obj):
                related = getattr(obj, name)
                return str(related) if related is not None else ""

        elif isinstance(field, models.BooleanField):

            def value(obj):
                return yes_no(getattr(obj, name))

        else:

            def value(obj):
                return getattr(obj, name)

    return Column(capfirst(field.verbose_name), value)


def masked(
    column: Column,
    *,
    actor: User,
    model: type[models.Model],
    path: str,
    row: Callable[[Any], Any] | None = None,
) -> Column:
    """``column`` writing :data:`MASK` on the rows where ``actor`` may not see field ``path``
    of ``model`` (crm.masking, the rules the pages follow). ``row(obj)`` is the ``model`` row
    an exported object belongs to (a contact's customer); the object itself by default. A
    path no rule may hide leaves the column as it is."""
    if path not in masking.maskable_paths(model):
        return column
    read = column.value

    def value(obj):
        target = row(obj) if row is not None else obj
        return MASK if masking.field_hidden(actor, target, path) else read(obj)

    return Column(column.header, value)


def tags_value(obj) -> str:
    """The prefetched tags of a row, joined the Chinese way."""
    return "、".join(tag.name for tag in obj.tags.all())


# ---------------------------------------------------------------- starting an export


@dataclass
class ExportResult:
    """What ``export_start`` did: ``content`` is the file when it was built in the request
    (None: a worker builds it)."""

    job: ExportJob
    content: bytes | None = None

    @property
    def filename(self) -> str:
        return download_name(self.job)


def require_export_permission(actor: User, permission: str = EXPORT_PERMISSION) -> None:
    if not (actor.is_active and actor.tenant_id and actor.can(permission)):
        raise PermissionRefusedError()


def parse_ids(raw: Sequence[str] | None) -> list[int] | None:
    """The ticked ids of a POST (None: no selection, the filtered list). A value that is not
    an id counts as a row that does not exist."""
    if raw is None:
        return None
    if not raw:
        raise ServiceError(_("Select at least one row."), code="empty")
    if len(raw) > MAX_SELECTED:
        raise ServiceError(
            _("Select at most %(count)d rows, or export the whole list.") % {"count": MAX_SELECTED},
            code="too_many",
        )
    ids = [int(v) for v in raw if str(v).isdigit()]
    if len(ids) != len(raw):
        missing = len(raw) - len(ids)
        # The same refusal as an invisible id: nothing tells them apart.
        raise not_visible(missing)
    return sorted(set(ids))


def capped_count(queryset: QuerySet, cap: int) -> int:
    """How many rows, counted up to ``cap + 1`` (PERF: stops early on a huge list)."""
    return queryset.order_by().values("pk")[: cap + 1].count()


@transaction.atomic
def export_start(
    *,
    actor: User,
    kind: str,
    query: str = "",
    ids: Sequence[str] | None = None,
    language: str | None = None,
) -> ExportResult:
    """Export a list for ``actor``: the filtered list (``query``, the list's own query
    string) or the selected rows (``ids``, all of them visible or nothing).

    Creates the ExportJob. Up to ``EXPORT_SYNC_ROWS`` rows the file is built now (the job is
    done, the result holds the file, one activity-log entry); larger exports are queued for
    ``export_run_task`` after the commit. Raises PermissionRefusedError without
    the kind's permission (``customer.export``, ``lead.export``), a ServiceError
    (code ``not_visible``) for missing or invisible selected rows."""
    spec = kind_for(kind)
    require_export_permission(actor, spec.permission)
    selected = parse_ids(ids)
    source = spec.source(actor=actor, query=QueryDict(query), ids=selected)
    limit = settings.EXPORT_SYNC_ROWS
    total = capped_count(source.queryset, limit)
    job = ExportJob.objects.create(
        tenant_id=actor.tenant_id,
        kind=kind,
        status=ExportJob.Status.QUEUED,
        created_by=actor,
        params={
            "query": query,
            "ids": selected,
            "language": language or translation.get_language() or settings.LANGUAGE_CODE,
        },
    )
    if total <= limit:
        buffer = BytesIO()
        count = _write(source, buffer, spec)
        _finish(job, actor, count)
        return ExportResult(job, buffer.getvalue())
    transaction.on_commit(lambda: _queue(job))
    return ExportResult(job)


def _queue(job: ExportJob) -> None:
    from crm.tasks import export_run_task

    export_run_task.delay(job.tenant_id, job.pk)


def _write(source: ExportSource, target: IO[bytes] | str, spec: ExportKind) -> int:
    return write_xlsx(target, source.headers(), source.rows(), title=str(spec.label))


def _finish(job: ExportJob, actor: User, count: int) -> None:
    job.status = ExportJob.Status.DONE
    job.row_count = count
    job.finished_at = timezone.now()
    job.message = ""
    job.save(update_fields=["status", "row_count", "finished_at", "message", "file"])
    changes: dict[str, list] = {"kind": ["", job.kind], "row_count": ["", count]}
    if job.params.get("ids"):
        changes["selected"] = ["", len(job.params["ids"])]
    if job.params.get("query"):
        changes["query"] = ["", job.params["query"]]
    activity.activity_record(
        actor=actor,
        target=job,
        action=EXPORT_CREATED,
        changes=changes,
        note=ngettext("%(kind)s: %(count)d row", "%(kind)s: %(count)d rows", count)
        % {"kind": kind_label(job.kind), "count": count},
    )


# ---------------------------------------------------------------- the worker


def export_run(job_id: int) -> None:
    """Build a queued export (the worker, inside the tenant's scope): rebuild the list from
    the job's params as its creator, re-checking the permission and the visibility, stream
    the rows into ``job.file``, then notify the creator. Idempotent: a finished job is left
    alone; a job whose worker died is built again from the start."""
    job = ExportJob.objects.filter(pk=job_id).first()
    if job is None or job.status in (ExportJob.Status.DONE, ExportJob.Status.FAILED):
        return
    ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.RUNNING)
    job.status = ExportJob.Status.RUNNING
    actor = (
        User.tenant_objects.filter(tenant_id=job.tenant_id)
        .select_related("role", "department")
        .get(pk=job.created_by_id)
    )
    params = job.params or {}
    with translation.override(params.get("language") or settings.LANGUAGE_CODE):
        try:
            # SECURITY: the creator may have lost the right or the rows since they asked.
            spec = kind_for(job.kind)
            require_export_permission(actor, spec.permission)
            source = spec.source(
                actor=actor, query=QueryDict(params.get("query") or ""), ids=params.get("ids")
            )
            with tempfile.TemporaryDirectory(prefix="tidepool-export-") as folder:
                path = Path(folder) / "export.xlsx"
                count = _write(source, str(path), spec)
                with path.open("rb") as handle:
                    job.file.save(storage_name(job), File(handle), save=False)
        except (DomainError, Http404) as exc:
            # A refusal says why; a record that is gone (or no longer visible) is "not found".
            message = str(exc.message) if isinstance(exc, ServiceError) else _("Not found.")
            _fail(job, actor, message)
            return
        except Exception:
            logger.exception("export %s failed", job.pk)
            _fail(job, actor, _("The export failed. Please try again or ask an administrator."))
            return
        _finish(job, actor, count)
        notification_send(
            tenant_id=job.tenant_id,
            recipients=[actor],
            title=_("Your export is ready: %(kind)s") % {"kind": kind_label(job.kind)},
            body=ngettext("%(count)d row", "%(count)d rows", count) % {"count": count},
            link=reverse("crm:export-download", args=[job.pk]),
        )


def _fail(job: ExportJob, actor: User, message: str) -> None:
    job.status = ExportJob.Status.FAILED
    job.message = message[:1000]
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "message", "finished_at"])
    notification_send(
        tenant_id=job.tenant_id,
        recipients=[actor],
        title=_("Your export failed: %(kind)s") % {"kind": kind_label(job.kind)},
        body=message,
        link=reverse("crm:export-list"),
    )


# ---------------------------------------------------------------- reading and downloading


def export_list(*, actor: User) -> QuerySet:
    """The actor's own exports, newest first (我的导出)."""
    return ExportJob.objects.filter(tenant_id=actor.tenant_id, created_by=actor)


def export_get_for_actor(*, actor: User, pk: int) -> ExportJob:
    """One of the actor's own exports; 404 for anybody else's, in any tenant."""
    try:
        return export_list(actor=actor).get(pk=pk)
    except ExportJob.DoesNotExist as exc:
        raise Http404 from exc


def retention_cutoff(now: datetime.datetime | None = None) -> datetime.datetime:
    return (now or timezone.now()) - datetime.timedelta(days=settings.EXPORT_RETENTION_DAYS)


def is_downloadable(job: ExportJob) -> bool:
    """A finished export whose file is kept (built by a worker, younger than the
    retention period)."""
    return (
        job.status == ExportJob.Status.DONE
        and bool(job.file)
        and job.created_at >= retention_cutoff()
    )


def expires_at(job: ExportJob) -> datetime.datetime:
    return job.created_at + datetime.timedelta(days=settings.EXPORT_RETENTION_DAYS)


def storage_name(job: ExportJob) -> str:
    """The stored file's name (ASCII; the folder is the job's unguessable token)."""
    return f"{job.kind}-{timezone.localtime(job.created_at):%Y%m%d-%H%M%S}.xlsx"


def download_name(job: ExportJob) -> str:
    """The name the browser saves: the kind in the user's language and the local time."""
    return f"{kind_label(job.kind)}-{timezone.localtime(job.created_at):%Y%m%d-%H%M}.xlsx"


def download_response(result: ExportResult) -> HttpResponse:
    response = HttpResponse(result.content, content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = content_disposition_header(True, result.filename)
    return response


# ---------------------------------------------------------------- housekeeping


def export_purge(*, tenant_id: int, now: datetime.datetime | None = None) -> int:
    """Delete the tenant's exports older than ``EXPORT_RETENTION_DAYS``: their files, then
    their rows (the activity log keeps the record of who exported what). Idempotent."""
    old = ExportJob.objects.filter(tenant_id=tenant_id, created_at__lt=retention_cutoff(now))
    for job in old.exclude(file="").only("pk", "file").iterator(chunk_size=500):
        with contextlib.suppress(FileNotFoundError):
            job.file.delete(save=False)
    deleted, _counts = old.delete()
    return deleted
