"""Menu entry 线索 and the workbench panel of lead follow-ups due (today and overdue)."""

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
