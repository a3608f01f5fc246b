"""The reports' menu entries (who holds ``reports.view``: managers and admins by default), in
this order after the workbench and the leads."""

from django.utils.translation import gettext_lazy as _

from crm import navigation

# (menu key, label, URL name, icon): the dashboard lists them too.
REPORTS = (
    ("report-increment", _("Customer increment"), "reports:increment", "presentation-chart-line"),
    ("report-stock", _("Increment and stock"), "reports:stock", "chart-pie"),
    ("report-followups", _("Follow-up statistics"), "reports:followups", "chat-bubble-left-right"),
    ("report-visits", _("Customer visits"), "reports:visits", "map-pin"),
    ("report-calls", _("Phone calls"), "reports:calls", "phone"),
    ("report-pool", _("Pool analysis"), "reports:pool", "inbox-stack"),
    ("report-leads", _("Lead conversion rate"), "reports:leads", "funnel"),
    ("report-funnel", _("Sales funnel"), "reports:funnel", "chart-bar"),
    ("report-stage-advance", _("Stage advancement"), "reports:stage-advance", "arrow-trending-up"),
    ("report-lost-reasons", _("Lost reasons"), "reports:lost-reasons", "x-circle"),
    ("report-deals", _("Average deal size and sales cycle"), "reports:deals", "banknotes"),
)
navigation.register(
    navigation.NavItem(
        "report-dashboard",
        _("Report centre"),
        "reports:dashboard",
        "chart-bar-square",
        ("reports.view",),
        order=7,
    )
)
for _key, _label, _url, _icon in REPORTS:
    navigation.register(navigation.NavItem(_key, _label, _url, _icon, ("reports.view",), order=7))
