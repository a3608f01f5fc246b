"""Menu entries and workbench panels of leads: 线索, 线索池 (and 线索池设置,
市场活动, 线索分配规则 in the settings), the follow-ups due (today and overdue) and my leads
about to fall into the lead pool. The registration order is the menu's order among entries of
the same rank."""

from django.utils.translation import gettext_lazy as _

from crm import navigation, workbench

# Between the workbench (0) and customers (10).
navigation.register(navigation.NavItem("leads", _("Leads"), "leads:lead-list", "sparkles", order=5))


def _followups_due(request):
    from customers.selectors import WorkbenchLinks
    from leads.selectors import lead_followups_due

    today_qs, overdue_qs = lead_followups_due(actor=request.user)
    today, overdue = list(today_qs[:20]), list(overdue_qs[:20])
    if not today and not overdue:
        return None  # nothing to do: no panel
    # "20 / 29": a count only when the list is full.
    return {
        "today": today,
        "overdue": overdue,
        "today_total": today_qs.count() if len(today) == 20 else len(today),
        "overdue_total": overdue_qs.count() if len(overdue) == 20 else len(overdue),
        # The lead list's 我的线索 with the same next follow-up bounds (leads.filters).
        "links": WorkbenchLinks.build(),
    }


workbench.register("leads/workbench_followups.html", _followups_due, order=11)


def _due_for_recycling(request):
    """My open leads the lead pool takes back within RECYCLE_SOON_DAYS (as the customers'
    list and KPI), with 全部 linking to the lead list of exactly those (its recycle_within)."""
    from customers.selectors import RECYCLE_SOON_DAYS
    from leads.pooling import KIND
    from pools.selectors import due_for_recycling

    rows = due_for_recycling(actor=request.user, kind=KIND, within_days=RECYCLE_SOON_DAYS)
    if not rows:
        return None
    return {
        "rows": rows[:20],
        "total": len(rows),
        "link": f"view=mine&recycle_within={RECYCLE_SOON_DAYS}",
    }


# Right after the customers about to fall into the public pool (15).
workbench.register("leads/workbench_recycle.html", _due_for_recycling, order=16)


# The conversion statistics are a report now: reports.navigation's 线索转换率.


# ---------------------------------------------------------------- the lead pool

# Right after the leads (5).
navigation.register(
    navigation.NavItem("lead-pool", _("Lead pool"), "leads:pool-list", "inbox-stack", order=5)
)
navigation.register(
    navigation.NavItem(
        "lead-pool-groups",
        _("Lead pool settings"),
        "leads:pool-group-list",
        "adjustments-horizontal",
        ("lead.manage",),
        "settings",
    )
)


# ---------------------------------------------------------------- settings

navigation.register(
    navigation.NavItem(
        "campaigns",
        _("Campaigns"),
        "leads:campaign-list",
        "megaphone",
        ("lead.manage",),
        "settings",
    )
)
navigation.register(
    navigation.NavItem(
        "assignment-rules",
        _("Lead assignment rules"),
        "leads:rule-list",
        "arrows-right-left",
        ("lead.manage",),
        "settings",
    )
)
