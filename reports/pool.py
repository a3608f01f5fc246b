"""公海分析 (issue 19 §6): per pool group the viewer may open, the customers that entered and
left its pool in the period (from the ownership events) and its stock now (from the
customers), split by level, with the average days the stock has been lying there.

Rows are pool groups, not people: a pooled customer belongs to nobody, so the data scope's
department and person filters do not apply; which groups a viewer sees is the pool's own
rule (``pools.selectors.visible_groups``: a pool manager every enabled group, anyone else
the groups open to them), never another tenant's.

How the engine records what this report counts (pools.services, customers.services):

* entering: RETURNED and RECYCLED name the group in ``pool_group``; an IMPORTED or CREATED
  (or CONVERTED) event without ``to_user`` is a customer put straight into ``pool_group``;
* leaving: CLAIMED and ASSIGNED name the group they left;
* MOVED names the target group only (the source is in ``note`` as a name, and group
  initialisation writes MOVED with no source at all): the source is the group of the
  customer's previous event that names one (:func:`_previous_group`). It is a 转入 for the
  target and a 转出 for the source (none when initialised);
* DELETED and RESTORED name no group: a pooled customer has no owner, so one without
  ``from_user`` / ``to_user`` is a pooled one, in the group of its previous event naming one.

:func:`pool_events` classifies every event of the period once (annotations ``in_column``,
``in_group``, ``out_column``, ``out_group``); the table counts it grouped (one query per side)
and a drill-down filters the same queryset, so a list always holds exactly its number.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import Option, OptionKind, User
from customers.models import POOL_EVENT_Q, Customer, OwnershipEvent
from pools.models import PoolGroup
from pools.selectors import visible_groups
from reports.periods import Period
from reports.tables import Column, Row, Table

K = OwnershipEvent.Kind
KIND = PoolGroup.Kind.CUSTOMER

# (column, label) in the report's order.
ENTERED = [
    ("returned", _("Returned manually")),
    ("recycled", _("Recycled")),
    ("imported", _("Imported")),
    ("created", _("Created in the pool")),
    ("moved", _("Moved in")),
    # A pooled customer restored from the recycle bin: shown when not zero.
    ("restored", _("Restored")),
]
LEFT = [
    ("claimed", _("Claimed")),
    ("assigned", _("Assigned")),
    ("moved", _("Moved out")),
    ("deleted", _("Deleted")),
]
HIDDEN_WHEN_ZERO = {("in", "restored")}
SIDES = {"in": ENTERED, "out": LEFT}
NO_LEVEL = "none"
DAY_SECONDS = 86400


def viewer_groups(actor: User) -> list[PoolGroup]:
    """The customer pool groups ``actor`` may open (the pool's visibility), in menu order."""
    return visible_groups(actor, KIND)


def _previous_group() -> Subquery:
    """The group named by the customer's latest earlier event that names one."""
    earlier = Q(created_at__lt=OuterRef("created_at")) | Q(
        created_at=OuterRef("created_at"), pk__lt=OuterRef("pk")
    )
    return Subquery(
        OwnershipEvent.objects.filter(
            earlier,
            tenant_id=OuterRef("tenant_id"),
            customer_id=OuterRef("customer_id"),
            pool_group__isnull=False,
        )
        .order_by("-created_at", "-pk")
        .values("pool_group_id")[:1],
        output_field=IntegerField(),
    )


@dataclass(frozen=True)
class Rule:
    """One column of a side: events of ``kinds`` (naming a group when ``named``, without a
    new owner when ``to_none``, without a previous owner when ``from_none``) count in the
    event's own group, or in the customer's previous group (``previous``). The first rule
    of a side that matches an event wins (a SQL CASE)."""

    column: str
    kinds: tuple[str, ...]
    named: bool = True
    to_none: bool = False
    from_none: bool = False
    previous: bool = False

    def q(self) -> Q:
        q = Q(kind__in=self.kinds)
        if self.named:
            q &= Q(pool_group__isnull=False)
        if self.to_none:
            q &= Q(to_user__isnull=True)
        if self.from_none:
            q &= Q(from_user__isnull=True)
        return q

    def matches(self, kind: str, group_id, to_none: bool, from_none: bool) -> bool:
        return (
            kind in self.kinds
            and (group_id is not None or not self.named)
            and (to_none or not self.to_none)
            and (from_none or not self.from_none)
        )


RULES = {
    "in": [
        Rule("returned", (K.RETURNED,)),
        Rule("recycled", (K.RECYCLED,)),
        Rule("imported", (K.IMPORTED,), to_none=True),
        Rule("created", (K.CREATED, K.CONVERTED), to_none=True),
        Rule("moved", (K.MOVED,)),
        Rule("restored", (K.RESTORED,), named=False, to_none=True, previous=True),
    ],
    "out": [
        Rule("claimed", (K.CLAIMED,)),
        Rule("assigned", (K.ASSIGNED,)),
        Rule("moved", (K.MOVED,), previous=True),
        Rule("deleted", (K.DELETED,), named=False, from_none=True, previous=True),
    ],
}
KINDS = sorted({kind for rules in RULES.values() for rule in rules for kind in rule.kinds})
# The kinds whose group is the previous one (the correlated subquery runs for these only).
PREVIOUS_KINDS = sorted(
    {k for rules in RULES.values() for r in rules if r.previous for k in r.kinds}
)


def classify(side: str, kind: str, group_id, to_none: bool, from_none: bool, previous):
    """``(column, group id)`` an event enters (side "in") or leaves ("out"), or None: the
    CASE of :func:`pool_events`, in Python, for the report's grouped counts."""
    for rule in RULES[side]:
        if rule.matches(kind, group_id, to_none, from_none):
            return rule.column, previous if rule.previous else group_id
    return None


def _period_events(tenant_id: int, period: Period, tz) -> QuerySet:
    start, end = period.bounds(tz)
    # PERF: POOL_EVENT_Q is the condition of the partial index "ownership_pool_time": the
    # period's pool events are read from it, not from every ownership event of the period.
    return OwnershipEvent.objects.filter(
        POOL_EVENT_Q,
        tenant_id=tenant_id,
        kind__in=KINDS,
        created_at__gte=start,
        created_at__lt=end,
    )


def pool_events(*, tenant_id: int, period: Period, tz: datetime.tzinfo) -> QuerySet:
    """The tenant's ownership events of the period, each annotated with the pool column and
    group it enters (``in_column``, ``in_group``) and leaves (``out_column``, ``out_group``);
    ``None`` where it does not. Filter on them; never on the groups alone (SECURITY: callers
    keep the viewer's groups). The drill-downs read this; the table counts the same
    :data:`RULES` grouped (:func:`event_counts`)."""
    # PERF: CASE evaluates the correlated subquery for MOVED / DELETED / RESTORED rows only.
    previous = _previous_group()

    def column(rules):
        return Case(
            *[When(r.q(), then=Value(r.column)) for r in rules],
            default=None,
            output_field=CharField(),
        )

    def group_of(rules):
        return Case(
            *[When(r.q(), then=previous if r.previous else F("pool_group_id")) for r in rules],
            default=None,
            output_field=IntegerField(),
        )

    return _period_events(tenant_id, period, tz).annotate(
        in_column=column(RULES["in"]),
        in_group=group_of(RULES["in"]),
        out_column=column(RULES["out"]),
        out_group=group_of(RULES["out"]),
    )


def event_counts(*, tenant_id: int, period: Period, tz, group_ids) -> dict[tuple, int]:
    """``{(side, column, group id): events}`` within ``group_ids``, classified in Python by
    the same :data:`RULES` as the drill-down's CASE. PERF: two GROUP BYs of plain columns
    (kind, group, whether an owner is named on each side), hashed, not sorted: one for the
    kinds counted in their own group, one for the few kinds that need the customer's
    previous group (the correlated subquery runs for those alone)."""
    flags = {
        "to_none": ExpressionWrapper(Q(to_user__isnull=True), output_field=BooleanField()),
        "from_none": ExpressionWrapper(Q(from_user__isnull=True), output_field=BooleanField()),
    }
    events = _period_events(tenant_id, period, tz).annotate(**flags)
    keys = ["kind", "pool_group_id", "to_none", "from_none"]
    own = events.exclude(kind__in=PREVIOUS_KINDS).values(*keys).annotate(n=Count("pk"))
    elsewhere = (
        events.filter(kind__in=PREVIOUS_KINDS)
        .annotate(previous=_previous_group())
        .values(*keys, "previous")
        .annotate(n=Count("pk"))
    )
    wanted = set(group_ids)
    counts: dict[tuple[str, str, int], int] = defaultdict(int)
    for r in [*own.order_by(), *elsewhere.order_by()]:
        for side in RULES:
            found = classify(
                side,
                r["kind"],
                r["pool_group_id"],
                r["to_none"],
                r["from_none"],
                r.get("previous"),
            )
            if found is not None and found[1] in wanted:
                counts[(side, found[0], found[1])] += r["n"]
    return counts


def side_events(
    *, tenant_id: int, period: Period, tz, side: str, column: str, group_ids
) -> QuerySet:
    """The events behind one number: ``side`` "in"/"out", ``column`` ("" = every column of
    the side), within ``group_ids`` (the viewer's, or one of them)."""
    qs = pool_events(tenant_id=tenant_id, period=period, tz=tz)
    filters = {f"{side}_group__in": list(group_ids)}
    if column:
        filters[f"{side}_column"] = column
    else:
        filters[f"{side}_column__isnull"] = False
    return qs.filter(**filters)


def stock(*, tenant_id: int, group_ids, level: str | None = None) -> QuerySet:
    """The customers lying now in the pools of ``group_ids`` (alive); ``level``: an option
    id as text, ``NO_LEVEL`` or None (every level)."""
    qs = Customer.objects.in_pool().filter(tenant_id=tenant_id, pool_group_id__in=list(group_ids))
    if level == NO_LEVEL:
        qs = qs.filter(level__isnull=True)
    elif level:
        qs = qs.filter(level_id=int(level))
    return qs


@dataclass
class PoolReport:
    table: Table
    groups: list[PoolGroup]
    entered: dict[int, int]  # per group: total entered
    left: dict[int, int]


def _days(total: datetime.timedelta | None, count: int) -> float | None:
    if not count or total is None:
        return None
    return round(total.total_seconds() / DAY_SECONDS / count, 1)


def pool_report(
    *,
    actor: User,
    period: Period,
    link: Callable[[str, str, int | None], str],
    now: datetime.datetime | None = None,
) -> PoolReport:
    """The table. ``link(side, column, group_id or None)`` gives a cell's drill-down URL
    (side "in", "out" or "stock"). Queries: the viewer's groups (1–2), the levels, entered,
    left, stock: constant in the number of groups and customers."""
    now = now or timezone.now()
    tenant_id = actor.tenant_id
    groups = viewer_groups(actor)
    ids = [g.pk for g in groups]
    counts = event_counts(tenant_id=tenant_id, period=period, tz=actor.tenant.tzinfo, group_ids=ids)
    waited = ExpressionWrapper(Value(now) - F("pooled_at"), output_field=DurationField())
    held: dict[tuple[int, int | None], tuple[int, datetime.timedelta]] = {}
    for r in (
        stock(tenant_id=tenant_id, group_ids=ids)
        .values("pool_group_id", "level_id")
        .annotate(n=Count("pk"), waited=Sum(waited))
        .order_by()
    ):
        held[(r["pool_group_id"], r["level_id"])] = (r["n"], r["waited"])
    # Every active level, and a retired one while customers of the stock still have it.
    stocked_levels = {level for (_g, level) in held if level is not None}
    levels = list(
        Option.objects.filter(tenant_id=tenant_id, kind=OptionKind.CUSTOMER_LEVEL)
        .filter(Q(is_active=True) | Q(pk__in=stocked_levels))
        .order_by("sort_order", "pk")
    )

    def total(side: str, column: str, group_id: int | None) -> int:
        return sum(
            n
            for (s, c, g), n in counts.items()
            if s == side and c == column and (group_id is None or g == group_id)
        )

    columns: list[Column] = []
    shown = {
        side: [
            (c, label)
            for c, label in SIDES[side]
            if (side, c) not in HIDDEN_WHEN_ZERO or total(side, c, None)
        ]
        for side in SIDES
    }
    columns += [Column(f"in:{c}", label) for c, label in shown["in"]]
    columns.append(Column("in", _("Total entered")))
    columns += [Column(f"out:{c}", label) for c, label in shown["out"]]
    columns.append(Column("out", _("Total left")))
    columns.append(Column("stock", _("Current stock")))
    level_keys = [(str(o.pk), o.label) for o in levels] + [(NO_LEVEL, _("No level"))]
    columns += [Column(f"stock:{k}", label) for k, label in level_keys]
    columns.append(Column("days", _("Average days in the pool")))

    def values_and_links(group_id: int | None):
        values: dict[str, object] = {}
        links: dict[str, str] = {}
        for side in SIDES:
            for c, _label in shown[side]:
                values[f"{side}:{c}"] = total(side, c, group_id)
                links[f"{side}:{c}"] = link(side, c, group_id)
            values[side] = sum(total(side, c, group_id) for c, _label in SIDES[side])
            links[side] = link(side, "", group_id)
        mine = {level: nw for (g, level), nw in held.items() if group_id is None or g == group_id}
        count = sum(n for n, _w in mine.values())
        waited_total = sum((w for _n, w in mine.values() if w), datetime.timedelta())
        values["stock"] = count
        links["stock"] = link("stock", "", group_id)
        for key, _label in level_keys:
            level = None if key == NO_LEVEL else int(key)
            values[f"stock:{key}"] = mine.get(level, (0, None))[0]
            links[f"stock:{key}"] = link("stock", key, group_id)
        values["days"] = _days(waited_total, count)
        return values, links

    rows = []
    for g in groups:
        values, links = values_and_links(g.pk)
        rows.append(Row(g.name, values, links, key=g.pk))
    total_values, total_links = values_and_links(None)
    table = Table(
        title=str(_("Pool analysis")),
        columns=columns,
        rows=rows,
        total=Row(str(_("Total")), total_values, total_links),
        label_header=str(_("Pool group")),
    )
    return PoolReport(
        table,
        groups,
        {g.pk: table.rows[i].values["in"] for i, g in enumerate(groups)},
        {g.pk: table.rows[i].values["out"] for i, g in enumerate(groups)},
    )


def column_label(side: str, column: str, levels: dict[str, str] | None = None) -> str:
    """The words of one drill-down's number."""
    if side == "stock":
        if not column:
            return str(_("Current stock"))
        if column == NO_LEVEL:
            return str(_("No level"))
        return (levels or {}).get(column, "")
    labels = dict(SIDES[side])
    if column:
        return str(labels[column])
    return str(_("Total entered") if side == "in" else _("Total left"))
