"""What opportunities register with the pool engine (pools.hooks): a customer with an open
opportunity is never recycled (where its group says so), and the recycle rule "no new
opportunity in N days" (悟空's rule type 2) counts from the customer's newest opportunity.

Both are expressions inside the recycling query (set-based). They read the table through
its base manager: the outer customer query is already the tenant's, and the subquery
matches the tenant too (its index leads with the tenant)."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils.translation import ngettext

from opportunities.models import Opportunity, StageKind
from pools import hooks


def _opportunities_of_customer():
    return Opportunity._base_manager.filter(
        tenant_id=OuterRef("tenant_id"), customer_id=OuterRef("pk")
    )


def has_open_opportunity() -> Q:
    """Customers with an open opportunity (the exemption)."""
    return Q(Exists(_opportunities_of_customer().filter(status=StageKind.OPEN)))


def last_opportunity_created():
    """The creation time of the customer's newest opportunity (None without one)."""
    return Subquery(_opportunities_of_customer().order_by("-created_at").values("created_at")[:1])


def _reason(days: int) -> str:
    return ngettext(
        "no new opportunity for %(days)d day", "no new opportunity for %(days)d days", days
    ) % {"days": days}


hooks.register_recycle_exemption(has_open_opportunity)
hooks.register_activity_date(
    "opportunity", kind="customer", latest=last_opportunity_created, reason=_reason
)
