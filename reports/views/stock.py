"""增量 / 存量对比's pages (reports/stock_report.py), shaped like 客户增量统计's."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from crm.views.base import tenant_view
from crm.views.lists import offset_page
from reports import charts, increment, stock_report
from reports.forms import ReportFilterForm
from reports.tables import xlsx_response
from reports.views.common import choice, drill_person, filters_of, linker, table_context


def _options(request) -> tuple[str, str]:
    field = choice(request, "dimension", stock_report.DIMENSIONS, stock_report.DEFAULT_DIMENSION)
    lifecycle = choice(request, "lifecycle", increment.LIFECYCLES, increment.DEVELOPMENT)
    return field, lifecycle


@tenant_view("reports.view")
@require_http_methods(["GET", "POST"])
def stock_page(request):
    """增量 / 存量对比: per person and value, the customers that entered it in the period and
    those holding it at its end. 导出 POSTs the page's query back (SECURITY: as every
    export)."""
    form = ReportFilterForm(request.GET, actor=request.user)
    field, lifecycle = _options(request)
    context = {
        "form": form,
        "active_nav": "report-stock",
        "dimension": field,
        "dimensions": stock_report.DIMENSIONS,
        "lifecycle": lifecycle,
        "lifecycles": increment.LIFECYCLES,
    }
    if not form.is_valid():
        return render(request, "reports/stock.html", context, status=422)
    period, scope = form.resolve()
    base = {**filters_of(request), "dimension": field, "lifecycle": lifecycle}

    to = linker("reports:stock-rows", base)

    def link(kind: str, value: str, user_id: int | None) -> str:
        return to(user_id, kind=kind, value=value)

    report = stock_report.increment_stock_report(
        tenant=request.user.tenant,
        period=period,
        scope=scope,
        field=field,
        lifecycle=lifecycle,
        link=link,
    )
    filters = [
        *form.description(),
        (_("Dimension"), str(stock_report.DIMENSIONS[field])),
        (_("Customers"), str(increment.LIFECYCLES[lifecycle])),
    ]
    if request.method == "POST":
        name = f"{_('Increment and stock')} {period.first:%Y%m%d}-{period.last:%Y%m%d}.xlsx"
        return xlsx_response(report.table, filters, name)
    table = report.table
    totals = table.total.values
    stock_columns = [c for c in table.columns if c.key.startswith("stock:")]
    chart = charts.bar_chart(
        [str(c.label).split(" · ")[0] for c in stock_columns],
        [
            (_("Increment"), [totals.get("in:" + c.key[6:]) or 0 for c in stock_columns]),
            (_("Stock"), [totals.get(c.key) or 0 for c in stock_columns]),
        ],
        title=_("Increment and stock"),
    )
    context.update(
        {
            "period": period,
            **table_context(table),
            "has_stock": report.has_stock,
            "filters": filters,
            "chart": chart,
            "export_query": urlencode(base),
        }
    )
    return render(request, "reports/stock.html", context)


@tenant_view("reports.view")
def stock_rows(request):
    """The changes behind an increment, or the customers behind today's stock: exactly the
    number they were opened from."""
    form = ReportFilterForm(request.GET, actor=request.user)
    if not form.is_valid():
        raise Http404
    period, scope = form.resolve()
    field, lifecycle = _options(request)
    kind, value = request.GET.get("kind"), request.GET.get("value") or ""
    if kind not in ("in", "stock") or not value or len(value) > 40:
        raise Http404
    user = drill_person(request, scope)
    labels = dict(stock_report.values_of(request.user.tenant_id, field))
    if kind == "in":
        rows = stock_report.increment_changes(
            period=period,
            tz=request.user.tenant.tzinfo,
            scope=scope,
            field=field,
            value=value,
            lifecycle=lifecycle,
            user_id=user.id if user else None,
        )
    else:
        rows = stock_report.stock_customers(
            scope=scope,
            field=field,
            value=value,
            lifecycle=lifecycle,
            user_id=user.id if user else None,
        )
    count = rows.count()
    page = offset_page(request, rows, total=count)
    back = {**filters_of(request), "dimension": field, "lifecycle": lifecycle}
    context = {
        "active_nav": "report-stock",
        "page": page,
        "items": list(page),
        "count": count,
        "kind": kind,
        "person": user,
        "value_label": labels.get(value, value),
        "filters": [
            *form.description(),
            (_("Dimension"), str(stock_report.DIMENSIONS[field])),
            (_("Customers"), str(increment.LIFECYCLES[lifecycle])),
        ],
        "back": f"{reverse('reports:stock')}?{urlencode(back)}",
    }
    return render(request, "reports/stock_rows.html", context)
