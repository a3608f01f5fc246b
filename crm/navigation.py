"""The navigation menu, built per request from what the user may use.

Modules register their entries with :func:`register`; an entry with a permission code is
shown only to users whose role has it (the views check again)."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class NavItem:
    key: str
    label: str | Promise
    url_name: str
    icon: str = "squares-2x2"  # a heroicons name (https://heroicons.com)
    permissions: tuple[str, ...] = ()  # any of these; empty means every tenant user
    section: str = "main"
    order: int = 100


_ITEMS: list[NavItem] = []


def register(item: NavItem) -> NavItem:
    _ITEMS.append(item)
    _ITEMS.sort(key=lambda i: i.order)
    return item


def items_for(user, section: str) -> list[dict]:
    result = []
    for item in _ITEMS:
        if item.section != section:
            continue
        if item.permissions and not any(user.can(code) for code in item.permissions):
            continue
        result.append(
            {"key": item.key, "label": item.label, "url": reverse(item.url_name), "icon": item.icon}
        )
    return result


register(NavItem("workbench", _("Workbench"), "crm:workbench", "home", order=0))
register(NavItem("notifications", _("Notifications"), "crm:notification-list", "bell", order=900))
register(
    NavItem(
        "departments",
        _("Departments"),
        "crm:department-list",
        "building-office-2",
        ("settings.manage",),
        "settings",
    )
)
register(NavItem("users", _("Users"), "crm:user-list", "users", ("users.manage",), "settings"))
register(
    NavItem("roles", _("Roles"), "crm:role-list", "shield-check", ("users.manage",), "settings")
)
register(
    NavItem(
        "options",
        _("Option lists"),
        "crm:option-list",
        "queue-list",
        ("settings.manage",),
        "settings",
    )
)
register(
    NavItem(
        "audit",
        _("Audit log"),
        "crm:audit-log",
        "document-magnifying-glass",
        ("audit.view",),
        "settings",
    )
)
register(
    NavItem(
        "reminders",
        _("Reminders"),
        "crm:reminder-settings",
        "bell-alert",
        ("settings.manage",),
        "settings",
    )
)
register(
    NavItem(
        "deliveries",
        _("Delivery log"),
        "crm:delivery-list",
        "paper-airplane",
        ("settings.manage",),
        "settings",
    )
)
