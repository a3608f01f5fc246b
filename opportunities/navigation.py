"""Menu entries, the workbench panel, the customer page's 商机 tab and the 最近浏览 kind of
opportunities: 商机 (the list; the kanban is reached from it), 产品 (the products part's list),
产品分类 and 销售阶段 in the settings, the rep's 本月预计成交 number."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from crm import navigation, recent, workbench
from customers import hooks as customer_hooks

# After customers (10).
navigation.register(
    navigation.NavItem(
        "opportunities", _("Opportunities"), "opportunities:opportunity-list", "briefcase", order=12
    )
)
navigation.register(
    navigation.NavItem(
        "products",
        pgettext_lazy("product catalogue", "Products"),
        "opportunities:product-list",
        "cube",
        order=13,
    )
)
navigation.register(
    navigation.NavItem(
        "product-categories",
        _("Product categories"),
        "opportunities:category-list",
        "rectangle-stack",
        ("product.manage",),
        "settings",
    )
)
navigation.register(
    navigation.NavItem(
        "opportunity-stages",
        _("Sales stages"),
        "opportunities:stage-settings",
        "funnel",
        ("opportunity.settings",),
        "settings",
    )
)


# ---------------------------------------------------------------- workbench


def _closing_this_month(request):
    """本月预计成交: the actor's own open opportunities expected to close this month, their
    count and Σ amount (one query), linking to exactly those rows of the list."""
    from django.db.models import Count, Sum

    from crm import masking
    from opportunities.listing import month_bounds
    from opportunities.models import Opportunity

    user = request.user
    if not user.can("opportunity.create"):
        return None
    first, last = month_bounds(user.tenant.today())
    figures = (
        Opportunity.objects.open()
        .filter(
            tenant_id=user.tenant_id,
            owner=user,
            expected_close_date__gte=first,
            expected_close_date__lte=last,
        )
        .aggregate(n=Count("pk"), total=Sum("amount"))
    )
    hidden = "amount" in masking.maskable_paths(Opportunity)
    return {
        "count": figures["n"] or 0,
        # A rule that may hide amounts hides the sum too (it cannot tell row by row here).
        "total": None if hidden else figures["total"] or 0,
        "link": (
            f"view=mine&status=open&expected_close_after={first.isoformat()}"
            f"&expected_close_before={last.isoformat()}"
        ),
    }


workbench.register("opportunities/workbench_kpi.html", _closing_this_month, order=20, area="kpi")


# ---------------------------------------------------------------- the customer page's tab


def _customer_tab(request, customer) -> dict:
    """The customer's opportunities the user sees (the newest 20, all in the list) and
    新建商机 for those who may open one on this customer."""
    from crm import masking
    from opportunities import policies
    from opportunities.listing import LIST_JOINS
    from opportunities.selectors import opportunities_visible

    actor = request.user
    qs = opportunities_visible(actor).filter(customer=customer)
    rows = list(qs.select_related(*LIST_JOINS).order_by("-created_at", "-id")[:20])
    masking.prepare(actor, rows)
    return {
        "customer_opportunities": rows,
        "customer_opportunities_total": len(rows) if len(rows) < 20 else qs.count(),
        "may_create_opportunity": policies.may_create_for(actor, customer),
    }


customer_hooks.register_detail_tab(
    "opportunities", _("Opportunities"), "opportunities/customer_opportunities.html", _customer_tab
)


# ---------------------------------------------------------------- 最近浏览


def _visible_opportunities(actor, ids: list[int]) -> dict[int, tuple[str, str]]:
    from opportunities.selectors import opportunities_visible

    rows = opportunities_visible(actor).filter(pk__in=ids).values_list("pk", "name")
    return {pk: (name, reverse("opportunities:opportunity-detail", args=[pk])) for pk, name in rows}


recent.register("opportunity", _("Opportunity"), _visible_opportunities)
