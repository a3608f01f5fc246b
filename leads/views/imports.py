"""The lead import's start page and template (导入线索, the customer import's page worded for
leads), and the lead export (导出线索). The import job's pages (preview, progress, result,
error file, undo) are crm's."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm.idempotency import once
from crm.models import ImportJob
from crm.views.base import tenant_view
from customers.views.imports import import_start_page, import_template_download
from leads.forms.imports import LeadImportForm


@tenant_view("lead.import")
@once  # a double submit makes one import job (the second is sent to the same job's page)
def lead_import(request):
    """导入线索: upload and choose the target; the check leads to the job's preview page."""
    return import_start_page(
        request,
        kind=ImportJob.Kind.LEADS,
        form_class=LeadImportForm,
        list_url="leads:lead-list",
        template_url="leads:lead-import-template",
    )


@tenant_view("lead.import")
def lead_import_template(request):
    return import_template_download(
        request, kind=ImportJob.Kind.LEADS, filename=_("lead-import-template")
    )


@tenant_view("lead.export")
@require_POST
@once(vary=("rows", "ids"))  # crm.views.exports.EXPORT_ONCE_VARY: a double click exports once
def lead_export(request):
    """导出线索 (a POST, crm.views.exports): the filtered lead list (the query string of the
    form's action), or the ticked rows."""
    from crm.views.exports import export_response

    return export_response(request, "leads")
