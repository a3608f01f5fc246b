"""The opportunity and product function rights (crm.permissions) and what the built-in roles
of a tenant get of them."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from crm.permissions import register

OPPORTUNITY_CREATE = register("opportunity.create", _("Create opportunities"), _("Opportunities"))
OPPORTUNITY_TRANSFER = register(
    "opportunity.transfer", _("Transfer opportunities"), _("Opportunities")
)
OPPORTUNITY_DELETE = register("opportunity.delete", _("Delete opportunities"), _("Opportunities"))
OPPORTUNITY_EXPORT = register("opportunity.export", _("Export opportunities"), _("Opportunities"))
OPPORTUNITY_REOPEN = register(
    "opportunity.reopen", _("Reopen won or lost opportunities"), _("Opportunities")
)
OPPORTUNITY_SETTINGS = register(
    "opportunity.settings", _("Manage sales stages and opportunity settings"), _("Opportunities")
)
PRODUCT_MANAGE = register("product.manage", _("Manage products and categories"), _("Products"))
PRODUCT_IMPORT = register("product.import", _("Import products"), _("Products"))

# What a new tenant's built-in roles get (the administrator gets every code anyway).
# Kept in step with migration opportunities 0002.
ROLE_DEFAULTS: dict[str, list[str]] = {
    "sales_manager": [
        "opportunity.create",
        "opportunity.export",
        "opportunity.transfer",
        "opportunity.reopen",
        "opportunity.delete",
    ],
    "sales_rep": ["opportunity.create", "opportunity.export"],
}
