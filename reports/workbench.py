"""The workbench block of today's follow-ups (wave2.md §14.3, 今日跟进): every user sees their
own numbers (reps included: "reps see their own numbers"); who holds ``reports.view`` can
open the list behind each one, and the report centre's 团队 view."""

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
