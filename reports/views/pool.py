"""公海分析's pages (issue 19 §6), in the shape of 客户增量统计 (reports.views.increment): the
filter (the period only), one report function, the table, a chart, the xlsx export of the
table as shown (a POST); every number links to the events or customers it counts."""

from __future__ import annotations

import datetime
from urllib.parse import urlencode

from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from crm.models import Option, OptionKind
from crm.views.base import tenant_view
from crm.views.lists import offset_page
from reports import charts, pool
from reports.forms import PoolPeriodForm
from reports.tables import xlsx_response

FILTER_KEYS = ("preset", "first", "last")


def _filters(request) -> dict:
    return {k: request.GET[k] for k in FILTER_KEYS if request.GET.get(k)}


@tenant_view("reports.view")
@require_http_methods(["GET", "POST"])
def pool_report(request):
    """公海分析: per pool group the viewer may open, the customers that entered and left its
    pool in the period, its stock now per level and their average days in the pool. Its
    导出 button POSTs the page's query string back and downloads the table as shown
    (SECURITY: an export starts with a CSRF-protected POST only)."""
    form = PoolPeriodForm(request.GET, actor=request.user)
    context = {"form": form, "active_nav": "report-pool"}
    if not form.is_valid():
        return render(request, "reports/pool.html", context, status=422)
    period = form.cleaned_data["period"]
    base = _filters(request)

    def link(side: str, column: str, group_id: int | None) -> str:
        query = {**base, "side": side, "column": column}
        if group_id is not None:
            query["group"] = group_id
        return f"{reverse('reports:pool-events')}?{urlencode(query)}"

    report = pool.pool_report(actor=request.user, period=period, link=link)
    filters = form.description()
    if request.method == "POST":
        name = f"{_('Pool analysis')} {period.first:%Y%m%d}-{period.last:%Y%m%d}.xlsx"
        return xlsx_response(report.table, filters, name)
    names = [g.name for g in report.groups]
    series = [
        (_("Total entered"), [report.entered[g.pk] for g in report.groups]),
        (_("Total left"), [report.left[g.pk] for g in report.groups]),
    ]
    context.update(
        {
            "period": period,
            "table": report.table,
            "rows": [(row, row.cells(report.table.columns)) for row in report.table.rows],
            "total_cells": report.table.total.cells(report.table.columns),
            "filters": filters,
            "chart": charts.bar_chart(names, series, title=_("Pool analysis")),
            "export_query": urlencode(base),
        }
    )
    return render(request, "reports/pool.html", context)


@tenant_view("reports.view")
def pool_events(request):
    """The events (entered, left) or the customers (stock) behind one number of 公海分析:
    same groups, period and rules, so the list holds exactly that number. A group the viewer
    may not open (or another tenant's, or a made-up column) is a 404."""
    form = PoolPeriodForm(request.GET, actor=request.user)
    if not form.is_valid():
        raise Http404
    period = form.cleaned_data["period"]
    side = request.GET.get("side")
    column = request.GET.get("column") or ""
    tenant_id = request.user.tenant_id
    levels: dict[str, str] = {}
    if side == "stock":
        if column and column != pool.NO_LEVEL:
            levels = {
                str(pk): label
                for pk, label in Option.objects.filter(
                    tenant_id=tenant_id, kind=OptionKind.CUSTOMER_LEVEL
                ).values_list("pk", "label")
            }
            if column not in levels:
                raise Http404
    elif side not in pool.SIDES or (column and column not in dict(pool.SIDES[side])):
        raise Http404
    # SECURITY: only the groups the viewer may open, whatever the query names.
    groups = pool.viewer_groups(request.user)
    group = None
    if request.GET.get("group"):
        group = next((g for g in groups if str(g.pk) == request.GET["group"]), None)
        if group is None:
            raise Http404
    group_ids = [group.pk] if group else [g.pk for g in groups]
    if side == "stock":
        rows = (
            pool.stock(tenant_id=tenant_id, group_ids=group_ids, level=column or None)
            .select_related("pool_group", "level")
            .order_by("pooled_at", "pk")
        )
    else:
        rows = (
            pool.side_events(
                tenant_id=tenant_id,
                period=period,
                tz=request.user.tenant.tzinfo,
                side=side,
                column=column,
                group_ids=group_ids,
            )
            .select_related("customer", "pool_group", "from_user", "to_user", "actor")
            .order_by("-created_at", "-pk")
        )
    count = rows.count()
    page = offset_page(request, rows, total=count)
    items = list(page)
    if side != "stock":
        # The group the number is about (a move's source for 转出), named once per page.
        names = {g.pk: g.name for g in groups}
        for e in items:
            e.report_group = names.get(getattr(e, f"{side}_group"), "")
    now = timezone.now()
    if side == "stock":
        for c in items:
            c.days_in_pool = round((now - c.pooled_at) / datetime.timedelta(days=1), 1)
    context = {
        "active_nav": "report-pool",
        "page": page,
        "items": items,
        "count": count,
        "group": group,
        "side": side,
        "column_label": pool.column_label(side, column, levels),
        "filters": form.description() if side != "stock" else [],
        "back": f"{reverse('reports:pool')}?{urlencode(_filters(request))}",
    }
    return render(request, "reports/pool_events.html", context)
