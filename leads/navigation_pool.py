"""Menu entries of the lead pool: 线索池 for everyone (members see their lead pools) and
线索池设置 in the settings for lead.manage."""

from django.utils.translation import gettext_lazy as _

from crm import navigation

# Right after the leads (5).
navigation.register(
    navigation.NavItem("lead-pool", _("Lead pool"), "leads:pool-list", "◌", order=5)
)
navigation.register(
    navigation.NavItem(
        "lead-pool-groups",
        _("Lead pool settings"),
        "leads:pool-group-list",
        "◌",
        ("lead.manage",),
        "settings",
    )
)
