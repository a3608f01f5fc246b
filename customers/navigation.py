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


def _followups_due(request):
    from customers.selectors import followups_due

    today, overdue = followups_due(actor=request.user)
    return {"today": list(today[:20]), "overdue": list(overdue[:20])}


workbench.register("customers/workbench_followups.html", _followups_due, order=10)


def _due_for_recycling(request):
    """My customers about to fall into the public pool."""
    from customers.pooling import KIND
    from pools.selectors import due_for_recycling

    rows = due_for_recycling(actor=request.user, kind=KIND)
    return {"rows": rows[:20], "total": len(rows)} if rows else None


workbench.register("pools/workbench_recycle.html", _due_for_recycling, order=15)
