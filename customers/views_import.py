"""The import start page (导入客户, and 导入线索 through the same form and view) and the customer
import's template; the job pages are crm's."""

from __future__ import annotations

from django import forms
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.exceptions import ServiceError
from crm.importing import ALLOWED_EXTENSIONS, importer_for, jobs_for, running_job
from crm.models import Department, ImportJob, User
from crm.views.base import tenant_view
from crm.xlsx import XLSX_CONTENT_TYPE
from customers.importing import MODES, TARGET_DEPARTMENT, TARGET_POOL, TARGET_USERS

TARGETS = (TARGET_POOL, TARGET_USERS, TARGET_DEPARTMENT)


class ImportStartForm(forms.Form):
    """Upload, target and duplicate handling of an import. A subclass words it for its kind of
    record (the attributes below) and names the kind of pool it imports into."""

    pool_kind = ""  # a pools.models.PoolGroup.Kind value
    page_title = ""
    pool_choice = ""  # the target "into a pool"
    pool_label = ""
    pool_help = ""  # under the pool field: what a pooled row hides
    distribution_help = ""
    mode_label = ""
    mode_skip = ""
    mode_update_only = ""
    keys_label = ""
    keys_choices: list[tuple[str, str]] = []
    keys_help = ""

    file = forms.FileField(
        label=gettext_lazy("File"),
        help_text=gettext_lazy(
            "Excel (.xlsx) or CSV (UTF-8 or GB18030). The first sheet is read; the header row "
            "is found by its column names."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(ALLOWED_EXTENSIONS)}),
    )
    target = forms.ChoiceField(
        label=gettext_lazy("Import into"), widget=forms.RadioSelect, initial=TARGET_POOL
    )
    pool_group = forms.ModelChoiceField(queryset=None, required=False)
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
    )
    duplicate_mode = forms.ChoiceField(widget=forms.RadioSelect, initial=MODES[0])
    duplicate_keys = forms.ChoiceField(widget=forms.RadioSelect, initial="either")

    def __init__(self, *args, user: User, **kwargs):
        from pools.models import PoolGroup

        super().__init__(*args, **kwargs)
        fields = self.fields
        fields["target"].choices = [
            (TARGET_POOL, self.pool_choice),
            (TARGET_USERS, gettext_lazy("Employees")),
            (TARGET_DEPARTMENT, gettext_lazy("A department")),
        ]
        fields["pool_group"].label = self.pool_label
        fields["pool_group"].queryset = PoolGroup.objects.filter(
            tenant_id=user.tenant_id, kind=self.pool_kind, is_enabled=True
        )
        fields["users"].queryset = User.tenant_objects.filter(
            tenant_id=user.tenant_id, is_active=True
        ).order_by("name")
        fields["department"].queryset = Department.objects.filter(tenant_id=user.tenant_id)
        fields["distribution"].help_text = self.distribution_help
        fields["duplicate_mode"].label = self.mode_label
        fields["duplicate_mode"].choices = [
            (MODES[0], self.mode_skip),
            (
                MODES[1],
                gettext_lazy(
                    "Overwrite it with the file's columns, import new ones too "
                    "(owner and pool are kept; an empty cell clears the field)"
                ),
            ),
            (MODES[2], self.mode_update_only),
        ]
        fields["duplicate_keys"].label = self.keys_label
        fields["duplicate_keys"].choices = self.keys_choices
        fields["duplicate_keys"].help_text = self.keys_help

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


class CustomerImportForm(ImportStartForm):
    pool_kind = "customer"
    page_title = gettext_lazy("Import customers")
    pool_choice = gettext_lazy("A public pool")
    pool_label = gettext_lazy("Pool group")
    pool_help = gettext_lazy(
        "Customers imported into a pool have no owner; the pool's hidden fields (contact "
        "phones by default) stay hidden until someone claims them."
    )
    distribution_help = gettext_lazy("How the customers are shared among several employees.")
    mode_label = gettext_lazy("When a customer already exists")
    mode_skip = gettext_lazy("Skip it (import only new customers)")
    mode_update_only = gettext_lazy("Only overwrite existing customers, create nothing new")
    keys_label = gettext_lazy("Same customer means")
    keys_choices = [
        ("either", gettext_lazy("Same name or same contact phone")),
        ("name", gettext_lazy("Same name")),
        ("phone", gettext_lazy("Same contact phone")),
    ]
    keys_help = gettext_lazy(
        "Names are compared ignoring case, spaces, brackets and full-width characters; the "
        "whole company is searched, the pools included, and the file itself."
    )


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
