"""The reports' menu entries (who holds ``reports.view``: managers and admins by default)."""

from django.utils.translation import gettext_lazy as _

from crm import navigation

navigation.register(
    navigation.NavItem(
        "report-increment",
        _("Customer increment"),
        "reports:increment",
        "presentation-chart-line",
        ("reports.view",),
        order=7,
    )
)

# 跟进动态统计, 客户拜访统计, 电话统计 (reports/followups.py, reports/visits.py).
for _key, _label, _url, _icon in (
    ("report-followups", _("Follow-up statistics"), "reports:followups", "chat-bubble-left-right"),
    ("report-visits", _("Customer visits"), "reports:visits", "map-pin"),
    ("report-calls", _("Phone calls"), "reports:calls", "phone"),
):
    navigation.register(navigation.NavItem(_key, _label, _url, _icon, ("reports.view",), order=7))
navigation.register(
    navigation.NavItem(
        "report-pool",
        _("Pool analysis"),
        "reports:pool",
        "inbox-stack",
        ("reports.view",),
        order=7,
    )
)
