"""Menu entry 线索 and the workbench panels of leads: follow-ups due (today and overdue) and my
leads about to fall into the lead pool."""

from django.utils.translation import gettext_lazy as _

from crm import navigation, workbench

# Between the workbench (0) and customers (10).
navigation.register(navigation.NavItem("leads", _("Leads"), "leads:lead-list", "✧", order=5))


def _followups_due(request):
    from leads.selectors import lead_followups_due

    today, overdue = lead_followups_due(actor=request.user)
    today, overdue = list(today[:20]), list(overdue[:20])
    if not today and not overdue:
        return None  # nothing to do: no panel
    return {"today": today, "overdue": overdue}


workbench.register("leads/workbench_followups.html", _followups_due, order=11)


def _due_for_recycling(request):
    from leads.pooling import lead_due_for_recycling

    rows = lead_due_for_recycling(actor=request.user)
    return {"rows": rows[:20], "total": len(rows)} if rows else None


# Right after the customers about to fall into the public pool (15).
workbench.register("leads/workbench_recycle.html", _due_for_recycling, order=16)
