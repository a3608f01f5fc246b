"""The opportunity analyses' pages (issue 20, wave2.md §14.6): 销售阶段推进, 丢单原因分析,
平均客单价 / 平均销售周期, and the drill-down page every opportunity report (销售漏斗 too)
links its numbers to: the opportunities behind one number, same scope, period and rules."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from crm import masking
from crm.models import DataScope, Option, OptionKind
from crm.views.base import tenant_view
from crm.views.lists import offset_page
from opportunities.models import OpportunityStage, StageKind
from reports import charts
from reports import funnel as funnel_report
from reports import opportunities as report
from reports.forms import ReportFilterForm
from reports.periods import tenant_today
from reports.scope import ReportScope
from reports.tables import xlsx_response
from reports.views.common import FILTER_KEYS, choice, drill_person, linker, table_context

# The page each drill-down goes back to, its menu entry, its title.
REPORTS = {
    "funnel": ("reports:funnel", "report-funnel", _("Sales funnel")),
    "advance": ("reports:stage-advance", "report-stage-advance", _("Stage advancement")),
    "lost": ("reports:lost-reasons", "report-lost-reasons", _("Lost reasons")),
    "deals": ("reports:deals", "report-deals", _("Average deal size and sales cycle")),
}
DEFAULT_PRESET = "this_year"
TEMPLATE = "reports/opportunity_report.html"


def report_query(request, default_preset: str) -> dict:
    """The filter form's parameters of the request, the report's default period when none is
    chosen (carried into every link, so a drill-down counts the same period)."""
    query = {k: request.GET[k] for k in FILTER_KEYS if request.GET.get(k)}
    if "preset" not in query and not (query.get("first") or query.get("last")):
        query["preset"] = default_preset
    return query


def _page(request, *, nav, extra=None):
    """The common start of an analysis page: the form and the context, or the 422 page."""
    query = report_query(request, DEFAULT_PRESET)
    form = ReportFilterForm(query, actor=request.user)
    context = {"form": form, "active_nav": nav, **(extra or {})}
    return query, form, context


def _finish(request, *, context, period, table, filters, chart, query, name):
    if request.method == "POST":
        filename = f"{name} {period.first:%Y%m%d}-{period.last:%Y%m%d}.xlsx"
        return xlsx_response(table, filters, filename)
    context.update(
        {
            **table_context(table),
            "period": period,
            "filters": filters,
            "chart": chart,
            "export_query": urlencode(query),
        }
    )
    return render(request, TEMPLATE, context)


@tenant_view("reports.view")
@require_http_methods(["GET", "POST"])
def stage_advance_report(request):
    """销售阶段推进 over the opportunities created in the period (default: this year). A
    POST downloads the table as shown."""
    query, form, context = _page(request, nav="report-stage-advance")
    context.update(
        title=_("Stage advancement"),
        help=_(
            "The opportunities created in the period, counted for their owner. Reached: entered "
            "the stage or a later one; staying: in the stage now; lost: lost with the stage as "
            "their last open stage; average days: from entering the stage to leaving it (up to "
            "now while still there); conversion: reached the next stage / reached this one. "
            "Click a number to see the opportunities behind it."
        ),
        url_name="reports:stage-advance",
    )
    if not form.is_valid():
        return render(request, TEMPLATE, context, status=422)
    period, scope = form.resolve()
    to = linker("reports:opportunities-list", {**query, "report": "advance"})
    # VS 全公司: for a viewer who sees everyone and narrowed the report, the whole tenant
    # beside (its numbers open the list without the department and person filters).
    company = None
    if scope.owner_scope.kind == DataScope.ALL and (scope.department or scope.person):
        company = ReportScope(request.user)
    narrow = ("department", "only_this_department", "person")
    to_company = linker(
        "reports:opportunities-list",
        {**{k: v for k, v in query.items() if k not in narrow}, "report": "advance"},
    )

    def link(column, stage_id, company=False):
        return (to_company if company else to)(None, column=column, row=stage_id)

    result = report.advance_report(
        period=period,
        tz=request.user.tenant.tzinfo,
        scope=scope,
        link=link,
        company=company,
    )
    chart = charts.bar_chart(
        [name for name, *_rest in result.bars],
        [
            (report.ADVANCE_COLUMNS["reached"], [b[1] for b in result.bars]),
            (report.ADVANCE_COLUMNS["staying"], [b[2] for b in result.bars]),
            (report.ADVANCE_COLUMNS["lost"], [b[3] for b in result.bars]),
        ],
        title=_("Stage advancement"),
    )
    return _finish(
        request,
        context=context,
        period=period,
        table=result.table,
        filters=form.description(),
        chart=chart,
        query=query,
        name=_("Stage advancement"),
    )


@tenant_view("reports.view")
@require_http_methods(["GET", "POST"])
def lost_reason_report(request):
    """丢单原因分析 over the opportunities lost in the period (default: this year)."""
    query, form, context = _page(request, nav="report-lost-reasons")
    context.update(
        title=_("Lost reasons"),
        help=_(
            "The opportunities lost in the period (their closed date), counted for their "
            "owner, per lost reason, with the shares of the count and of the amount. Click a "
            "number to see the opportunities behind it."
        ),
        url_name="reports:lost-reasons",
    )
    if not form.is_valid():
        return render(request, TEMPLATE, context, status=422)
    period, scope = form.resolve()
    to = linker("reports:opportunities-list", {**query, "report": "lost"})

    def link(column, key):
        return to(None, column=column, **({"row": key} if key is not None else {}))

    result = report.lost_report(period=period, scope=scope, link=link)
    chart = charts.bar_chart(
        [label for label, *_rest in result.bars],
        [
            (report.LOST_COLUMNS["count_share"], [b[1] for b in result.bars]),
            (report.LOST_COLUMNS["amount_share"], [b[2] for b in result.bars]),
        ],
        title=_("Lost reasons"),
    )
    return _finish(
        request,
        context=context,
        period=period,
        table=result.table,
        filters=form.description(),
        chart=chart,
        query=query,
        name=_("Lost reasons"),
    )


@tenant_view("reports.view")
@require_http_methods(["GET", "POST"])
def deal_report(request):
    """平均客单价 and 平均销售周期 of the opportunities won in the period (default: this year),
    per month, quarter or person."""
    group = choice(request, "group", report.DEAL_GROUPS, report.MONTH)
    query, form, context = _page(request, nav="report-deals")
    context.update(
        title=_("Average deal size and sales cycle"),
        help=_(
            "The opportunities won in the period (their closed date), counted for their owner. "
            "Average deal size: won amount / won opportunities; average sales cycle: days from "
            "the day an opportunity was created to the day it was won. Click a number to see "
            "the opportunities behind it."
        ),
        url_name="reports:deals",
        group=group,
        groups=report.DEAL_GROUPS,
        group_queries={g: urlencode({**query, "group": g}) for g in report.DEAL_GROUPS},
    )
    if not form.is_valid():
        return render(request, TEMPLATE, context, status=422)
    period, scope = form.resolve()
    to = linker("reports:opportunities-list", {**query, "report": "deals", "group": group})

    def link(column, key):
        return to(None, column=column, **({"row": key} if key is not None else {}))

    result = report.deal_report(
        period=period, tz=request.user.tenant.tzinfo, scope=scope, group=group, link=link
    )
    chart = charts.bar_chart(
        result.labels,
        [
            (report.DEAL_COLUMNS["deal_size"], result.sizes),
        ],
        title=_("Average deal size"),
    ) + charts.bar_chart(
        result.labels,
        [(report.DEAL_COLUMNS["cycle"], result.cycles)],
        title=_("Average sales cycle (days)"),
    )
    return _finish(
        request,
        context=context,
        period=period,
        table=result.table,
        filters=[*form.description(), (_("Group"), str(report.DEAL_GROUPS[group]))],
        chart=chart,
        query={**query, "group": group},
        name=_("Average deal size and sales cycle"),
    )


# ---------------------------------------------------------------- the drill-down


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise Http404 from exc


@tenant_view("reports.view")
def opportunity_report_list(request):
    """The opportunities behind one number of an opportunity report (``?report=`` funnel,
    advance, lost, deals; ``row`` and ``column`` as the report's links name them). Anything
    that is not one of the report's numbers is a 404; a person outside the viewer's data
    scope too."""
    which = request.GET.get("report")
    if which not in REPORTS:
        raise Http404
    back_name, nav, title = REPORTS[which]
    form = ReportFilterForm(request.GET, actor=request.user)
    if not form.is_valid():
        raise Http404
    period, scope = form.resolve()
    tenant = request.user.tenant
    tz = tenant.tzinfo
    row = request.GET.get("row") or None
    column = request.GET.get("column") or ""
    filters = form.description()
    back_query = {k: request.GET[k] for k in FILTER_KEYS if request.GET.get(k)}
    what = column
    try:
        if which == "funnel":
            basis = choice(request, "basis", funnel_report.BASES, funnel_report.CLOSE)
            table = request.GET.get("table") or "funnel"
            rows = funnel_report.funnel_behind(
                period=period,
                tz=tz,
                scope=scope,
                basis=basis,
                today=tenant_today(tenant),
                table=table,
                row=row,
                column=column,
            )
            columns = {
                "funnel": funnel_report.FUNNEL_COLUMNS,
                "forecast": funnel_report.FORECAST_COLUMNS,
                "commit": funnel_report.COMMIT_COLUMNS,
            }[table]
            what = columns[column]
            filters.append((_("Basis"), str(funnel_report.BASES[basis])))
            back_query["basis"] = basis
        elif which == "advance":
            rows = report.advance_behind(
                period=period, tz=tz, scope=scope, column=column, stage_id=_int(row)
            )
            what = report.ADVANCE_COLUMNS[column]
        elif which == "lost":
            if column not in ("count", "amount"):
                raise Http404
            key = row if row in (None, report.NONE_KEY) else _int(row)
            rows = report.lost_behind(period=period, scope=scope, key=key)
            what = report.LOST_COLUMNS[column]
        else:
            group = choice(request, "group", report.DEAL_GROUPS, report.MONTH)
            if column not in report.DEAL_COLUMNS:
                raise Http404
            key = row
            if group == report.PERSON and row is not None:
                key = _int(row)
                if not scope.covers(key):
                    # SECURITY: a person outside the viewer's data scope is a 404.
                    raise Http404
            rows = report.deal_behind(period=period, scope=scope, group=group, key=key)
            what = report.DEAL_COLUMNS[column]
            filters.append((_("Group"), str(report.DEAL_GROUPS[group])))
            back_query["group"] = group
    except (ValueError, KeyError) as exc:
        raise Http404 from exc
    drill_person(request, scope)  # a stray ?user= outside the scope is a 404 too
    rows = rows.select_related("customer", "stage", "owner", "lost_reason").order_by(
        "-created_at", "-id"
    )
    count = rows.count()
    page = offset_page(request, rows, total=count)
    items = list(page)
    masking.prepare(request.user, items)
    context = {
        "active_nav": nav,
        "title": title,
        "page": page,
        "opportunities": items,
        "count": count,
        "row_label": _row_label(which, row, request, scope),
        "column_label": what,
        "filters": filters,
        "open_status": StageKind.OPEN,
        "back": f"{reverse(back_name)}?{urlencode(back_query)}",
    }
    return render(request, "reports/opportunities_list.html", context)


def _row_label(which: str, row: str | None, request, scope) -> str | None:
    """The row's name for the page's title (a stage, a reason, a month, a person); None: the
    total. A stage or a reason that is not the tenant's is a 404."""
    if row is None:
        return None
    tenant_id = request.user.tenant_id
    if which == "funnel" and row.startswith("stage-") and row[6:].isdigit():
        stage = OpportunityStage.objects.filter(tenant_id=tenant_id, pk=int(row[6:])).first()
        if stage is None:
            raise Http404
        return stage.name
    if which == "funnel":
        return {
            funnel_report.STALE: _("Overdue, not closed"),
            funnel_report.WON: _("Won"),
            funnel_report.LOST: _("Lost"),
            funnel_report.PIPELINE: str(funnel_report.COMMIT_ROWS[funnel_report.PIPELINE]),
            funnel_report.COMMIT: str(funnel_report.COMMIT_ROWS[funnel_report.COMMIT]),
        }.get(row, row)
    if which == "advance":
        stage = OpportunityStage.objects.filter(tenant_id=tenant_id, pk=_int(row)).first()
        if stage is None:
            raise Http404
        return stage.name
    if which == "lost":
        if row == report.NONE_KEY:
            return _("No reason given")
        option = Option.objects.filter(
            tenant_id=tenant_id, kind=OptionKind.LOST_REASON, pk=_int(row)
        ).first()
        if option is None:
            raise Http404
        return option.label
    if which == "deals" and request.GET.get("group") == report.PERSON:
        return next((p.name for p in scope.people() if p.id == _int(row)), row)
    return row
