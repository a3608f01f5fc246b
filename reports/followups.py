"""跟进动态统计 (issue 19 §3; wave2.md §14.2 R4), and the follow-up figures 客户拜访统计 and
电话统计 (R5, R6: reports/visits.py) are built from.

A follow-up counts for its author (``created_by``, within the scope's users) on the day of its
follow-up time (``followed_at``, tenant-local), for the object chosen:

* 开发客户 / 签约客户: follow-ups whose customer has that lifecycle NOW
  (``Customer.lifecycle``), the customer not in the recycle bin (a customer deleted for good
  takes its follow-ups with it); a customer in the pool still counts. Follow-ups whose record
  is a lead are not customer follow-ups, even once the lead is converted (they count under
  销售线索, once: the objects never share a follow-up);
* 销售线索: follow-ups whose record is a lead (``customers.FollowUp`` with the lead's record
  type; leads have no recycle bin, a deleted lead takes its follow-ups with it).

Each figure is a pair: 次数 = follow-ups, 客户数 = distinct subjects (customers, or leads).
The subject counts of a person's 总量 and of the 总计 row are counted again over the rows,
never summed. Everything is read LIVE from the follow-ups (no summary table: a distinct count
cannot be added up from days): :func:`figures` reads a table's cells, the person totals, the
column totals and the grand total in four queries whatever the number of people and rows.
:func:`followups_behind` gives the follow-ups behind one number (the drill-down), with the
same rules, so a list always holds the number it was opened from.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Count, Expression, F, Max, QuerySet
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from crm.models import Option, OptionKind
from customers.models import Customer, FollowUp
from leads.models import Lead
from reports.periods import Period
from reports.scope import ReportScope
from reports.tables import Column, Row, Table

DEVELOPMENT = Customer.Lifecycle.DEVELOPMENT
SIGNED = Customer.Lifecycle.SIGNED
LEADS = "leads"
OBJECTS = {
    DEVELOPMENT: _("Development customers"),
    SIGNED: _("Signed customers"),
    LEADS: _("Sales leads"),
}
TIMES, SUBJECTS = "n", "c"  # the two numbers of a cell
TOTAL = "total"  # the 总量 column's key
NO_TYPE = "none"  # follow-ups without a type (shown when there are any)


def subject_field(obj: str) -> str:
    """The column naming a follow-up's subject: its lead, or its customer."""
    return "record_id" if obj == LEADS else "customer_id"


def followups(*, tenant_id: int, obj: str, start, end, user_ids) -> QuerySet:
    """Every follow-up counted for ``obj`` between ``start`` (included) and ``end``
    (excluded), written by one of ``user_ids``.

    PERF: what a follow-up counts as is its own column (``FollowUp.counts_as``, kept by the
    customer services): a year of a department's follow-ups is read through the author
    index alone, without joining a million customers for their lifecycle."""
    return FollowUp.objects.filter(
        tenant_id=tenant_id,
        followed_at__gte=start,
        followed_at__lt=end,
        created_by_id__in=sorted(user_ids),
        counts_as=FollowUp.LEAD if obj == LEADS else obj,
    )


@dataclass
class Figures:
    """``cells[(user_id, group)]``, ``people[user_id]``, ``groups[group]`` and ``total``:
    each a pair ``(times, subjects)``."""

    cells: dict[tuple[int, str], tuple[int, int]] = field(default_factory=dict)
    people: dict[int, tuple[int, int]] = field(default_factory=dict)
    groups: dict[str, tuple[int, int]] = field(default_factory=dict)
    total: tuple[int, int] = (0, 0)


def figures(rows: QuerySet, *, obj: str, group: Expression, key=str) -> Figures:
    """The pairs of ``rows`` per person × ``group`` (a follow-up's type, its day…), per
    person, per group and overall, in one statement: the rows are read once (a CTE) and
    counted at the four levels (``UNION ALL``; PostgreSQL's GROUPING SETS would do the
    same, SQLite has none). ``key`` turns a group value into its key."""
    subject = subject_field(obj)
    base = rows.order_by().annotate(g=group).values_list("created_by_id", "g", subject)
    sql, params = base.query.sql_with_params()
    # PostgreSQL inlines a CTE read once; this one is read four times: keep it computed once.
    materialized = "MATERIALIZED " if connection.vendor == "postgresql" else ""
    counts = "COUNT(*), COUNT(DISTINCT s) FROM f"
    # SECURITY: the inner SQL is Django's compiled query; every value stays a parameter.
    statement = (
        f"WITH f (u, g, s) AS {materialized}({sql}) "
        f"SELECT 0, u, g, {counts} GROUP BY u, g "
        f"UNION ALL SELECT 1, u, NULL, {counts} GROUP BY u "
        f"UNION ALL SELECT 2, NULL, g, {counts} GROUP BY g "
        f"UNION ALL SELECT 3, NULL, NULL, {counts}"
    )
    out = Figures()
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        for level, user_id, value, n, c in cursor.fetchall():
            if level == 0:
                out.cells[(user_id, key(value))] = (n, c)
            elif level == 1:
                out.people[user_id] = (n, c)
            elif level == 2:
                out.groups[key(value)] = (n, c)
            else:
                out.total = (n or 0, c or 0)
    return out


@dataclass(frozen=True)
class Group:
    """A pair of columns: 总量, a follow-up type, a day…"""

    key: str
    label: str


def measure_labels(obj: str) -> tuple[str, str]:
    """The two numbers' names: 次数 and 客户数 (线索数 for leads)."""
    if obj == LEADS:
        return str(_("Times")), str(_("Leads followed"))
    return str(_("Times")), str(_("Customers followed"))


def pair_table(*, title: str, obj: str, groups: list[Group], data: Figures, people, link) -> Table:
    """The table: a row per person (``people``: reports.scope.PersonRow), two columns per
    group (``"<group>:n"``, ``"<group>:c"``, labelled "电话 次数", "电话 客户数"), the 总计 row
    from the recounted totals. ``link(group, measure, user_id or None)`` gives a cell's
    drill-down URL."""
    times, subjects = measure_labels(obj)
    columns = []
    for g in groups:
        columns.append(Column(f"{g.key}:{TIMES}", f"{g.label} {times}"))
        columns.append(Column(f"{g.key}:{SUBJECTS}", f"{g.label} {subjects}"))

    def cells(pair_of, user_id):
        values, links = {}, {}
        for g in groups:
            n, c = pair_of(g.key)
            values[f"{g.key}:{TIMES}"], values[f"{g.key}:{SUBJECTS}"] = n, c
            links[f"{g.key}:{TIMES}"] = link(g.key, TIMES, user_id)
            links[f"{g.key}:{SUBJECTS}"] = link(g.key, SUBJECTS, user_id)
        return values, links

    rows = []
    for person in people:
        u = person.user_id

        def pair_of(key, u=u):
            if key == TOTAL:
                return data.people.get(u, (0, 0))
            return data.cells.get((u, key), (0, 0))

        values, links = cells(pair_of, u)
        rows.append(Row(person.name, values, links, inactive=person.inactive, key=u))

    def total_of(key):
        return data.total if key == TOTAL else data.groups.get(key, (0, 0))

    total_values, total_links = cells(total_of, None)
    return Table(
        title=title,
        columns=columns,
        rows=rows,
        total=Row(str(_("Total")), total_values, total_links),
        label_header=str(_("Person")),
    )


def pairs(row: Row, groups: list[Group]) -> list[tuple[Group, int, str, int, str]]:
    """A row's cells as the page shows them: ``(group, times, link, subjects, link)``."""
    return [
        (
            g,
            row.values[f"{g.key}:{TIMES}"],
            row.links.get(f"{g.key}:{TIMES}", ""),
            row.values[f"{g.key}:{SUBJECTS}"],
            row.links.get(f"{g.key}:{SUBJECTS}", ""),
        )
        for g in groups
    ]


# ---------------------------------------------------------------------------------------------
# 跟进动态统计 (R4)


@dataclass
class FollowupReport:
    table: Table
    groups: list[Group]
    data: Figures
    people: list  # reports.scope.PersonRow, in the table's order


def type_groups(tenant_id: int, data: Figures) -> list[Group]:
    """总量, then the tenant's follow-up types in their order: the active ones, and an
    inactive one when it has follow-ups in the period; 未分类 last when some have no type."""
    groups = [Group(TOTAL, str(pgettext_lazy("follow-up statistics", "Total")))]
    for option in Option.objects.filter(tenant_id=tenant_id, kind=OptionKind.FOLLOWUP_TYPE):
        if option.is_active or str(option.pk) in data.groups:
            groups.append(Group(str(option.pk), option.label))
    if NO_TYPE in data.groups:
        groups.append(Group(NO_TYPE, str(_("No type"))))
    return groups


def _type_key(kind_id) -> str:
    return NO_TYPE if kind_id is None else str(kind_id)


def followup_report(
    *, tenant, period: Period, scope: ReportScope, obj: str, link
) -> FollowupReport:
    """The table of 跟进动态统计 (a fixed number of queries: the scope's, four for the
    figures, one for the types)."""
    start, end = period.bounds(tenant.tzinfo)
    rows = followups(tenant_id=tenant.pk, obj=obj, start=start, end=end, user_ids=scope.user_ids)
    data = figures(rows, obj=obj, group=F("kind_id"), key=_type_key)
    groups = type_groups(tenant.pk, data)
    people = scope.person_rows(with_data=frozenset(data.people))
    table = pair_table(
        title=str(_("Follow-up statistics")),
        obj=obj,
        groups=groups,
        data=data,
        people=people,
        link=link,
    )
    return FollowupReport(table, groups, data, people)


# ---------------------------------------------------------------------------------------------
# Drill-downs (every report of this module and reports/visits.py)


def followups_behind(
    *,
    tenant,
    obj: str,
    start: datetime.datetime,
    end: datetime.datetime,
    scope: ReportScope,
    user_id: int | None,
    kind: str | None = None,
    code: str | None = None,
) -> QuerySet:
    """The follow-ups behind one number (newest first): of one person (or everyone in
    scope), of one type (``kind``: an option id, ``NO_TYPE``, None for all) or one system
    type (``code``: "visit", "phone"), between ``start`` and ``end``."""
    users = [user_id] if user_id is not None else scope.user_ids
    rows = followups(tenant_id=tenant.pk, obj=obj, start=start, end=end, user_ids=users)
    if kind == NO_TYPE:
        rows = rows.filter(kind__isnull=True)
    elif kind is not None:
        rows = rows.filter(kind_id=int(kind))
    if code is not None:
        rows = rows.filter(kind__kind=OptionKind.FOLLOWUP_TYPE, kind__code=code)
    return rows.select_related("customer", "kind", "created_by").order_by("-followed_at", "-id")


def subjects_behind(rows: QuerySet, obj: str) -> QuerySet:
    """The distinct subjects of ``rows`` with their follow-up count and last time
    (``{"subject", "times", "last"}``), the latest first."""
    return (
        rows.order_by()
        .values(subject=F(subject_field(obj)))
        .annotate(times=Count("id"), last=Max("followed_at"))
        .order_by("-last", "-subject")
    )


def subject_count(rows: QuerySet, obj: str) -> int:
    return rows.aggregate(c=Count(subject_field(obj), distinct=True))["c"] or 0


def subject_names(obj: str, ids) -> dict[int, object]:
    """The subjects (customers or leads) of ``ids``, by id (one query)."""
    model = Lead if obj == LEADS else Customer
    return {s.pk: s for s in model.objects.filter(pk__in=list(ids))}
