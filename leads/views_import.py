"""The lead import's start page and template (导入线索), and the lead export (导出线索). The
import job's pages (preview, progress, result, error file, undo) are crm's."""

from __future__ import annotations

from django import forms
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.exceptions import ServiceError
from crm.importing import ALLOWED_EXTENSIONS, import_start, importer_for, jobs_for, running_job
from crm.models import Department, ImportJob, User
from crm.views.base import tenant_view
from crm.xlsx import XLSX_CONTENT_TYPE
from customers.importing import MODES, TARGET_DEPARTMENT, TARGET_POOL, TARGET_USERS

TARGETS = (TARGET_POOL, TARGET_USERS, TARGET_DEPARTMENT)


class LeadImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("File"),
        help_text=gettext_lazy(
            "Excel (.xlsx) or CSV (UTF-8 or GB18030). The first sheet is read; the header row "
            "is found by its column names."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(ALLOWED_EXTENSIONS)}),
    )
    target = forms.ChoiceField(
        label=gettext_lazy("Import into"),
        choices=[
            (TARGET_POOL, gettext_lazy("A lead pool")),
            (TARGET_USERS, gettext_lazy("Employees")),
            (TARGET_DEPARTMENT, gettext_lazy("A department")),
        ],
        widget=forms.RadioSelect,
        initial=TARGET_POOL,
    )
    pool_group = forms.ModelChoiceField(
        label=gettext_lazy("Lead pool"), queryset=None, required=False
    )
    users = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Employees"),
        queryset=None,
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )
    department = forms.ModelChoiceField(
        label=gettext_lazy("Department"), queryset=None, required=False
    )
    distribution = forms.ChoiceField(
        label=gettext_lazy("Distribution"),
        choices=[
            ("even", gettext_lazy("Even (take turns in file order)")),
            ("random", gettext_lazy("Random")),
        ],
        widget=forms.RadioSelect,
        initial="even",
        help_text=gettext_lazy("How the leads are shared among several employees."),
    )
    duplicate_mode = forms.ChoiceField(
        label=gettext_lazy("When a lead already exists"),
        choices=[
            (MODES[0], gettext_lazy("Skip it (import only new leads)")),
            (
                MODES[1],
                gettext_lazy(
                    "Overwrite it with the file's columns, import new ones too "
                    "(owner and pool are kept; an empty cell clears the field)"
                ),
            ),
            (MODES[2], gettext_lazy("Only overwrite existing leads, create nothing new")),
        ],
        widget=forms.RadioSelect,
        initial=MODES[0],
    )
    duplicate_keys = forms.ChoiceField(
        label=gettext_lazy("Same lead means"),
        choices=[
            ("either", gettext_lazy("Same mobile or same company")),
            ("mobile", gettext_lazy("Same mobile")),
            ("company", gettext_lazy("Same company")),
        ],
        widget=forms.RadioSelect,
        initial="either",
        help_text=gettext_lazy(
            "Company names are compared ignoring case, spaces, brackets and full-width "
            "characters; every lead of the company is searched, the lead pools and converted "
            "leads included, and the file itself."
        ),
    )

    def __init__(self, *args, user: User, **kwargs):
        from pools.models import PoolGroup

        super().__init__(*args, **kwargs)
        self.fields["pool_group"].queryset = PoolGroup.objects.filter(
            tenant_id=user.tenant_id, kind=PoolGroup.Kind.LEAD, is_enabled=True
        )
        self.fields["users"].queryset = User.tenant_objects.filter(
            tenant_id=user.tenant_id, is_active=True
        ).order_by("name")
        self.fields["department"].queryset = Department.objects.filter(tenant_id=user.tenant_id)

    def options(self) -> dict:
        data = self.cleaned_data
        return {
            "target": data["target"],
            "pool_group": data["pool_group"].pk if data.get("pool_group") else None,
            "users": [u.pk for u in data.get("users") or []],
            "department": data["department"].pk if data.get("department") else None,
            "distribution": data["distribution"],
            "duplicate_mode": data["duplicate_mode"],
            "duplicate_keys": data["duplicate_keys"],
        }


@tenant_view("lead.import")
def lead_import(request):
    """导入线索: upload and choose the target; the check leads to the job's preview page."""
    initial = {}
    if request.GET.get("target") in TARGETS:
        initial["target"] = request.GET["target"]
    if (group := request.GET.get("group", "")).isdigit():
        initial["pool_group"] = int(group)
    form = LeadImportForm(
        request.POST or None, request.FILES or None, user=request.user, initial=initial
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                job = import_start(
                    actor=request.user,
                    kind=ImportJob.Kind.LEADS,
                    upload=form.cleaned_data["file"],
                    options=form.options(),
                )
            except ServiceError as exc:
                form.add_error(None, str(exc.message))
            else:
                return redirect("crm:import-detail", pk=job.pk)
        status = 422
    history = jobs_for(request.user).filter(kind=ImportJob.Kind.LEADS)[:10]
    return render(
        request,
        "leads/lead_import.html",
        {"form": form, "history": history, "running": running_job(request.user.tenant_id)},
        status=status,
    )


@tenant_view("lead.import")
def lead_import_template(request):
    body = importer_for(ImportJob.Kind.LEADS).template(request.user.tenant_id)
    response = HttpResponse(body, content_type=XLSX_CONTENT_TYPE)
    filename = _("lead-import-template") + ".xlsx"
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response


@tenant_view("lead.export")
def lead_export(request):
    """导出线索: GET exports the filtered lead list (the list's query string), POST the
    ticked rows."""
    from crm.views.exports import export_response

    return export_response(request, "leads")
