"""The pages of an import job: preview, progress, result, error file, undo (DESIGN §8)."""

from __future__ import annotations

from django.contrib import messages
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm import importing
from crm.exceptions import ServiceError
from crm.models import ImportJob
from crm.views.base import tenant_view
from crm.xlsx import XLSX_CONTENT_TYPE


def _context(request, job: ImportJob) -> dict:
    importer = importing.importer_for(job.kind)
    summary = job.summary or {}
    percent = 0
    if job.progress_total:
        percent = min(100, int(job.progress_done * 100 / job.progress_total))
    return {
        "job": job,
        "summary": summary,
        "percent": percent,
        "importer": importer,
        "result_link": importer.result_link(job) if job.status == ImportJob.Status.DONE else "",
        "may_undo": importing.may_undo(job),
        "undo_deadline": importing.undo_deadline(job),
        "undo": _undo_report(request.user, importer, summary.get("undo")),
    }


def _undo_report(user, importer, report: dict | None) -> dict | None:
    """The undo report with the kept rows ``user`` may not see unnamed (SECURITY: a row
    kept because someone claimed or was handed it since may be out of the viewer's sight)."""
    if not report or not report.get("kept"):
        return report
    kept = report["kept"][:50]  # what the page lists
    visible = importer.visible_ids(user, [k.get("id") for k in kept])
    unnamed = _("a record you may not see")
    return {
        **report,
        "kept": [
            k if k.get("id") in visible else {"id": None, "name": unnamed, "reason": k["reason"]}
            for k in kept
        ],
    }


@tenant_view()
def import_detail(request, pk: int):
    job = importing.job_get(request.user, pk)
    return render(request, "crm/import_detail.html", _context(request, job))


@tenant_view()
def import_progress(request, pk: int):
    """The progress fragment htmx polls; when the stage is over the page reloads."""
    job = importing.job_get(request.user, pk)
    response = render(request, "crm/import_detail.html#progress", _context(request, job))
    if not job.is_running and request.htmx:
        response["HX-Refresh"] = "true"
    return response


@tenant_view()
@require_POST
def import_confirm(request, pk: int):
    job = importing.job_get(request.user, pk)
    try:
        importing.import_confirm(actor=request.user, job=job)
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect("crm:import-detail", pk=job.pk)


@tenant_view()
@require_POST
def import_cancel(request, pk: int):
    job = importing.job_get(request.user, pk)
    try:
        importing.import_cancel(actor=request.user, job=job)
        messages.success(request, _("The import was cancelled; nothing was written."))
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect("crm:import-detail", pk=job.pk)


@tenant_view()
@require_POST
def import_undo(request, pk: int):
    job = importing.job_get(request.user, pk)
    try:
        report = importing.import_undo(actor=request.user, job=job)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            _("Import undone: %(removed)d removed, %(restored)d restored, %(kept)d kept.")
            % {
                "removed": report["removed"],
                "restored": report["restored"],
                "kept": len(report["kept"]),
            },
        )
    return redirect("crm:import-detail", pk=job.pk)


@tenant_view()
def import_errors(request, pk: int):
    """The rejected rows as uploaded plus 错误原因 (kept for 7 days)."""
    job = importing.job_get(request.user, pk)
    if not job.error_file:
        raise Http404
    stem = job.original_name.rsplit(".", 1)[0]
    try:
        handle = job.error_file.open("rb")
    except FileNotFoundError as exc:
        raise Http404 from exc
    # The name on disk is random (crm.models.job_file_path); the download is named after
    # the uploaded file (RFC 5987 filename* for Chinese names).
    return FileResponse(
        handle,
        as_attachment=True,
        filename=_("%(name)s-errors.xlsx") % {"name": stem},
        content_type=XLSX_CONTENT_TYPE,
    )
