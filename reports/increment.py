"""客户增量统计 (issue 19 §1; wave2.md §14.2 R1 过程量 and R2 实际增量).

Per person, the customers gained and lost in the period, from the ownership events through
the summary table (``own`` source, reports/sources.py): a gain counts for the user gaining
the customer, a loss for the user losing it. The lifecycle filter reads the lifecycle at the
event: 开发客户 (the default) also counts 签约转开发 as a gain and 转签约 as a loss; 签约客户
and 全部 leave those two out (no owner changes).

:func:`increment_report` builds the table (a fixed number of queries: the scope's, one for
the stored days, one for today); :func:`increment_events` lists the events behind one number
(the drill-down), from the base table, with the same scope, period and rules, so the list
always holds exactly the number it was opened from.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from customers.models import Customer, OwnershipEvent
from reports import summary
from reports.periods import Period
from reports.scope import ReportScope
from reports.sources import GAINED, LOST
from reports.tables import Column, Row, Table

DEVELOPMENT = Customer.Lifecycle.DEVELOPMENT
SIGNED = Customer.Lifecycle.SIGNED
ALL = "all"
LIFECYCLES = {
    DEVELOPMENT: _("Development customers"),
    SIGNED: _("Signed customers"),
    ALL: _("All customers"),
}
PROCESS, NET = "process", "net"
MODES = {PROCESS: _("Gains and losses"), NET: _("Net increase")}

# (side, column key, label), in the report's order (wave2.md's mapping table).
GAINS = [
    ("created", pgettext_lazy("increment column", "Created manually")),
    ("pool", pgettext_lazy("increment column", "Taken from the pool")),
    ("converted", pgettext_lazy("increment column", "Converted from leads")),
    ("transferred", pgettext_lazy("increment column", "Transferred to them")),
    ("imported", pgettext_lazy("increment column", "Imported")),
    ("signed_back", pgettext_lazy("increment column", "Signed back to development")),
    # Restored from the recycle bin: shown when not zero.
    ("restored", pgettext_lazy("increment column", "Other")),
]
LOSSES = [
    ("returned", pgettext_lazy("increment column", "Returned to the pool")),
    ("recycled", pgettext_lazy("increment column", "Recycled by the pool")),
    ("transferred", pgettext_lazy("increment column", "Transferred away")),
    ("deleted", pgettext_lazy("increment column", "Deleted")),
    ("became_signed", pgettext_lazy("increment column", "Became signed")),
]
# Columns that only the development view has (no owner changes: the lifecycle changes).
DEVELOPMENT_ONLY = {"signed_back", "became_signed"}
HIDDEN_WHEN_ZERO = {"restored"}


def _counted(column: str, lifecycle: str, event_lifecycle: str) -> bool:
    if column in DEVELOPMENT_ONLY:
        return lifecycle == DEVELOPMENT
    return lifecycle == ALL or event_lifecycle == lifecycle


@dataclass
class IncrementReport:
    table: Table
    gains: dict[int, int]  # per user: total gained
    losses: dict[int, int]
    people: list  # reports.scope.PersonRow, in the table's order


def increment_report(
    *,
    tenant,
    period: Period,
    scope: ReportScope,
    lifecycle: str,
    mode: str,
    link,
    now: datetime.datetime | None = None,
) -> IncrementReport:
    """The table. ``link(side, column, user_id or None)`` gives a cell's drill-down URL."""
    figures = summary.figures(tenant, "own", period.first, period.last, scope.user_ids, now)
    per_user: dict[int, dict[tuple[str, str], int]] = {}
    for (user_id, metric), value in figures.items():
        _own, side, column, event_lifecycle = metric.split(":", 3)
        if not _counted(column, lifecycle, event_lifecycle):
            continue
        cells = per_user.setdefault(user_id, {})
        cells[(side, column)] = cells.get((side, column), 0) + value
    people = scope.person_rows(with_data=frozenset(per_user))

    gains = {
        u: sum(v for (s, _c), v in cells.items() if s == "in") for u, cells in per_user.items()
    }
    losses = {
        u: sum(v for (s, _c), v in cells.items() if s == "out") for u, cells in per_user.items()
    }
    totals: dict[tuple[str, str], int] = {}
    for cells in per_user.values():
        for key, value in cells.items():
            totals[key] = totals.get(key, 0) + value

    def shown(side: str, column: str) -> bool:
        if column in DEVELOPMENT_ONLY and lifecycle != DEVELOPMENT:
            return False
        return column not in HIDDEN_WHEN_ZERO or bool(totals.get((side, column)))

    gain_columns = [(c, label) for c, label in GAINS if shown("in", c)]
    loss_columns = [(c, label) for c, label in LOSSES if shown("out", c)]
    columns: list[Column] = []
    if mode == NET:
        columns.append(Column("net", _("Net increase")))
    columns += [Column(f"in:{c}", label) for c, label in gain_columns]
    if mode == PROCESS:
        columns.append(Column("in", _("Total gained")))
        columns += [Column(f"out:{c}", label) for c, label in loss_columns]
        columns.append(Column("out", _("Total lost")))

    def values_and_links(cells: dict, gained: int, lost: int, user_id: int | None):
        values, links = {"in": gained, "out": lost, "net": gained - lost}, {}
        for c, _label in gain_columns:
            values[f"in:{c}"] = cells.get(("in", c), 0)
            links[f"in:{c}"] = link("in", c, user_id)
        for c, _label in loss_columns:
            values[f"out:{c}"] = cells.get(("out", c), 0)
            links[f"out:{c}"] = link("out", c, user_id)
        links["in"] = link("in", "", user_id)
        links["out"] = link("out", "", user_id)
        return values, links

    rows = []
    for person in people:
        cells = per_user.get(person.user_id, {})
        values, links = values_and_links(
            cells, gains.get(person.user_id, 0), losses.get(person.user_id, 0), person.user_id
        )
        rows.append(Row(person.name, values, links, inactive=person.inactive, key=person.user_id))
    total_values, total_links = values_and_links(
        totals, sum(gains.values()), sum(losses.values()), None
    )
    table = Table(
        title=str(_("Customer increment")),
        columns=columns,
        rows=rows,
        total=Row(str(_("Total")), total_values, total_links),
        label_header=str(_("Person")),
    )
    return IncrementReport(table, gains, losses, people)


def _kinds(side: str, column: str) -> list[str]:
    mapping = GAINED if side == "in" else LOST
    return [kind for kind, col in mapping.items() if not column or col == column]


def increment_events(
    *,
    period: Period,
    tz: datetime.tzinfo,
    scope: ReportScope,
    lifecycle: str,
    side: str,
    column: str,
    user_id: int | None,
) -> QuerySet:
    """The ownership events behind one number of the table (newest first)."""
    start, end = period.bounds(tz)
    who = "to_user_id" if side == "in" else "from_user_id"
    users = [user_id] if user_id is not None else sorted(scope.user_ids)
    condition = Q()
    for kind in _kinds(side, column):
        col = (GAINED if side == "in" else LOST)[kind]
        if col in DEVELOPMENT_ONLY:
            if lifecycle == DEVELOPMENT:
                condition |= Q(kind=kind)
        elif lifecycle == ALL:
            condition |= Q(kind=kind)
        else:
            condition |= Q(kind=kind, lifecycle=lifecycle)
    if not condition:
        return OwnershipEvent.objects.none()
    return (
        OwnershipEvent.objects.filter(
            condition,
            tenant_id=scope.actor.tenant_id,
            created_at__gte=start,
            created_at__lt=end,
            **{f"{who}__in": users},
        )
        .select_related("customer", "from_user", "to_user", "actor")
        .order_by("-created_at", "-id")
    )
