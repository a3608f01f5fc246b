"""Exports: what every 导出 button does (``export_response``, a POST), 我的导出 (the user's
own exports, refreshed while one is being built) and the download of a finished file (a GET:
it starts nothing)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from crm import exporting
from crm.exceptions import PermissionRefusedError, ServiceError
from crm.models import ExportJob
from crm.views.base import tenant_view

LIST_LENGTH = 50
# The fields that join a one-time token's key on the export views: the ticked rows (the
# list's batch form keeps its token while other rows are ticked).
EXPORT_ONCE_VARY = ("rows", "ids")
# 我的导出 is open to whoever may export some list.
# Every registered export kind's code (customers, leads, opportunities, products…): the
# apps register their kinds from ready(), before the URLs import this module.
EXPORT_PERMISSIONS = exporting.permissions()


def _back(request: HttpRequest, default: str) -> str:
    # SECURITY: a path of this site only ("//evil.example" and "/\evil.example" are not).
    target = request.POST.get("next") or ""
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}
    ):
        return target
    return default


def export_response(request: HttpRequest, kind: str) -> HttpResponse:
    """The body of a list's export view (decorated with ``tenant_view("customer.export")``
    and ``require_POST``).

    SECURITY: an export starts with a POST only (CSRF-protected): a link, an image or a
    prefetch on another site can never make a signed-in user build a file. The list's own
    query string rides in the form's action URL (the filters and the order). Without a
    selection the POST exports the filtered list; with ``rows=selected`` (the 导出所选
    button) or ``ids`` it exports the ticked rows, refused as a whole with a message when one
    is not visible, as the batch actions are. A small export is the response itself (the
    download); a larger one is built by a worker and the user is sent to 我的导出.

    A double click makes one export: the export views are decorated with
    ``@once(vary=EXPORT_ONCE_VARY)`` (``crm.idempotency``; the 导出 forms carry the one-time
    token), so the second POST gets the first answer, the redirect to 我的导出 (one job for the
    worker) or, for a small export, the same file (replayed for a couple of minutes only;
    building it again would log a second export and list a second job). The ticked rows
    join the key: the list's batch form keeps its token while other rows are ticked."""
    spec = exporting.kind_for(kind)
    list_url = reverse(spec.list_url)
    selecting = "ids" in request.POST or request.POST.get("rows") == "selected"
    ids = request.POST.getlist("ids") if selecting else None
    try:
        result = exporting.export_start(
            actor=request.user,
            kind=kind,
            query=request.GET.urlencode(),
            ids=ids,
            language=translation.get_language(),
        )
    except PermissionRefusedError:
        raise  # a 403, from tenant_view
    except ServiceError as exc:
        messages.error(request, str(exc.message))
        query = request.GET.urlencode()
        return redirect(_back(request, f"{list_url}?{query}" if query else list_url))
    if result.content is not None:
        return exporting.download_response(result)
    messages.info(
        request,
        _(
            "The export has more than %(count)d rows: it is being prepared. You will be "
            "notified when the file is ready to download."
        )
        % {"count": settings.EXPORT_SYNC_ROWS},
    )
    return redirect("crm:export-list")


@tenant_view(any_of=EXPORT_PERMISSIONS)
def export_list(request):
    """我的导出: the user's own exports with their status and download links. While one is
    waiting or running, the table polls itself (htmx) every few seconds."""
    jobs = list(exporting.export_list(actor=request.user)[:LIST_LENGTH])
    for job in jobs:
        job.kind_label = exporting.kind_label(job.kind)
        job.downloadable = exporting.is_downloadable(job)
        job.expires_at = exporting.expires_at(job)
    context = {
        "jobs": jobs,
        "running": any(
            j.status in (ExportJob.Status.QUEUED, ExportJob.Status.RUNNING) for j in jobs
        ),
        "retention_days": settings.EXPORT_RETENTION_DAYS,
    }
    if request.htmx and request.htmx.target == "export-jobs":
        return render(request, "crm/export_list.html#jobs", context)
    return render(request, "crm/export_list.html", context)


@tenant_view(any_of=EXPORT_PERMISSIONS)
def export_download(request, pk: int):
    """The file of one of the user's own finished exports. SECURITY: anybody else's export
    (another user's, another tenant's) is a 404, as is one whose file is gone."""
    job = exporting.export_get_for_actor(actor=request.user, pk=pk)
    if not exporting.is_downloadable(job):
        raise Http404
    try:
        handle = job.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404 from exc
    return FileResponse(handle, as_attachment=True, filename=exporting.download_name(job))
