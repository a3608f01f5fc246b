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
