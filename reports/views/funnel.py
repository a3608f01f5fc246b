"""销售漏斗's page (issue 20, wave2.md §14.5): the funnel per stage with 已逾期未关单, 赢单 and
输单, the weighted forecast per month and the manual forecast, charts, and the export of each
table as shown; every number opens the opportunities it counts
(reports:opportunities-list, reports/views/opportunities.py)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from crm.views.base import tenant_view
from reports import charts
from reports import funnel as report
from reports.forms import ReportFilterForm
from reports.periods import tenant_today
from reports.tables import xlsx_response
from reports.views.common import choice, linker, table_context
from reports.views.opportunities import report_query

DEFAULT_PRESET = "this_quarter"


@tenant_view("reports.view")
@require_http_methods(["GET", "POST"])
def funnel_report(request):
    """销售漏斗 (default: this quarter, by close date). A POST downloads the table named by
    ``?table=`` (funnel, forecast, commit) as shown (SECURITY: an export starts with a
    CSRF-protected POST only; a GET always shows the page)."""
    query = report_query(request, DEFAULT_PRESET)
    form = ReportFilterForm(query, actor=request.user)
    basis = choice(request, "basis", report.BASES, report.CLOSE)
    context = {
        "form": form,
        "active_nav": "report-funnel",
        "basis": basis,
        "bases": report.BASES,
    }
    if not form.is_valid():
        return render(request, "reports/funnel.html", context, status=422)
    period, scope = form.resolve()
    tenant = request.user.tenant
    base = {**query, "report": "funnel", "basis": basis}
    to = linker("reports:opportunities-list", base)

    def link(table: str, row: str | None, column: str) -> str:
        extra = {"table": table, "column": column}
        if row is not None:
            extra["row"] = row
        return to(None, **extra)

    result = report.funnel_report(
        period=period,
        tz=tenant.tzinfo,
        scope=scope,
        basis=basis,
        today=tenant_today(tenant),
        link=link,
    )
    filters = [*form.description(), (_("Basis"), str(report.BASES[basis]))]
    tables = {"funnel": result.table, "forecast": result.forecast, "commit": result.commit}
    if request.method == "POST":
        which = choice(request, "table", dict.fromkeys(report.TABLES), "funnel")
        table = tables[which]
        name = f"{table.title} {period.first:%Y%m%d}-{period.last:%Y%m%d}.xlsx"
        return xlsx_response(table, filters, name)
    page_query = {**query, "basis": basis}
    context.update(
        {
            "period": period,
            "filters": filters,
            "funnel": table_context(result.table),
            "forecast": table_context(result.forecast),
            "commit": table_context(result.commit),
            "export_queries": {
                name: urlencode({**page_query, "table": name}) for name in report.TABLES
            },
            "basis_queries": {b: urlencode({**query, "basis": b}) for b in report.BASES},
            "funnel_chart": charts.bar_chart(
                # Each stage with its count (the seed's chart shows the counts).
                [
                    _("%(stage)s (%(count)s)") % {"stage": label, "count": n}
                    for label, n, _a, _w in result.bars
                ],
                [
                    (_("Amount"), [amount for _l, _n, amount, _w in result.bars]),
                    (_("Weighted amount"), [w for _l, _n, _a, w in result.bars]),
                ],
                title=_("Sales funnel"),
            ),
            "forecast_chart": charts.bar_chart(
                [row.label for row in result.forecast.rows],
                [
                    (_("Won amount"), [r.values["won_amount"] for r in result.forecast.rows]),
                    (_("Weighted amount"), [r.values["weighted"] for r in result.forecast.rows]),
                ],
                title=_("Weighted forecast"),
            ),
        }
    )
    return render(request, "reports/funnel.html", context)
