"""Menu entries and the workbench panel of the pool."""

from django.utils.translation import gettext_lazy as _

from crm import navigation, workbench

navigation.register(navigation.NavItem("pool", _("Public pool"), "pools:pool-list", "◎", order=15))
navigation.register(
    navigation.NavItem(
        "pool-groups", _("Pool groups"), "pools:group-list", "◎", ("pool.manage",), "settings"
    )
)


def _due_for_recycling(request):
    from pools.selectors import due_for_recycling

    rows = due_for_recycling(actor=request.user)
    return {"rows": rows[:20], "total": len(rows)} if rows else None


workbench.register("pools/workbench_recycle.html", _due_for_recycling, order=15)
