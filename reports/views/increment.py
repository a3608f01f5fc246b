"""客户增量统计's pages (issue 19). Every report page follows this shape: the filter form
(reports.forms), one report function, the table, a chart and the xlsx export of the table as
shown (a POST); every number links to the records it counts."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from crm.views.base import tenant_view
from crm.views.lists import offset_page
from reports import charts, increment
from reports.forms import ReportFilterForm
from reports.tables import xlsx_response
from reports.views.common import choice, drill_person, filters_of, linker, table_context


@tenant_view("reports.view")
@require_http_methods(["GET", "POST"])
def increment_report(request):
    """客户增量统计: per person, the customers gained and lost (过程量) or the net increase
    (实际增量), for development customers (the default), signed ones or all. Its 导出 button
    POSTs the page's own query string back and downloads the table as shown (SECURITY: an
    export starts with a CSRF-protected POST only; a GET always shows the page)."""
    form = ReportFilterForm(request.GET, actor=request.user)
    lifecycle = choice(request, "lifecycle", increment.LIFECYCLES, increment.DEVELOPMENT)
    mode = choice(request, "mode", increment.MODES, increment.PROCESS)
    context = {
        "form": form,
        "active_nav": "report-increment",
        "lifecycle": lifecycle,
        "lifecycles": increment.LIFECYCLES,
        "mode": mode,
        "modes": increment.MODES,
    }
    if not form.is_valid():
        return render(request, "reports/increment.html", context, status=422)
    period, scope = form.resolve()
    base = {**filters_of(request), "lifecycle": lifecycle}

    to = linker("reports:increment-events", base)

    def link(side: str, column: str, user_id: int | None) -> str:
        return to(user_id, side=side, column=column)

    report = increment.increment_report(
        tenant=request.user.tenant,
        period=period,
        scope=scope,
        lifecycle=lifecycle,
        mode=mode,
        link=link,
    )
    filters = [
        *form.description(),
        (_("Customers"), str(increment.LIFECYCLES[lifecycle])),
        (_("View"), str(increment.MODES[mode])),
    ]
    if request.method == "POST":
        name = f"{_('Customer increment')} {period.first:%Y%m%d}-{period.last:%Y%m%d}.xlsx"
        return xlsx_response(report.table, filters, name)
    names = [p.name for p in report.people]
    if mode == increment.NET:
        series = [
            (
                _("Net increase"),
                [
                    report.gains.get(p.user_id, 0) - report.losses.get(p.user_id, 0)
                    for p in report.people
                ],
            )
        ]
    else:
        series = [
            (_("Total gained"), [report.gains.get(p.user_id, 0) for p in report.people]),
            (_("Total lost"), [report.losses.get(p.user_id, 0) for p in report.people]),
        ]
    context.update(
        {
            "period": period,
            **table_context(report.table),
            "filters": filters,
            "chart": charts.bar_chart(names, series, title=_("Customer increment")),
            "export_query": urlencode({**base, "mode": mode}),
            "mode_queries": {m: urlencode({**base, "mode": m}) for m in increment.MODES},
        }
    )
    return render(request, "reports/increment.html", context)


@tenant_view("reports.view")
def increment_events(request):
    """The ownership events behind one number of 客户增量统计 (same scope, period and rules:
    the list holds exactly that number)."""
    form = ReportFilterForm(request.GET, actor=request.user)
    if not form.is_valid():
        raise Http404
    period, scope = form.resolve()
    lifecycle = choice(request, "lifecycle", increment.LIFECYCLES, increment.DEVELOPMENT)
    side = request.GET.get("side")
    column = request.GET.get("column") or ""
    known = {c for c, _label in (increment.GAINS if side == "in" else increment.LOSSES)}
    if side not in ("in", "out") or (column and column not in known):
        raise Http404
    user = drill_person(request, scope)
    events = increment.increment_events(
        period=period,
        tz=request.user.tenant.tzinfo,
        scope=scope,
        lifecycle=lifecycle,
        side=side,
        column=column,
        user_id=user.id if user else None,
    )
    count = events.count()
    page = offset_page(request, events, total=count)
    labels = dict(increment.GAINS if side == "in" else increment.LOSSES)
    back = {**filters_of(request), "lifecycle": lifecycle}
    context = {
        "active_nav": "report-increment",
        "page": page,
        "events": list(page),
        "count": count,
        "person": user,
        "side": side,
        "column_label": labels.get(column)
        or (_("Total gained") if side == "in" else _("Total lost")),
        "filters": [*form.description(), (_("Customers"), str(increment.LIFECYCLES[lifecycle]))],
        "back": f"{reverse('reports:increment')}?{urlencode(back)}",
        "now": timezone.now(),
    }
    return render(request, "reports/increment_events.html", context)
