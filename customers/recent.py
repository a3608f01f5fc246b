"""The customer as a kind of 最近浏览 (crm.recent): which of the customers a user opened they
still see, as the customer lists show them (not in the bin, not lying in the public pool)."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from crm import recent
from crm.visibility import visible_to


def visible_customers(actor, ids: list[int]) -> dict[int, tuple[str, str]]:
    """``{id: (name, page)}`` of the customers among ``ids`` that ``actor`` sees (one query)."""
    from customers.models import Customer

    rows = (
        visible_to(actor, Customer.objects.alive().outside_pool(), include_pool=False)
        .filter(pk__in=ids)
        .values_list("pk", "name")
    )
    return {pk: (name, reverse("customers:customer-detail", args=[pk])) for pk, name in rows}


recent.register("customer", _("Customer"), visible_customers)
