"""Settings menu entries of leads for lead.manage: campaigns and assignment rules."""

from django.utils.translation import gettext_lazy as _

from crm import navigation

navigation.register(
    navigation.NavItem(
        "campaigns", _("Campaigns"), "leads:campaign-list", "◇", ("lead.manage",), "settings"
    )
)
navigation.register(
    navigation.NavItem(
        "assignment-rules",
        _("Lead assignment rules"),
        "leads:rule-list",
        "⇄",
        ("lead.manage",),
        "settings",
    )
)
