"""跟进动态统计's pages (issue 19), in the shape of reports/views/increment.py, and the
follow-up drill-down page every follow-up report (this one, 客户拜访统计, 电话统计) links its
numbers to."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy
from django.views.decorators.http import require_http_methods

from crm.models import Option, OptionKind
from crm.views.base import tenant_view
from crm.views.lists import offset_page
from reports import charts
from reports import followups as fu
from reports.forms import ReportFilterForm
from reports.tables import xlsx_response
from reports.views.common import drill_person, linker

FILTER_KEYS = ("preset", "first", "last", "department", "only_this_department", "person")


def _filters(request, keys=FILTER_KEYS) -> dict:
    return {k: request.GET[k] for k in keys if request.GET.get(k)}


def _object(request, allowed) -> str:
    value = request.GET.get("object")
    return value if value in allowed else allowed[0]


def table_context(table, groups) -> dict:
    """What the pair tables' template needs: rows with their cells as pairs."""
    return {
        "table": table,
        "pair_groups": groups,
        "rows": [(row, fu.pairs(row, groups)) for row in table.rows],
        "total_pairs": fu.pairs(table.total, groups),
    }


@tenant_view("reports.view")
@require_http_methods(["GET", "POST"])
def followup_report(request):
    """跟进动态统计: per person (the follow-ups' author), 总量 and one pair 次数 / 客户数 per
    follow-up type, for development customers (the default), signed ones or leads. A POST
    downloads the table as shown (SECURITY: an export starts with a CSRF-protected POST; a
    GET always shows the page)."""
    form = ReportFilterForm(request.GET, actor=request.user)
    objects = list(fu.OBJECTS)
    obj = _object(request, objects)
    context = {
        "form": form,
        "active_nav": "report-followups",
        "object": obj,
        "objects": fu.OBJECTS,
        "measures": fu.measure_labels(obj),
    }
    if not form.is_valid():
        return render(request, "reports/followups.html", context, status=422)
    period, scope = form.resolve()
    base = {**_filters(request), "object": obj}

    to = linker("reports:followups-list", base)

    def link(group: str, measure: str, user_id: int | None) -> str:
        return to(user_id, type=group, measure=measure)

    report = fu.followup_report(
        tenant=request.user.tenant, period=period, scope=scope, obj=obj, link=link
    )
    filters = [*form.description(), (_("Object"), str(fu.OBJECTS[obj]))]
    if request.method == "POST":
        name = f"{_('Follow-up statistics')} {period.first:%Y%m%d}-{period.last:%Y%m%d}.xlsx"
        return xlsx_response(report.table, filters, name)
    times, subjects = fu.measure_labels(obj)
    people = [p.user_id for p in report.people]
    chart = charts.bar_chart(
        [p.name for p in report.people],
        [
            (times, [report.data.people.get(u, (0, 0))[0] for u in people]),
            (subjects, [report.data.people.get(u, (0, 0))[1] for u in people]),
        ],
        title=_("Follow-up statistics"),
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
    return render(request, "reports/followups.html", context)


def followup_list(
    request, *, nav, obj, start, end, scope, user, kind=None, code=None, title, what, filters, back
):
    """The drill-down page: the follow-ups behind a 次数, or the customers (leads) behind a
    客户数 with their follow-up counts; its count is the number it was opened from."""
    tenant = request.user.tenant
    measure = request.GET.get("measure") or fu.TIMES
    if measure not in (fu.TIMES, fu.SUBJECTS):
        raise Http404
    rows = fu.followups_behind(
        tenant=tenant,
        obj=obj,
        start=start,
        end=end,
        scope=scope,
        user_id=user.id if user else None,
        kind=kind,
        code=code,
    )
    context = {
        "title": title,
        "what": what,
        "person": user,
        "measure": measure,
        "measure_label": fu.measure_labels(obj)[0 if measure == fu.TIMES else 1],
        "leads": obj == fu.LEADS,
        "filters": filters,
        "back": back,
        "active_nav": nav,
    }
    if measure == fu.TIMES:
        count = rows.count()
        page = offset_page(request, rows, total=count)
        items = list(page)
        names = fu.subject_names(obj, {fu_subject(f, obj) for f in items})
        context["followups"] = [(f, names.get(fu_subject(f, obj))) for f in items]
    else:
        count = fu.subject_count(rows, obj)
        page = offset_page(request, fu.subjects_behind(rows, obj), total=count)
        items = list(page)
        names = fu.subject_names(obj, {s["subject"] for s in items})
        context["subjects"] = [(s, names.get(s["subject"])) for s in items]
    context.update({"page": page, "count": count})
    return render(request, "reports/followups_list.html", context)


def fu_subject(followup, obj) -> int | None:
    return followup.record_id if obj == fu.LEADS else followup.customer_id


@tenant_view("reports.view")
def followup_report_list(request):
    """The follow-ups (or subjects) behind one number of 跟进动态统计."""
    form = ReportFilterForm(request.GET, actor=request.user)
    if not form.is_valid():
        raise Http404
    period, scope = form.resolve()
    obj = _object(request, list(fu.OBJECTS))
    kind = request.GET.get("type") or fu.TOTAL
    if kind not in (fu.TOTAL, fu.NO_TYPE) and not kind.isdigit():
        raise Http404
    user = drill_person(request, scope)
    start, end = period.bounds(request.user.tenant.tzinfo)
    if kind == fu.TOTAL:
        what = pgettext_lazy("follow-up statistics", "Total")
    elif kind == fu.NO_TYPE:
        what = _("No type")
    else:
        option = Option.objects.filter(pk=int(kind), kind=OptionKind.FOLLOWUP_TYPE).first()
        if option is None:
            raise Http404
        what = option.label
    back = {**_filters(request), "object": obj}
    return followup_list(
        request,
        nav="report-followups",
        obj=obj,
        start=start,
        end=end,
        scope=scope,
        user=user,
        kind=None if kind == fu.TOTAL else kind,
        title=_("Follow-up statistics"),
        what=what,
        filters=[*form.description(), (_("Object"), str(fu.OBJECTS[obj]))],
        back=f"{reverse('reports:followups')}?{urlencode(back)}",
    )
