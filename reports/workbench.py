"""The workbench blocks of wave2.md §14.3 that today's data feeds: today's follow-ups (今日跟进)
and today's increment / stock per customer status (增量 / 存量 今天). Every user sees their own
numbers (reps included: "reps see their own numbers"); who holds ``reports.view`` can open
the list behind each one, and the report centre's 我的 / 团队 switch."""

from __future__ import annotations

from crm import workbench


def _today(request):
    from reports import dashboard
    from reports import followups as fu
    from reports.views.dashboard import followup_link

    actor = request.user
    may_open = actor.can("reports.view")
    # PERF: the viewer's own follow-ups need no data scope (the workbench is a hot page).
    rows = dashboard.today_followups(
        actor.tenant, {actor.pk}, followup_link(request, True) if may_open else None
    )
    return {"rows": rows, "objects": list(fu.OBJECTS.values()), "may_open": may_open}


workbench.register("reports/workbench_today.html", _today, order=40)


def _stock_today(request):
    from reports import dashboard
    from reports.scope import ReportScope
    from reports.views.dashboard import stock_link

    actor = request.user
    may_open = actor.can("reports.view")
    link = stock_link(request, True) if may_open else (lambda *_args: None)
    rows = dashboard.today_stock(actor.tenant, ReportScope(actor, person=actor), link)
    return {"rows": rows, "may_open": may_open}


workbench.register("reports/workbench_stock.html", _stock_today, order=41)
