"""客户拜访统计 and 电话统计's pages (issue 19): one view each for the table and the
drill-down, shared by both reports (``code``: "visit" or "phone", given by reports/urls.py)."""

from __future__ import annotations

import datetime
from urllib.parse import urlencode

from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from crm.views.base import tenant_view
from reports import charts, visits
from reports import followups as fu
from reports.forms import MonthFilterForm
from reports.tables import xlsx_response
from reports.views.common import drill_person, linker
from reports.views.followups import _filters, _object, followup_list, table_context

FILTER_KEYS = ("month", "department", "only_this_department", "person")
# code → (page URL name, drill-down URL name, menu key)
URLS = {
    visits.VISIT: ("reports:visits", "reports:visits-list", "report-visits"),
    visits.PHONE: ("reports:calls", "reports:calls-list", "report-calls"),
}


@tenant_view("reports.view")
@require_http_methods(["GET", "POST"])
def day_report(request, code: str):
    """客户拜访统计 / 电话统计: per person × day of one month, the visits (calls) and the
    customers (leads) visited as 次数 / 客户数, with the month's 总量. A POST downloads the
    table as shown (SECURITY: an export starts with a CSRF-protected POST only)."""
    title, objects = visits.REPORTS[code]
    page_url, list_url, nav = URLS[code]
    form = MonthFilterForm(request.GET, actor=request.user)
    obj = _object(request, objects)
    context = {
        "form": form,
        "title": title,
        "page_url": page_url,
        "active_nav": nav,
        "object": obj,
        "objects": {o: fu.OBJECTS[o] for o in objects},
        "measures": fu.measure_labels(obj),
        "code": code,
    }
    if not form.is_valid():
        return render(request, "reports/visits.html", context, status=422)
    period, scope = form.resolve()
    base = {**_filters(request, FILTER_KEYS), "month": visits.month_of(period), "object": obj}

    to = linker(list_url, base)

    def link(group: str, measure: str, user_id: int | None) -> str:
        return to(user_id, day=group, measure=measure)

    report = visits.day_report(
        tenant=request.user.tenant, period=period, scope=scope, obj=obj, code=code, link=link
    )
    filters = [*form.description(), (_("Object"), str(fu.OBJECTS[obj]))]
    if request.method == "POST":
        return xlsx_response(report.table, filters, f"{title} {visits.month_of(period)}.xlsx")
    times, subjects = fu.measure_labels(obj)
    keys = [d.isoformat() for d in report.days]
    chart = charts.line_chart(
        report.days,
        [
            (times, [report.data.groups.get(k, (0, 0))[0] for k in keys]),
            (subjects, [report.data.groups.get(k, (0, 0))[1] for k in keys]),
        ],
        title=title,
    )
    context.update(
        {
            **table_context(report.table, report.groups),
            "period": period,
            "filters": filters,
            "chart": chart,
            "export_query": urlencode(base),
        }
    )
    return render(request, "reports/visits.html", context)


@tenant_view("reports.view")
def day_report_list(request, code: str):
    """The visits (calls) or the customers (leads) behind one number of 客户拜访统计 /
    电话统计: one person or everyone, one day or the whole month."""
    title, objects = visits.REPORTS[code]
    page_url, _list_url, nav = URLS[code]
    form = MonthFilterForm(request.GET, actor=request.user)
    if not form.is_valid():
        raise Http404
    period, scope = form.resolve()
    obj = _object(request, objects)
    user = drill_person(request, scope)
    tz = request.user.tenant.tzinfo
    day = request.GET.get("day") or fu.TOTAL
    if day == fu.TOTAL:
        start, end = period.bounds(tz)
        what = _("Month total")
    else:
        try:
            date = datetime.date.fromisoformat(day)
        except ValueError as exc:
            raise Http404 from exc
        if date not in period:
            raise Http404
        start, end = visits.day_bounds(date, tz)
        what = date.isoformat()
    back = {**_filters(request, FILTER_KEYS), "month": visits.month_of(period), "object": obj}
    return followup_list(
        request,
        nav=nav,
        obj=obj,
        start=start,
        end=end,
        scope=scope,
        user=user,
        code=code,
        title=title,
        what=what,
        filters=[*form.description(), (_("Object"), str(fu.OBJECTS[obj]))],
        back=f"{reverse(page_url)}?{urlencode(back)}",
    )
