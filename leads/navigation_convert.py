"""Menu entry of the lead conversion statistics (线索转化统计)."""

from django.utils.translation import gettext_lazy as _

from crm import navigation

# Everyone who works on leads sees the numbers of the leads they may see.
navigation.register(
    navigation.NavItem(
        "lead-stats",
        _("Lead conversion"),
        "leads:lead-stats",
        "↗",
        ("reports.view", "lead.convert", "lead.export", "lead.manage"),
        order=6,
    )
)
