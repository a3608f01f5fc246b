"""Menu entries and the workbench panel of the customers module."""

from django.utils.translation import gettext_lazy as _

from crm import navigation, workbench

navigation.register(
    navigation.NavItem(
        "customers", _("Customers"), "customers:customer-list", "building-office", order=10
    )
)
navigation.register(
    navigation.NavItem(
        "pool", _("Public pool"), "customers:pool-list", "globe-asia-australia", order=15
    )
)
navigation.register(
    navigation.NavItem(
        "contacts", _("Contacts"), "customers:contact-list", "identification", order=20
    )
)
navigation.register(
    navigation.NavItem(
        "followups", _("Follow-ups"), "customers:followup-feed", "pencil-square", order=30
    )
)


def _numbers(request) -> dict:
    """The rep's workbench numbers, read once per request (the KPI row and the lists' totals)."""
    numbers = getattr(request, "_workbench_numbers", None)
    if numbers is None:
        from customers.selectors import workbench_numbers

        numbers = request._workbench_numbers = workbench_numbers(actor=request.user)
    return numbers


def _claims_left(user):
    """(claims left today, the daily limit, the group) in the user's default public pool
    group (the first they may open: the tenant's default one first), or None without a
    limit."""
    from customers.pooling import KIND
    from pools.selectors import visible_groups
    from pools.services import claimed_today

    groups = visible_groups(user, KIND)
    group = groups[0] if groups else None
    if group is None or not group.daily_claim_limit:
        return None
    done = claimed_today(user, group)
    return {
        "left": max(0, group.daily_claim_limit - done),
        "limit": group.daily_claim_limit,
        "group": group,
    }


def _kpis(request):
    """今日待跟进 · 已逾期 · 即将掉公海 · 本月新增客户 · 本月跟进次数 · 公海今日可领 N/20."""
    return {"numbers": _numbers(request), "claims": _claims_left(request.user)}


workbench.register("customers/workbench_kpis.html", _kpis, order=10, area="kpi")


def _followups_due(request):
    from customers.selectors import followups_due

    today, overdue = followups_due(actor=request.user)
    numbers = _numbers(request)
    return {
        "today": list(today[:20]),
        "overdue": list(overdue[:20]),
        "today_total": numbers["today"],
        "overdue_total": numbers["overdue"],
        "links": numbers["links"],
    }


workbench.register("customers/workbench_followups.html", _followups_due, order=10)


def _due_for_recycling(request):
    """My customers about to fall into the public pool (within RECYCLE_SOON_DAYS, as the
    KPI and the list it links to)."""
    from customers.pooling import KIND
    from customers.selectors import RECYCLE_SOON_DAYS
    from pools.selectors import due_for_recycling

    numbers = _numbers(request)
    if not numbers["recycle"]:
        return None
    rows = due_for_recycling(actor=request.user, kind=KIND, within_days=RECYCLE_SOON_DAYS)
    return {"rows": rows[:20], "total": numbers["recycle"], "link": numbers["links"]["recycle"]}


workbench.register("pools/workbench_recycle.html", _due_for_recycling, order=15)


def _team(request):
    """A manager's per-rep table: today's and overdue follow-ups, new customers this month."""
    from customers.selectors import workbench_team

    table = workbench_team(actor=request.user)
    return {"rows": table} if table is not None else None


workbench.register("customers/workbench_team.html", _team, order=10, area="team")
