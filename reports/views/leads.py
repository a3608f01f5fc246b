"""线索转换率's pages (issue 19 point 5): the table per person or campaign with its chart and
export (reports/views/increment.py's shape), and the leads behind each number."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from crm.views.base import tenant_view
from crm.views.lists import offset_page
from leads.models import Campaign
from reports import charts
from reports import leads as report
from reports.forms import ReportFilterForm
from reports.tables import xlsx_response

FILTER_KEYS = ("preset", "first", "last", "department", "only_this_department", "person")


def _group(request) -> str:
    value = request.GET.get("group") or report.OWNER
    return value if value in report.GROUPS else report.OWNER


def _filters(request) -> dict:
    return {k: request.GET[k] for k in FILTER_KEYS if request.GET.get(k)}


@tenant_view("reports.view")
@require_http_methods(["GET", "POST"])
def lead_report(request):
    """线索转换率: the leads created in the period per person (their current owner) or per
    campaign, followed up and converted, with the rates. Its 导出 button POSTs the page's own
    query string back and downloads the table as shown (SECURITY: an export starts with a
    CSRF-protected POST only; a GET always shows the page)."""
    form = ReportFilterForm(request.GET, actor=request.user)
    group = _group(request)
    context = {"form": form, "active_nav": "report-leads", "group": group, "groups": report.GROUPS}
    if not form.is_valid():
        return render(request, "reports/leads.html", context, status=422)
    period, scope = form.resolve()
    base = {**_filters(request), "group": group}

    def link(column: str, key) -> str:
        query = {**base, "column": column}
        if key is not None:
            query["key"] = key
        return f"{reverse('reports:leads-list')}?{urlencode(query)}"

    result = report.lead_report(
        period=period, tz=request.user.tenant.tzinfo, scope=scope, group=group, link=link
    )
    table = result.table
    filters = [*form.description(), (_("Group"), str(report.GROUPS[group]))]
    if request.method == "POST":
        name = f"{_('Lead conversion rate')} {period.first:%Y%m%d}-{period.last:%Y%m%d}.xlsx"
        return xlsx_response(table, filters, name)
    series = [
        (report.COUNTS[report.NEW], [new for _label, new, _converted in result.bars]),
        (report.COUNTS[report.CONVERTED], [converted for _label, _new, converted in result.bars]),
    ]
    context.update(
        {
            "period": period,
            "table": table,
            "rows": [(row, row.cells(table.columns)) for row in table.rows],
            "total_cells": table.total.cells(table.columns),
            "filters": filters,
            "chart": charts.bar_chart(
                [label for label, _new, _converted in result.bars],
                series,
                title=_("Lead conversion rate"),
            ),
            "export_query": urlencode(base),
            "group_queries": {g: urlencode({**base, "group": g}) for g in report.GROUPS},
        }
    )
    return render(request, "reports/leads.html", context)


@tenant_view("reports.view")
def lead_report_list(request):
    """The leads behind one number of 线索转换率 (same scope, period and group: the list holds
    exactly that number)."""
    form = ReportFilterForm(request.GET, actor=request.user)
    if not form.is_valid():
        raise Http404
    period, scope = form.resolve()
    group = _group(request)
    column = request.GET.get("column")
    if column not in report.COUNTS:
        raise Http404
    raw = request.GET.get("key") or None
    key: int | str | None = None
    row_label = None
    if raw is not None:
        if group == report.CAMPAIGN and raw == report.NO_CAMPAIGN:
            key, row_label = raw, _("No campaign")
        else:
            try:
                key = int(raw)
            except ValueError as exc:
                raise Http404 from exc
            if group == report.OWNER:
                # SECURITY: a person outside the viewer's data scope (or another tenant's)
                # is a 404.
                if not scope.covers(key):
                    raise Http404
                row_label = next(p.name for p in scope.people() if p.id == key)
            else:
                campaign = Campaign.objects.filter(tenant_id=request.user.tenant_id, pk=key).first()
                if campaign is None:
                    raise Http404
                row_label = campaign.name
    leads = report.lead_rows(
        period=period,
        tz=request.user.tenant.tzinfo,
        scope=scope,
        group=group,
        column=column,
        key=key,
    )
    count = leads.count()
    page = offset_page(request, leads, total=count)
    context = {
        "active_nav": "report-leads",
        "page": page,
        "leads": list(page),
        "count": count,
        "row_label": row_label,
        "column_label": report.COUNTS[column],
        "filters": [*form.description(), (_("Group"), str(report.GROUPS[group]))],
        "back": f"{reverse('reports:leads')}?{urlencode({**_filters(request), 'group': group})}",
    }
    return render(request, "reports/leads_list.html", context)
