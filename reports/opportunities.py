"""The opportunity analyses of wave2.md §14.6 (issue 20): 销售阶段推进 (stage advancement),
丢单原因分析 (lost reasons), 平均客单价 and 平均销售周期 (won deals per month, quarter or
person), and what they share with 销售漏斗 (reports/funnel.py): the opportunities of a
report scope, money and rates as the tables show them.

Attribution (§14.1): an opportunity counts for its **owner**; the department filter works
through the owner (ReportScope), so an opportunity follows its owner's department today, the
way every other report counts. Participated opportunities are not counted (double counting).

Each report builds one :class:`~reports.tables.Table` with a fixed number of queries (the
scope's, the stages or the labels, one or two GROUP BYs) and answers the drill-down of each
number with :func:`…_behind`, the same conditions as a queryset, so a list holds exactly the
number it was opened from.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import (
    Case,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    Max,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import TruncDate, TruncMonth
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from crm.models import Option
from opportunities.models import (
    Opportunity,
    OpportunityStage,
    OpportunityStageChange,
    StageKind,
)
from reports.periods import Period
from reports.scope import ReportScope
from reports.tables import Column, Row, Table

CENT = Decimal("0.01")
ONE_DAY = datetime.timedelta(days=1)
NONE_KEY = "none"


# ---------------------------------------------------------------- shared


def in_scope(scope: ReportScope) -> QuerySet:
    """The tenant's opportunities whose owner is in the report scope (the attribution)."""
    return Opportunity.objects.filter(scope.q("owner_id"), tenant_id=scope.actor.tenant_id)


def money(value) -> Decimal:
    """A sum as the tables show it: two decimals (SQLite sums come back as floats)."""
    if value is None:
        return Decimal("0.00")
    return Decimal(str(value)).quantize(CENT, ROUND_HALF_UP)


def weighted(value) -> Decimal:
    """``Σ amount × probability`` (summed in SQL) divided by 100, two decimals."""
    if value is None:
        return Decimal("0.00")
    return (Decimal(str(value)) / 100).quantize(CENT, ROUND_HALF_UP)


def weighted_sum() -> Sum:
    return Sum(F("amount") * F("probability"))


def rate_text(part, whole) -> str:
    """``part / whole`` in per cent with one decimal ("33.3%"); "—" without a whole."""
    if not whole:
        return "—"
    value = (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP)
    return f"{value}%"


def average(total, count: int) -> Decimal | None:
    """``total / count`` with two decimals (None without a count: the page shows "—")."""
    if not count:
        return None
    return (Decimal(str(total)) / count).quantize(CENT, ROUND_HALF_UP)


def days_text(duration: datetime.timedelta | None) -> Decimal | None:
    """A duration in days with one decimal."""
    if duration is None:
        return None
    return (Decimal(duration.total_seconds()) / 86400).quantize(Decimal("0.1"), ROUND_HALF_UP)


def stages_of(tenant_id: int) -> list[OpportunityStage]:
    """The tenant's stages in pipeline order (one query)."""
    return list(OpportunityStage.objects.filter(tenant_id=tenant_id).order_by("sort", "id"))


def months_of(period: Period) -> list[datetime.date]:
    """The first day of every month the period touches."""
    out, month = [], period.first.replace(day=1)
    while month <= period.last:
        out.append(month)
        month = (month.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
    return out


def month_key(day: datetime.date) -> str:
    return f"{day:%Y-%m}"


def parse_month(key: str) -> datetime.date | None:
    try:
        return datetime.datetime.strptime(key, "%Y-%m").date()
    except (TypeError, ValueError):
        return None


def _as_date(value) -> datetime.date:
    # TruncMonth of a date column: a date (PostgreSQL) or a datetime / text (SQLite).
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, str):
        return datetime.date.fromisoformat(value[:10])
    return value


# ---------------------------------------------------------------- 销售阶段推进


ADVANCE_COLUMNS = {
    "reached": _("Reached"),
    "staying": _("Staying"),
    "lost": pgettext_lazy("stage advancement", "Lost"),
    "loss_rate": _("Loss rate"),
    "dwell": _("Average days in stage"),
    "conversion": _("Conversion to next stage"),
}
ADVANCE_LINKED = ("reached", "staying", "lost", "dwell")


def _cohort(*, period: Period, tz: datetime.tzinfo, scope: ReportScope) -> QuerySet:
    """The opportunities created in the period (tenant-local days) owned in the scope."""
    start, end = period.bounds(tz)
    return in_scope(scope).filter(created_at__gte=start, created_at__lt=end)


def _ranks(stages: list[OpportunityStage]) -> dict[int, int]:
    """Stage id → position in the pipeline: the open stages 1…n in order, the won stage n+1
    (later than every open stage whatever its sort); the lost stage is no position."""
    ranks = {}
    open_stages = [s for s in stages if s.kind == StageKind.OPEN]
    for position, stage in enumerate(open_stages, start=1):
        ranks[stage.pk] = position
    for stage in stages:
        if stage.kind == StageKind.WON:
            ranks[stage.pk] = len(open_stages) + 1
    return ranks


def _changes(scope: ReportScope, cohort: QuerySet) -> QuerySet:
    """The stage changes of the cohort's opportunities (one join, no correlated subquery)."""
    return OpportunityStageChange.objects.filter(
        tenant_id=scope.actor.tenant_id, opportunity__in=cohort.values("pk")
    )


def _position(ranks: dict[int, int]) -> Case:
    return Case(
        *[When(to_stage_id=pk, then=Value(r)) for pk, r in ranks.items()],
        default=Value(0),
        output_field=IntegerField(),
    )


def _lost_from(changes: QuerySet, lost_ids: list[int]) -> QuerySet:
    """The change that made each (still) lost opportunity lost: the last one, the one its
    ``stage_entered_at`` records (the services keep them equal); its ``from_stage`` is the
    last open stage."""
    return changes.filter(
        to_stage_id__in=lost_ids,
        opportunity__status=StageKind.LOST,
        changed_at=F("opportunity__stage_entered_at"),
    )


@dataclass
class AdvanceReport:
    table: Table
    # (stage name, reached, staying, lost) in pipeline order: the chart's data.
    bars: list[tuple[str, int, int, int]]


@dataclass
class _Advance:
    reached_at: dict
    staying: dict
    lost_at: dict
    visits: dict

    def reached(self, position: int) -> int:
        return self.reached_at.get(f"r{position}") or 0


def _advance(*, period, tz, scope: ReportScope, stages, ranks, now: datetime.datetime) -> _Advance:
    """The figures of 销售阶段推进 for ``scope`` (four queries).

    PERF: set-based over the stage history, no query per opportunity: reached from the
    furthest position of each opportunity (a GROUP BY inside an aggregate), the days in a
    stage as Σ leaving − Σ entering (the change out of s names s as its ``from_stage``;
    a visit not left yet ends now), the lost ones by the change that made them lost."""
    positions = sorted(set(ranks.values()))
    open_ids = [s.pk for s in stages if s.kind == StageKind.OPEN]
    lost_ids = [s.pk for s in stages if s.kind == StageKind.LOST]
    cohort = _cohort(period=period, tz=tz, scope=scope)
    changes = _changes(scope, cohort)
    furthest = changes.order_by().values("opportunity_id").annotate(furthest=Max(_position(ranks)))
    reached_at = furthest.aggregate(
        **{f"r{r}": Count("opportunity_id", filter=Q(furthest__gte=r)) for r in positions}
    )
    staying = {
        row["stage_id"]: row["n"]
        for row in cohort.filter(status=StageKind.OPEN)
        .order_by()
        .values("stage_id")
        .annotate(n=Count("pk"))
    }
    lost_at = {
        row["from_stage_id"]: row["n"]
        for row in _lost_from(changes, lost_ids)
        .order_by()
        .values("from_stage_id")
        .annotate(n=Count("pk"))
    }
    # Σ (moment − now) of the entries into and exits out of each open stage: a visit lasts
    # exit − entry, one still going lasts now − entry (its "exit" contributes 0). One scan
    # of the history for every stage.
    since = ExpressionWrapper(F("changed_at") - Value(now), output_field=DurationField())
    visits = changes.aggregate(
        **{f"in{pk}": Sum(since, filter=Q(to_stage_id=pk)) for pk in open_ids},
        **{f"n{pk}": Count("pk", filter=Q(to_stage_id=pk)) for pk in open_ids},
        **{f"out{pk}": Sum(since, filter=Q(from_stage_id=pk)) for pk in open_ids},
    )
    return _Advance(reached_at, staying, lost_at, visits)


COMPANY_COLUMNS = {
    "company_reached": _("Company: reached"),
    "company_loss_rate": _("Company: loss rate"),
    "company_conversion": _("Company: conversion"),
}


def advance_report(
    *,
    period: Period,
    tz: datetime.tzinfo,
    scope: ReportScope,
    link,
    company: ReportScope | None = None,
    now: datetime.datetime | None = None,
) -> AdvanceReport:
    """销售阶段推进 (§14.6) over the cohort created in the period: per open stage s and the
    won stage, **reached** (entered s or a later stage), **staying** (at s now), **lost**
    (lost with s as the last open stage), loss rate = lost / reached, **average days** in s
    (leaving − entering; up to now while still there) and conversion s → next = reached(next)
    / reached(s). ``link(column, stage_id)`` gives a number's drill-down. With ``company``
    (the whole tenant, for a viewer whose scope is everyone and who narrowed the report to a
    department or a person): "VS 全公司", its reached, loss rate and conversion beside."""
    now = now or timezone.now()
    stages = stages_of(scope.actor.tenant_id)
    ranks = _ranks(stages)
    mine = _advance(period=period, tz=tz, scope=scope, stages=stages, ranks=ranks, now=now)
    whole = None
    if company is not None:
        whole = _advance(period=period, tz=tz, scope=company, stages=stages, ranks=ranks, now=now)
    shown = [s for s in stages if s.pk in ranks and (s.is_active or s.pk in mine.staying)]
    shown.sort(key=lambda s: ranks[s.pk])
    columns = dict(ADVANCE_COLUMNS)
    if whole is not None:
        columns.update(COMPANY_COLUMNS)
    rows, bars = [], []
    for index, stage in enumerate(shown):
        position = ranks[stage.pk]
        got = mine.reached(position)
        following = shown[index + 1] if index + 1 < len(shown) else None
        values = dict.fromkeys(columns)
        values["reached"] = got
        links = {"reached": link("reached", stage.pk)}
        if whole is not None:
            values["company_reached"] = whole.reached(position)
            links["company_reached"] = link("reached", stage.pk, company=True)
        if stage.kind == StageKind.WON:
            rows.append(Row(stage.name, values, links, key=stage.pk))
            bars.append((stage.name, got, 0, 0))
            continue
        lost = mine.lost_at.get(stage.pk, 0)
        entries = mine.visits.get(f"n{stage.pk}") or 0
        dwell = None
        if entries:
            into, out = mine.visits.get(f"in{stage.pk}"), mine.visits.get(f"out{stage.pk}")
            dwell = (_duration(out) - _duration(into)) / entries
        nxt = ranks[following.pk] if following else None
        values.update(
            {
                "staying": mine.staying.get(stage.pk, 0),
                "lost": lost,
                "loss_rate": rate_text(lost, got),
                "dwell": days_text(dwell),
                "conversion": rate_text(mine.reached(nxt), got) if nxt else "—",
            }
        )
        if whole is not None:
            reached = whole.reached(position)
            values["company_loss_rate"] = rate_text(whole.lost_at.get(stage.pk, 0), reached)
            values["company_conversion"] = rate_text(whole.reached(nxt), reached) if nxt else "—"
        links.update({c: link(c, stage.pk) for c in ADVANCE_LINKED})
        rows.append(Row(stage.name, values, links, key=stage.pk))
        bars.append((stage.name, got, values["staying"], lost))
    table = Table(
        title=str(_("Stage advancement")),
        columns=[Column(key, label) for key, label in columns.items()],
        rows=rows,
        label_header=str(_("Sales stage")),
    )
    return AdvanceReport(table, bars)


def advance_behind(
    *,
    period: Period,
    tz: datetime.tzinfo,
    scope: ReportScope,
    column: str,
    stage_id: int,
) -> QuerySet:
    """The opportunities behind one number of 销售阶段推进 (``dwell``: those that entered the
    stage, whose times the average is made of)."""
    if column not in ADVANCE_LINKED:
        raise ValueError(column)
    stages = stages_of(scope.actor.tenant_id)
    ranks = _ranks(stages)
    if stage_id not in ranks:
        raise ValueError(stage_id)
    cohort = _cohort(period=period, tz=tz, scope=scope)
    changes = _changes(scope, cohort)
    if column == "reached":
        later = [pk for pk, r in ranks.items() if r >= ranks[stage_id]]
        return cohort.filter(pk__in=changes.filter(to_stage_id__in=later).values("opportunity_id"))
    if column == "staying":
        return cohort.filter(status=StageKind.OPEN, stage_id=stage_id)
    if column == "lost":
        lost_ids = [s.pk for s in stages if s.kind == StageKind.LOST]
        made_lost = _lost_from(changes, lost_ids).filter(from_stage_id=stage_id)
        return cohort.filter(pk__in=made_lost.values("opportunity_id"))
    return cohort.filter(pk__in=changes.filter(to_stage_id=stage_id).values("opportunity_id"))


# ---------------------------------------------------------------- 丢单原因分析


LOST_COLUMNS = {
    "count": _("Lost opportunities"),
    "count_share": _("Share of count"),
    "amount": _("Lost amount"),
    "amount_share": _("Share of amount"),
}


def _lost(*, period: Period, scope: ReportScope) -> QuerySet:
    """The opportunities lost in the period (closed date, a tenant-local day)."""
    return in_scope(scope).filter(
        status=StageKind.LOST, closed_date__gte=period.first, closed_date__lte=period.last
    )


@dataclass
class LostReport:
    table: Table
    bars: list[tuple[str, Decimal, Decimal]]  # (reason, share of count, share of amount)


def lost_report(*, period: Period, scope: ReportScope, link) -> LostReport:
    """丢单原因分析: per lost reason, the count and Σ amount of the opportunities lost in the
    period and their shares of the total (a row 未填写原因 when some have none)."""
    groups = {
        row["lost_reason_id"]: (row["n"], money(row["sum_amount"]))
        for row in _lost(period=period, scope=scope)
        .order_by()
        .values("lost_reason_id")
        .annotate(n=Count("pk"), sum_amount=Sum("amount"))
    }
    names = dict(
        Option.objects.filter(
            tenant_id=scope.actor.tenant_id, pk__in=[k for k in groups if k is not None]
        ).values_list("pk", "label")
    )
    count = sum(n for n, _a in groups.values())
    amount = sum((a for _n, a in groups.values()), Decimal("0.00"))
    order = sorted(groups, key=lambda k: (k is None, -groups[k][0], names.get(k, "")))
    rows, bars = [], []
    for reason in order:
        n, a = groups[reason]
        label = names.get(reason, "") if reason is not None else str(_("No reason given"))
        key = reason if reason is not None else NONE_KEY
        values = {
            "count": n,
            "count_share": rate_text(n, count),
            "amount": a,
            "amount_share": rate_text(a, amount),
        }
        rows.append(Row(label, values, {c: link(c, key) for c in ("count", "amount")}, key=key))
        bars.append((label, _share(n, count), _share(a, amount)))
    total = Row(
        str(_("Total")),
        {
            "count": count,
            "count_share": rate_text(count, count),
            "amount": amount,
            "amount_share": rate_text(amount, amount),
        },
        {c: link(c, None) for c in ("count", "amount")},
    )
    table = Table(
        title=str(_("Lost reasons")),
        columns=[Column(k, label) for k, label in LOST_COLUMNS.items()],
        rows=rows,
        total=total,
        label_header=str(_("Lost reason")),
    )
    return LostReport(table, bars)


def _share(part, whole) -> Decimal:
    if not whole:
        return Decimal(0)
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP)


def lost_behind(*, period: Period, scope: ReportScope, key) -> QuerySet:
    """The lost opportunities behind a number of 丢单原因分析 (``key``: a reason id,
    :data:`NONE_KEY` or None for the total)."""
    rows = _lost(period=period, scope=scope)
    if key == NONE_KEY:
        return rows.filter(lost_reason__isnull=True)
    if key is not None:
        return rows.filter(lost_reason_id=key)
    return rows


# ---------------------------------------------------------------- 平均客单价 / 平均销售周期


MONTH, QUARTER, PERSON = "month", "quarter", "person"
DEAL_GROUPS = {MONTH: _("Per month"), QUARTER: _("Per quarter"), PERSON: _("Per person")}
DEAL_COLUMNS = {
    "count": _("Won opportunities"),
    "amount": _("Won amount"),
    "deal_size": _("Average deal size"),
    "cycle": _("Average sales cycle (days)"),
}


def _won(*, period: Period, scope: ReportScope) -> QuerySet:
    """The opportunities won in the period (closed date)."""
    return in_scope(scope).filter(
        status=StageKind.WON, closed_date__gte=period.first, closed_date__lte=period.last
    )


def quarter_key(day: datetime.date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


@dataclass
class DealReport:
    table: Table
    labels: list[str]
    sizes: list[Decimal]
    cycles: list[Decimal]


def deal_report(
    *, period: Period, tz: datetime.tzinfo, scope: ReportScope, group: str, link
) -> DealReport:
    """平均客单价 = Σ won amount / won count and 平均销售周期 = mean(closed date − created
    day, tenant-local) of the opportunities won in the period, per month or quarter of the
    closed date, or per owner; the total recomputed over all of them."""
    if group not in DEAL_GROUPS:
        raise ValueError(group)
    cycle = ExpressionWrapper(
        F("closed_date") - TruncDate("created_at", tzinfo=tz), output_field=DurationField()
    )
    won = _won(period=period, scope=scope).annotate(cycle=cycle)
    by = "owner_id" if group == PERSON else "month"
    if group != PERSON:
        won = won.annotate(month=TruncMonth("closed_date"))
    sums: dict = {}
    # PERF: one GROUP BY (month or owner); quarters add their months up here.
    for row in (
        won.order_by()
        .values(by)
        .annotate(n=Count("pk"), sum_amount=Sum("amount"), days=Sum("cycle"))
    ):
        key = row[by]
        if group != PERSON:
            day = _as_date(key)
            key = month_key(day) if group == MONTH else quarter_key(day)
        n, amount, days = sums.get(key, (0, Decimal(0), datetime.timedelta(0)))
        sums[key] = (n + row["n"], amount + money(row["sum_amount"]), days + _duration(row["days"]))
    if group == PERSON:
        people = scope.person_rows(with_data=frozenset(sums))
        labels = [(p.user_id, p.name, p.inactive) for p in people]
    else:
        keys = [month_key(m) if group == MONTH else quarter_key(m) for m in months_of(period)]
        labels = [(k, k, False) for k in dict.fromkeys(keys)]

    def values_of(n, amount, days):
        return {
            "count": n,
            "amount": money(amount),
            "deal_size": average(amount, n),
            "cycle": days_text(days / n) if n else None,
        }

    rows = []
    for key, label, inactive in labels:
        n, amount, days = sums.get(key, (0, Decimal(0), datetime.timedelta(0)))
        links = {c: link(c, key) for c in DEAL_COLUMNS}
        rows.append(Row(label, values_of(n, amount, days), links, inactive=inactive, key=key))
    n = sum(v[0] for v in sums.values())
    amount = sum((v[1] for v in sums.values()), Decimal(0))
    days = sum((v[2] for v in sums.values()), datetime.timedelta(0))
    total = Row(
        str(_("Total")), values_of(n, amount, days), {c: link(c, None) for c in DEAL_COLUMNS}
    )
    label_header = {MONTH: _("Month"), QUARTER: _("Quarter"), PERSON: _("Person")}[group]
    table = Table(
        title=str(_("Average deal size and sales cycle")),
        columns=[Column(k, label) for k, label in DEAL_COLUMNS.items()],
        rows=rows,
        total=total,
        label_header=str(label_header),
    )
    return DealReport(
        table,
        [r.label for r in rows],
        [r.values["deal_size"] or Decimal(0) for r in rows],
        [r.values["cycle"] or Decimal(0) for r in rows],
    )


def _duration(value) -> datetime.timedelta:
    if value is None:
        return datetime.timedelta(0)
    if isinstance(value, datetime.timedelta):
        return value
    return datetime.timedelta(microseconds=float(value))


def deal_behind(*, period: Period, scope: ReportScope, group: str, key) -> QuerySet:
    """The won opportunities behind a row of 平均客单价 / 平均销售周期 (``key``: "2026-10",
    "2026-Q4", a user id, None for the total); the caller checks a user id is in scope."""
    rows = _won(period=period, scope=scope)
    if key is None:
        return rows
    if group == PERSON:
        return rows.filter(owner_id=key)
    if group == QUARTER:
        year, _q, quarter = str(key).partition("-Q")
        first = datetime.date(int(year), (int(quarter) - 1) * 3 + 1, 1)
        last = (first.replace(month=first.month + 2, day=28) + datetime.timedelta(days=4)).replace(
            day=1
        ) - ONE_DAY
    else:
        first = parse_month(str(key))
        if first is None:
            raise ValueError(key)
        last = (first.replace(day=28) + datetime.timedelta(days=4)).replace(day=1) - ONE_DAY
    return rows.filter(closed_date__gte=first, closed_date__lte=last)
