"""The pages of an import job: preview, progress, result, error file, undo (DESIGN §8)."""

from __future__ import annotations

from django.contrib import messages
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm import importing
from crm.exceptions import ServiceError
from crm.idempotency import once
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
        "mapping": _mapping_step(importer, job, summary),
    }


def _mapping_step(importer, job: ImportJob, summary: dict) -> dict | None:
    """The mapping step of a checked import: the file's columns (header, first values, the
    field each goes to and why) and the importer's fields to choose from."""
    if job.status != ImportJob.Status.PREVIEWED or not summary.get("mapping_columns"):
        return None
    return {
        "columns": summary["mapping_columns"],
        "fields": importer.columns(job.tenant_id),
        "errors": summary.get("mapping_errors") or [],
        "add_options": bool((job.options or {}).get("add_options")),
        "sheet": summary.get("sheet") or "",
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
@once
def import_remap(request, pk: int):
    """The mapping step's form: ``col-<index>`` = a field key or "" (不导入) for each column
    of the file, ``add_options``; the file is checked again with it."""
    job = importing.job_get(request.user, pk)
    mapping = {name[4:]: value for name, value in request.POST.items() if name.startswith("col-")}
    try:
        job = importing.import_remap(
            actor=request.user,
            job=job,
            mapping=mapping,
            add_options=request.POST.get("add_options") == "on",
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        if job.status == ImportJob.Status.PREVIEWED and not job.summary.get("mapping_errors"):
            messages.success(request, _("The file was checked again with these columns."))
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
