"""增量 / 存量对比 (issue 19 §2; wave2.md §14.2 R3).

Per person × value of the chosen dimension (customer status, level, deal status or tag):
**增量**, the customers that entered the value in the period while the person owned them
(customers.CustomerAttrEvent through the ``attr`` summary source: a new customer's first
values count), and **存量**, the customers the person owns holding the value at the end of
the period (reports/stock.py: live for a period ending today, the day's snapshot before).
The lifecycle filter reads the lifecycle at the change for 增量 and the current one for 存量.

Drill-downs list the changes behind an increment and the customers behind today's stock (a
past day's stock is a snapshot: its customers are not listed).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from crm.models import Option, OptionKind, Tenant
from customers.models import Customer, CustomerAttrEvent, Tag
from reports import stock, summary
from reports.increment import ALL
from reports.periods import Period
from reports.scope import ReportScope
from reports.tables import Column, Row, Table

DIMENSIONS = {
    "status": _("Customer status"),
    "level": _("Customer level"),
    "deal_status": _("Deal status"),
    "tag": _("Tag"),
}
DEFAULT_DIMENSION = "status"


def values_of(tenant_id: int, field: str) -> list[tuple[str, str]]:
    """The dimension's values ``[(value, label)]`` in the order people know them (one query,
    none for the deal status)."""
    if field in ("status", "level"):
        kind = OptionKind.CUSTOMER_STATUS if field == "status" else OptionKind.CUSTOMER_LEVEL
        return [
            (str(pk), label)
            for pk, label in Option.objects.filter(tenant_id=tenant_id, kind=kind).values_list(
                "pk", "label"
            )
        ]
    if field == "deal_status":
        return [(value, str(label)) for value, label in Customer.DealStatus.choices]
    return [
        (str(pk), name)
        for pk, name in Tag.objects.filter(tenant_id=tenant_id).values_list("pk", "name")
    ]


def _kept(lifecycle: str, at_event: str) -> bool:
    return lifecycle == ALL or at_event == lifecycle


@dataclass
class StockReport:
    table: Table
    has_stock: bool  # False: no snapshot was taken at the period's end
    live_stock: bool  # the stock is today's (its customers can be listed)
    people: list


def increment_stock_report(
    *,
    tenant: Tenant,
    period: Period,
    scope: ReportScope,
    field: str,
    lifecycle: str,
    link,
    now: datetime.datetime | None = None,
) -> StockReport:
    """The table. ``link(kind, value, user_id or None)`` gives a cell's drill-down URL
    (kind "in" or "stock")."""
    today = tenant.today(now)
    increments: dict[tuple[int, str], int] = {}
    for (user_id, metric), n in summary.figures(
        tenant, "attr", period.first, period.last, scope.user_ids, now
    ).items():
        _attr, f, value, at_event = metric.split(":", 3)
        if f == field and _kept(lifecycle, at_event):
            key = (user_id, value)
            increments[key] = increments.get(key, 0) + n
    stocks: dict[tuple[int, str], int] = {}
    snapshot = stock.at_day(tenant, field, period.last, today, scope.user_ids)
    for (user_id, value, now_lifecycle), n in (snapshot or {}).items():
        if _kept(lifecycle, now_lifecycle):
            key = (user_id, value)
            stocks[key] = stocks.get(key, 0) + n
    live_stock = period.last >= today

    known = values_of(tenant.pk, field)
    seen = {v for _u, v in increments} | {v for _u, v in stocks}
    labels = dict(known)
    values = [(v, label) for v, label in known] + [
        (v, str(_("(removed)"))) for v in sorted(seen - set(labels))
    ]
    columns = []
    for value, label in values:
        columns.append(Column(f"in:{value}", f"{label} · {_('Increment')}"))
        columns.append(Column(f"stock:{value}", f"{label} · {_('Stock')}"))

    users_with_data = {u for u, _v in increments} | {u for u, _v in stocks}
    people = scope.person_rows(with_data=frozenset(users_with_data))

    def cells(user_id: int | None) -> tuple[dict, dict]:
        vals, links = {}, {}
        for value, _label in values:
            if user_id is None:
                inc = sum(n for (u, v), n in increments.items() if v == value)
                stk = sum(n for (u, v), n in stocks.items() if v == value)
            else:
                inc = increments.get((user_id, value), 0)
                stk = stocks.get((user_id, value), 0)
            vals[f"in:{value}"] = inc
            links[f"in:{value}"] = link("in", value, user_id)
            vals[f"stock:{value}"] = stk if snapshot is not None else None
            if live_stock:
                links[f"stock:{value}"] = link("stock", value, user_id)
        return vals, links

    rows = []
    for person in people:
        vals, links = cells(person.user_id)
        rows.append(Row(person.name, vals, links, inactive=person.inactive, key=person.user_id))
    total_vals, total_links = cells(None)
    table = Table(
        title=str(_("Increment and stock")),
        columns=columns,
        rows=rows,
        total=Row(str(_("Total")), total_vals, total_links),
        label_header=str(_("Person")),
    )
    return StockReport(table, snapshot is not None, live_stock, people)


def increment_changes(
    *,
    period: Period,
    tz: datetime.tzinfo,
    scope: ReportScope,
    field: str,
    value: str,
    lifecycle: str,
    user_id: int | None,
) -> QuerySet:
    """The field changes behind an increment (newest first)."""
    start, end = period.bounds(tz)
    qs = CustomerAttrEvent.objects.filter(
        tenant_id=scope.actor.tenant_id,
        field=field,
        new_value=value,
        at__gte=start,
        at__lt=end,
        owner_id__in=[user_id] if user_id is not None else sorted(scope.user_ids),
    )
    if lifecycle != ALL:
        qs = qs.filter(lifecycle=lifecycle)
    return qs.select_related("customer", "owner").order_by("-at", "-id")


def stock_customers(
    *, scope: ReportScope, field: str, value: str, lifecycle: str, user_id: int | None
) -> QuerySet:
    """The customers behind today's stock."""
    qs = Customer.objects.filter(
        tenant_id=scope.actor.tenant_id,
        deleted_at__isnull=True,
        owner_id__in=[user_id] if user_id is not None else sorted(scope.user_ids),
        **{stock.LOOKUPS[field]: value},
    )
    if lifecycle != ALL:
        qs = qs.filter(lifecycle=lifecycle)
    return qs.select_related("owner").order_by("name", "pk").distinct()
