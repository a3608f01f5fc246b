"""The lead import's start page and template (导入线索, the customer import's page worded for
leads), and the lead export (导出线索). The import job's pages (preview, progress, result,
error file, undo) are crm's."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.models import ImportJob
from crm.views.base import tenant_view
from customers.views_import import ImportStartForm, import_start_page, import_template_download


class LeadImportForm(ImportStartForm):
    pool_kind = "lead"
    page_title = gettext_lazy("Import leads")
    pool_choice = gettext_lazy("A lead pool")
    pool_label = gettext_lazy("Lead pool")
    pool_help = gettext_lazy(
        "Leads imported into a lead pool have no owner; the pool's hidden fields (contact "
        "details by default) stay hidden until someone claims them, and the automatic "
        "assignment rules for imported leads may hand them out at once."
    )
    distribution_help = gettext_lazy("How the leads are shared among several employees.")
    mode_label = gettext_lazy("When a lead already exists")
    mode_skip = gettext_lazy("Skip it (import only new leads)")
    mode_update_only = gettext_lazy("Only overwrite existing leads, create nothing new")
    keys_label = gettext_lazy("Same lead means")
    keys_choices = [
        ("either", gettext_lazy("Same mobile or same company")),
        ("mobile", gettext_lazy("Same mobile")),
        ("company", gettext_lazy("Same company")),
    ]
    keys_help = gettext_lazy(
        "Company names are compared ignoring case, spaces, brackets and full-width "
        "characters; every lead of the company is searched, the lead pools and converted "
        "leads included, and the file itself."
    )


@tenant_view("lead.import")
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
def lead_export(request):
    """导出线索: GET exports the filtered lead list (the list's query string), POST the
    ticked rows."""
    from crm.views.exports import export_response

    return export_response(request, "leads")
