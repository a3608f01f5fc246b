"""The import start page (导入客户, and 导入线索 through the same form and view) and the customer
import's template; the job pages are crm's."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _

from crm.exceptions import ServiceError
from crm.idempotency import once
from crm.importing import importer_for, jobs_for, running_job
from crm.models import ImportJob
from crm.views.base import tenant_view
from crm.xlsx import XLSX_CONTENT_TYPE
from customers.forms import CustomerImportForm, ImportStartForm
from customers.importing import TARGET_DEPARTMENT, TARGET_OWNER, TARGET_POOL, TARGET_USERS

TARGETS = (TARGET_POOL, TARGET_USERS, TARGET_DEPARTMENT, TARGET_OWNER)


def import_start_page(
    request,
    *,
    kind: str,
    form_class: type[ImportStartForm],
    list_url: str,
    template_url: str,
    invalid_status: int = 422,
):
    """The start page of an import of ``kind``: upload and choose the target; a checked file
    leads to the job's preview page. ``?target=`` and ``?group=`` preselect the target."""
    from crm.importing import import_start

    initial = {}
    if request.GET.get("target") in TARGETS:
        initial["target"] = request.GET["target"]
    if (group := request.GET.get("group", "")).isdigit():
        initial["pool_group"] = int(group)
    form = form_class(
        request.POST or None, request.FILES or None, user=request.user, initial=initial
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                job = import_start(
                    actor=request.user,
                    kind=kind,
                    upload=form.cleaned_data["file"],
                    options=form.options(),
                )
            except ServiceError as exc:
                form.add_error(None, str(exc.message))
            else:
                return redirect("crm:import-detail", pk=job.pk)
        status = invalid_status
    context = {
        "form": form,
        "history": jobs_for(request.user).filter(kind=kind)[:10],
        "running": running_job(request.user.tenant_id),
        "list_label": importer_for(kind).label,
        "list_url": reverse(list_url),
        "template_url": reverse(template_url),
    }
    return render(request, "customers/import_start.html", context, status=status)


@tenant_view("customer.import")
@once  # a double submit makes one import job (the second is sent to the same job's page)
def import_start(request):
    # The customer page has always answered a refused upload with 200 (the lead page, newer,
    # with 422 as the style asks); kept so that neither page changes.
    return import_start_page(
        request,
        kind=ImportJob.Kind.CUSTOMERS,
        form_class=CustomerImportForm,
        list_url="customers:customer-list",
        template_url="customers:import-template",
        invalid_status=200,
    )


def import_template_download(request, *, kind: str, filename: str) -> HttpResponse:
    """The .xlsx template of ``kind``'s import, as an attachment named ``filename``."""
    body = importer_for(kind).template(request.user.tenant_id)
    response = HttpResponse(body, content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = content_disposition_header(True, filename + ".xlsx")
    return response


@tenant_view("customer.import")
def import_template(request):
    return import_template_download(
        request, kind=ImportJob.Kind.CUSTOMERS, filename=_("customer-import-template")
    )
