"""The manager's dashboard (``/reports/``): today's follow-ups and today's increment / stock
per customer status, 我的 or 团队, every number opening the report list it comes from, and
the way to every report."""

from __future__ import annotations

from urllib.parse import urlencode

from django.shortcuts import render
from django.urls import reverse

from crm.views.base import tenant_view
from reports import dashboard, periods
from reports import followups as fu
from reports.navigation import REPORTS
from reports.scope import ReportScope

LISTS = {
    "all": "reports:followups-list",
    "visit": "reports:visits-list",
    "phone": "reports:calls-list",
}


def followup_link(request, mine: bool):
    today = periods.tenant_today(request.user.tenant)
    person = {"person": request.user.pk} if mine else {}

    def link(row: str, obj: str, measure: str) -> str:
        if row == "all":
            query = {"preset": "today", "object": obj, "type": fu.TOTAL, "measure": measure}
        else:
            query = {
                "month": f"{today:%Y-%m}",
                "day": today.isoformat(),
                "object": obj,
                "measure": measure,
            }
        return f"{reverse(LISTS[row])}?{urlencode({**query, **person})}"

    return link


def stock_link(request, mine: bool):
    person = {"person": request.user.pk} if mine else {}

    def link(kind: str, value: str, user_id: int | None) -> str:
        query = {
            "preset": "today",
            "dimension": "status",
            "lifecycle": "development",
            "kind": kind,
            "value": value,
            **person,
        }
        return f"{reverse('reports:stock-rows')}?{urlencode(query)}"

    return link


@tenant_view("reports.view")
def dashboard_page(request):
    actor = request.user
    mine = request.GET.get("who") == "mine"
    scope = ReportScope(actor, person=actor if mine else None)
    context = {
        "active_nav": "report-dashboard",
        "mine": mine,
        "objects": list(fu.OBJECTS.values()),
        "followups": dashboard.today_followups(
            actor.tenant, scope.user_ids, followup_link(request, mine)
        ),
        "stock": dashboard.today_stock(actor.tenant, scope, stock_link(request, mine)),
        "reports": REPORTS,
        "today": periods.tenant_today(actor.tenant),
    }
    return render(request, "reports/dashboard.html", context)
