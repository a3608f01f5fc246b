"""The one registry of function permissions (question 1 of STYLE "Visibility and permissions").

A role holds a set of codes from this registry. Modules register their codes at import time
with :func:`register`; asking about an unknown code raises, so a typo fails loudly in tests
instead of silently denying (pretix's permission registry does the same).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Permission:
    code: str
    label: str | Promise
    group: str | Promise


_REGISTRY: dict[str, Permission] = {}


class UnknownPermissionError(KeyError):
    pass


def register(code: str, label: str | Promise, group: str | Promise) -> Permission:
    if code in _REGISTRY:
        raise ValueError(f"permission {code!r} is registered twice")
    perm = Permission(code, label, group)
    _REGISTRY[code] = perm
    return perm


def check(code: str) -> str:
    if code not in _REGISTRY:
        raise UnknownPermissionError(code)
    return code


def all_codes() -> list[str]:
    return list(_REGISTRY)


def grouped() -> list[tuple[str | Promise, list[Permission]]]:
    """Permissions grouped for the role form, in registration order."""
    groups: dict[str, tuple[str | Promise, list[Permission]]] = {}
    for perm in _REGISTRY.values():
        groups.setdefault(str(perm.group), (perm.group, []))[1].append(perm)
    return list(groups.values())


def label(code: str) -> str | Promise:
    return _REGISTRY[check(code)].label


class PermissionSet(frozenset):
    """A frozenset of codes whose ``in`` validates the code it is asked about."""

    def __contains__(self, code: object) -> bool:
        check(str(code))
        return super().__contains__(code)


SETTINGS_MANAGE = register(
    "settings.manage", _("Manage settings (departments, option lists)"), _("Administration")
)
USERS_MANAGE = register("users.manage", _("Manage users and roles"), _("Administration"))
AUDIT_VIEW = register("audit.view", _("View the audit log"), _("Administration"))
# An import job belongs to the user who uploaded it; holders of import.manage (tenant admins)
# open, confirm, cancel and undo everyone's, of the kinds they may import (crm.importing).
IMPORT_MANAGE = register("import.manage", _("Manage everyone's imports"), _("Administration"))
CUSTOMER_IMPORT = register("customer.import", _("Import customers"), _("Customers"))
CUSTOMER_EXPORT = register("customer.export", _("Export customers"), _("Customers"))
CUSTOMER_DELETE = register("customer.delete", _("Delete customers"), _("Customers"))
CUSTOMER_TRANSFER = register("customer.transfer", _("Transfer customers"), _("Customers"))
POOL_MANAGE = register("pool.manage", _("Manage the public pool"), _("Customers"))
APPROVAL_APPROVE = register(
    "approval.approve", _("Approve quotes, contracts, orders and payments"), _("Sales")
)
REPORTS_VIEW = register("reports.view", _("View reports"), _("Reports"))
LEAD_IMPORT = register("lead.import", _("Import leads"), _("Leads"))
LEAD_EXPORT = register("lead.export", _("Export leads"), _("Leads"))
LEAD_TRANSFER = register("lead.transfer", _("Transfer leads"), _("Leads"))
LEAD_CONVERT = register("lead.convert", _("Convert leads into customers"), _("Leads"))
LEAD_MANAGE = register(
    "lead.manage", _("Manage lead pools, campaigns and assignment rules"), _("Leads")
)
