"""The public pool's export (crm.exporting): the pool list of a group or of all the user's
groups, with its filters and sort, as customers.views.pool.pool_list builds it.

SECURITY: the fields a pool group hides until a customer is claimed (contact details by
default, pools.models.HIDDEN_FIELD_CHOICES) stay hidden in the file: their cells say "***"
for every row of a group that hides them from the user (its admins and pool managers see
them, as on the pages).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.db.models import Prefetch
from django.http import QueryDict
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from crm.exporting import (
    MASK,
    Column,
    ExportKind,
    ExportSource,
    field_column,
    list_filtered,
    list_sort,
    only_selected,
    register,
    tags_value,
)
from crm.models import User
from customers.filters import CustomerFilter
from customers.models import Contact, Customer, Tag
from customers.pooling import KIND
from pools import selectors


def _first_contact(customer) -> Contact | None:
    contacts = customer.contacts.all()  # prefetched, in the order the pool list shows
    return contacts[0] if contacts else None


def _contact_value(name: str) -> Callable:
    def value(customer):
        contact = _first_contact(customer)
        return getattr(contact, name) if contact else ""

    return value


def _masked(column: Column, key: str, hidden: Callable) -> Column:
    """``column`` showing MASK on the rows whose group hides ``key`` from the actor."""
    read = column.value

    def value(customer):
        return MASK if key in hidden(customer) else read(customer)

    return Column(column.header, value)


def pool_columns(actor: User) -> list[Column]:
    def hidden(customer) -> frozenset[str]:
        # No query: the group is joined and the actor's admin groups are cached on them.
        return selectors.hidden_fields_for(actor, customer)

    def f(name: str, value=None, *, hide: str | None = None) -> Column:
        column = field_column(Customer, name, value)
        return _masked(column, hide, hidden) if hide else column

    def contact(name: str, *, hide: str | None = None) -> Column:
        header = capfirst(Contact._meta.get_field(name).verbose_name)
        column = Column(header, _contact_value(name))
        return _masked(column, hide, hidden) if hide else column

    return [
        f("name"),
        f("lifecycle"),
        f("pool_group"),
        f("pooled_at"),
        f("pool_reason"),
        f("pool_note"),
        f("previous_owner"),
        f("level"),
        f("status"),
        f("source"),
        f("industry"),
        f("tags", tags_value),
        Column(capfirst(Contact._meta.verbose_name), _contact_value("name")),
        contact("mobile", hide="contact_phones"),
        contact("phone", hide="contact_phones"),
        contact("email", hide="contact_emails"),
        f("legal_representative", hide="legal_representative"),
        f("credit_code", hide="credit_code"),
        f("bank_name", hide="bank"),
        f("bank_account", hide="bank"),
        f("province"),
        f("city"),
        f("district"),
        f("address", hide="address"),
        f("remark", hide="remark"),
        f("last_followup_at"),
        f("created_at"),
    ]


def pool_source(*, actor: User, query: QueryDict, ids: Sequence[int] | None) -> ExportSource:
    """The pool list of ``query`` (group, filters, sort); or the selected customers among
    every pool the actor may open."""
    from customers.views.pool import SORTS

    sort = list_sort(query, SORTS, "pooled")
    if ids is None:
        groups = selectors.visible_groups(actor, KIND)
        wanted = query.get("group") or ""
        group = next((g for g in groups if str(g.pk) == wanted), None)
        base = selectors.pool_base(actor=actor, group=group, kind=KIND)
        # Nobody owns a pool customer.
        qs = list_filtered(CustomerFilter, actor=actor, query=query, base=base, without=["owner"])
    else:
        qs = only_selected(selectors.pool_base(actor=actor, kind=KIND), ids)
    rows = (
        qs.select_related("pool_group", "previous_owner", "level", "status", "source", "industry")
        .prefetch_related(
            Prefetch("contacts", queryset=Contact.objects.order_by("pk")),
            Prefetch("tags", queryset=Tag.objects.order_by("name")),
        )
        .order_by(*SORTS[sort])
    )
    return ExportSource(rows, pool_columns(actor))


POOL = register(ExportKind("pool", _("Public pool"), pool_source, "customers:pool-list"))
