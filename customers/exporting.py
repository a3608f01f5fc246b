"""The exports of the customers module (crm.exporting): customers, contacts and follow-ups.

Each source rebuilds its list exactly as the list page builds it, from the same selector,
filter class and sort table, with the page's query string, so that the file holds what the
list shows; selected rows are checked against everything the actor may see in that list
(refused as a whole when one is not). The rows are read with their joins and prefetches:
a fixed number of queries per chunk, whatever the number of rows.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from crm.exporting import (
    Column,
    ExportKind,
    ExportSource,
    ListRequest,
    field_column,
    list_filtered,
    list_sort,
    masked,
    only_selected,
    register,
    tags_value,
)
from crm.models import User
from customers import selectors
from customers.filters import ContactFilter, CustomerFilter
from customers.models import Contact, Customer, FollowUp

# The joins a customer row needs for its columns (PERF: no query per row).
CUSTOMER_JOINS = (
    "owner",
    "created_by",
    "referrer",
    "level",
    "status",
    "source",
    "industry",
)


def customer_columns(actor: User) -> list[Column]:
    def f(name: str, value=None) -> Column:
        # The fields crm.masking may hide from the actor read *** on those rows.
        return masked(field_column(Customer, name, value), actor=actor, model=Customer, path=name)

    return [
        f("name"),
        f("lifecycle"),
        f("deal_status"),
        f("owner"),
        f("status"),
        f("level"),
        f("source"),
        f("industry"),
        f("tags", tags_value),
        f("legal_representative"),
        f("credit_code"),
        f("bank_name"),
        f("bank_account"),
        f("products"),
        f("raw_materials"),
        f("province"),
        f("city"),
        f("district"),
        f("address"),
        f("referrer"),
        f("visibility"),
        f("is_locked"),
        f("last_followup_at"),
        f("next_followup_at"),
        f("remark"),
        f("created_by"),
        f("created_at"),
    ]


def customer_source(*, actor: User, query: QueryDict, ids: Sequence[int] | None) -> ExportSource:
    """The customer list of ``query`` (view, filters, sort), as
    customers.views.customers.customer_list builds it; or the selected customers, checked
    against the view's whole visible set (the recycle bin for the bin, every listed customer
    otherwise)."""
    view = query.get("view") or "mine"
    sort = list_sort(query, selectors.SORTS, "created")
    if ids is None:
        base = selectors.customer_base(actor=actor, view=view)
        qs = list_filtered(CustomerFilter, actor=actor, query=query, base=base)
    else:
        everything = selectors.customer_base(actor=actor, view="bin" if view == "bin" else "all")
        qs = only_selected(everything, ids)
    rows = selectors.customer_list(actor=actor, queryset=qs, sort=sort).select_related(
        *CUSTOMER_JOINS
    )
    return ExportSource(rows, customer_columns(actor))


def contact_columns(actor: User) -> list[Column]:
    def f(name: str, value=None) -> Column:
        # A contact's fields are hidden through its customer (crm.masking).
        return masked(
            field_column(Contact, name, value),
            actor=actor,
            model=Customer,
            path=f"contacts__{name}",
            row=lambda contact: contact.customer,
        )

    return [
        f("customer", lambda c: c.customer.name),
        f("name"),
        f("mobile"),
        f("phone"),
        f("email"),
        f("title"),
        f("gender"),
        f("is_decision_maker"),
        f("birthday"),
        f("role"),
        f("remark"),
        f("created_at"),
    ]


def contact_source(*, actor: User, query: QueryDict, ids: Sequence[int] | None) -> ExportSource:
    """The contact list of ``query`` (its filters), as customers.views.customers.contact_list builds
    it; or the selected contacts among every contact the actor sees."""
    visible = selectors.contact_list(actor=actor)
    if ids is None:
        qs = list_filtered(ContactFilter, actor=actor, query=query, base=visible)
    else:
        qs = only_selected(visible, ids)
    return ExportSource(qs.select_related("customer"), contact_columns(actor))


def followup_columns() -> list[Column]:
    def f(name: str, value=None) -> Column:
        return field_column(FollowUp, name, value)

    return [
        f("customer", lambda x: x.customer.name),
        f("contact", lambda x: x.contact.name if x.contact else ""),
        f("kind", lambda x: x.kind.label if x.kind else ""),
        f("content"),
        f("followed_at"),
        f("next_followup_at"),
        f("created_by"),
    ]


def followup_source(*, actor: User, query: QueryDict, ids: Sequence[int] | None) -> ExportSource:
    """The follow-up feed of ``query`` (我的跟进 or 团队跟进 with its filters), filtered by
    the feed's own function; or the selected follow-ups of that feed."""
    from customers.views.customers import _filtered_feed

    scope = "team" if query.get("scope") == "team" else "mine"
    if ids is None:
        qs = _filtered_feed(ListRequest(user=actor, GET=query), scope)
    else:
        qs = only_selected(selectors.followup_feed(actor=actor, scope=scope), ids)
    # The comments the feed prefetches are not exported.
    rows = qs.prefetch_related(None).select_related("customer", "contact", "kind", "created_by")
    return ExportSource(rows, followup_columns())


CUSTOMERS = register(
    ExportKind("customers", _("Customers"), customer_source, "customers:customer-list")
)
CONTACTS = register(ExportKind("contacts", _("Contacts"), contact_source, "customers:contact-list"))
FOLLOWUPS = register(
    ExportKind("followups", _("Follow-ups"), followup_source, "customers:followup-feed")
)
