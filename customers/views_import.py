"""The customer import's start page and template (导入客户); the job pages are crm's."""

from __future__ import annotations

from django import forms
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.exceptions import ServiceError
from crm.importing import ALLOWED_EXTENSIONS, importer_for, jobs_for, running_job
from crm.models import Department, ImportJob, User
from crm.views.base import tenant_view
from crm.xlsx import XLSX_CONTENT_TYPE
from customers.importing import MODES, TARGET_DEPARTMENT, TARGET_POOL, TARGET_USERS


class CustomerImportForm(forms.Form):
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
            (TARGET_POOL, gettext_lazy("A public pool")),
            (TARGET_USERS, gettext_lazy("Employees")),
            (TARGET_DEPARTMENT, gettext_lazy("A department")),
        ],
        widget=forms.RadioSelect,
        initial=TARGET_POOL,
    )
    pool_group = forms.ModelChoiceField(
        label=gettext_lazy("Pool group"), queryset=None, required=False
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
        help_text=gettext_lazy("How the customers are shared among several employees."),
    )
    duplicate_mode = forms.ChoiceField(
        label=gettext_lazy("When a customer already exists"),
        choices=[
            (MODES[0], gettext_lazy("Skip it (import only new customers)")),
            (
                MODES[1],
                gettext_lazy(
                    "Overwrite it with the file's columns, import new ones too "
                    "(owner and pool are kept; an empty cell clears the field)"
                ),
            ),
            (MODES[2], gettext_lazy("Only overwrite existing customers, create nothing new")),
        ],
        widget=forms.RadioSelect,
        initial=MODES[0],
    )
    duplicate_keys = forms.ChoiceField(
        label=gettext_lazy("Same customer means"),
        choices=[
            ("either", gettext_lazy("Same name or same contact phone")),
            ("name", gettext_lazy("Same name")),
            ("phone", gettext_lazy("Same contact phone")),
        ],
        widget=forms.RadioSelect,
        initial="either",
        help_text=gettext_lazy(
            "Names are compared ignoring case, spaces, brackets and full-width characters; the "
            "whole company is searched, the pools included, and the file itself."
        ),
    )

    def __init__(self, *args, user: User, **kwargs):
        from pools.models import PoolGroup

        super().__init__(*args, **kwargs)
        self.fields["pool_group"].queryset = PoolGroup.objects.filter(
            tenant_id=user.tenant_id, kind=PoolGroup.Kind.CUSTOMER, is_enabled=True
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


@tenant_view("customer.import")
def import_start(request):
    from crm.importing import import_start as start

    initial = {}
    if request.GET.get("target") in (TARGET_POOL, TARGET_USERS, TARGET_DEPARTMENT):
        initial["target"] = request.GET["target"]
    if (group := request.GET.get("group", "")).isdigit():
        initial["pool_group"] = int(group)
    form = CustomerImportForm(
        request.POST or None, request.FILES or None, user=request.user, initial=initial
    )
    if request.method == "POST" and form.is_valid():
        try:
            job = start(
                actor=request.user,
                kind=ImportJob.Kind.CUSTOMERS,
                upload=form.cleaned_data["file"],
                options=form.options(),
            )
        except ServiceError as exc:
            form.add_error(None, str(exc.message))
        else:
            return redirect("crm:import-detail", pk=job.pk)
    history = jobs_for(request.user).filter(kind=ImportJob.Kind.CUSTOMERS)[:10]
    return render(
        request,
        "customers/import_start.html",
        {"form": form, "history": history, "running": running_job(request.user.tenant_id)},
    )


@tenant_view("customer.import")
def import_template(request):
    body = importer_for(ImportJob.Kind.CUSTOMERS).template(request.user.tenant_id)
    response = HttpResponse(body, content_type=XLSX_CONTENT_TYPE)
    filename = _("customer-import-template") + ".xlsx"
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response
