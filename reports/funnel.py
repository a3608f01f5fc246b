"""销售漏斗 and 预测 (wave2.md §14.5, issue 20): the opportunities of the report scope in the
period, per open stage, then 已逾期未关单, 赢单 and 输单; the weighted forecast per month
and the manual forecast 努力中 / 承诺完成 / 已经完成.

Population (the period basis, §14.5): by **close date** (default) an open opportunity counts
when its expected close date lies in the period, a won or lost one when its closed date does;
by **creation date** every opportunity created in the period (tenant-local days) counts,
whatever its dates. Attribution: the owner (reports/opportunities.py).

Rows of the funnel table:

* each open stage in pipeline order: count, Σ amount, Σ weighted amount (amount × the
  opportunity's probability, which is its stage's unless the tenant lets reps enter it) and
  the average days in the stage (now − ``stage_entered_at``);
* 已逾期未关单 (stale): open opportunities whose expected close date is before today
  (tenant-local). They are left out of the stage rows and of the forecast (they would
  inflate it) and listed here;
* 赢单 and 输单: won / lost ones (weighted: 100 % / 0 %).

The forecast tables always use the close-date basis on the period: per month, 赢单金额 (won,
closed in the month) + 加权金额 (open, expected in the month, not stale) = 预测; the manual
forecast sums the same open ones apart by ``commit`` (努力中 without, 承诺完成 with) and the
won ones (已经完成). A target to compare with comes with the targets of wave2 §12.

PERF: a fixed number of queries: the stages, one GROUP BY for the funnel, one for both
forecasts (plus the report scope's).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import (
    Avg,
    Case,
    Count,
    DateField,
    DurationField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from opportunities.models import StageKind
from reports.opportunities import (
    _as_date,
    days_text,
    in_scope,
    money,
    month_key,
    months_of,
    parse_month,
    stages_of,
    weighted,
    weighted_sum,
)
from reports.periods import Period
from reports.scope import ReportScope
from reports.tables import Column, Row, Table

CLOSE, CREATED = "close", "created"
BASES = {CLOSE: _("By close date"), CREATED: _("By creation date")}
STALE, WON, LOST = "stale", "won", "lost"
FUNNEL_COLUMNS = {
    "count": pgettext_lazy("report column", "Opportunities"),
    "amount": _("Amount"),
    "weighted": _("Weighted amount"),
    "days": _("Average days in stage"),
}
FORECAST_COLUMNS = {
    "won_count": _("Won"),
    "won_amount": _("Won amount"),
    "open_count": _("In progress"),
    "open_amount": _("Amount in progress"),
    "weighted": _("Weighted amount"),
    "forecast": _("Forecast"),
}
# The manual forecast's rows.
PIPELINE, COMMIT = "pipeline", "commit"
COMMIT_ROWS = {
    PIPELINE: _("Best case (not committed)"),
    COMMIT: pgettext_lazy("manual forecast", "Committed"),
    WON: _("Closed won"),
}
COMMIT_COLUMNS = {"count": pgettext_lazy("report column", "Opportunities"), "amount": _("Amount")}
TABLES = ("funnel", "forecast", "commit")


def population(*, period: Period, tz: datetime.tzinfo, scope: ReportScope, basis: str) -> QuerySet:
    """The opportunities the funnel table counts (see the module's docstring)."""
    rows = in_scope(scope)
    if basis == CREATED:
        start, end = period.bounds(tz)
        return rows.filter(created_at__gte=start, created_at__lt=end)
    if basis != CLOSE:
        raise ValueError(basis)
    return _by_close(rows, period)


def _by_close(rows: QuerySet, period: Period) -> QuerySet:
    return rows.filter(
        Q(
            status=StageKind.OPEN,
            expected_close_date__gte=period.first,
            expected_close_date__lte=period.last,
        )
        | Q(
            status__in=[StageKind.WON, StageKind.LOST],
            closed_date__gte=period.first,
            closed_date__lte=period.last,
        )
    )


def _stale_q(today: datetime.date) -> Q:
    return Q(status=StageKind.OPEN, expected_close_date__lt=today)


def _current_q(today: datetime.date) -> Q:
    return Q(status=StageKind.OPEN, expected_close_date__gte=today)


@dataclass
class Funnel:
    table: Table
    forecast: Table
    commit: Table
    # (label, count, amount, weighted) of the open stages then won: the chart's data.
    bars: list[tuple[str, int, Decimal, Decimal]] = field(default_factory=list)


def funnel_report(
    *,
    period: Period,
    tz: datetime.tzinfo,
    scope: ReportScope,
    basis: str,
    today: datetime.date,
    link,
    now: datetime.datetime | None = None,
) -> Funnel:
    """The three tables. ``link(table, row, column)`` gives a number's drill-down URL; rows
    are ``stage-<id>``, ``stale``, ``won``, ``lost`` (funnel), ``YYYY-MM`` or None (forecast
    total), ``pipeline``, ``commit``, ``won`` (manual forecast)."""
    now = now or timezone.now()
    stages = stages_of(scope.actor.tenant_id)
    rows = population(period=period, tz=tz, scope=scope, basis=basis)
    row_key = Case(
        When(_stale_q(today), then=Value(STALE)),
        When(status=StageKind.WON, then=Value(WON)),
        When(status=StageKind.LOST, then=Value(LOST)),
        default=Value("open"),
    )
    dwell = ExpressionWrapper(Value(now) - F("stage_entered_at"), output_field=DurationField())
    groups = {}
    for g in (
        rows.annotate(row=row_key)
        .order_by()
        .values("row", "stage_id")
        .annotate(n=Count("pk"), sum_amount=Sum("amount"), w=weighted_sum(), days=Avg(dwell))
    ):
        key = f"stage-{g['stage_id']}" if g["row"] == "open" else g["row"]
        group = groups.setdefault(key, [0, Decimal(0), Decimal(0), []])
        group[0] += g["n"]
        group[1] += money(g["sum_amount"])
        group[2] += weighted(g["w"])
        group[3].append((g["days"], g["n"]))
    out, bars = [], []

    def row(key: str, label: str, with_days: bool) -> Row:
        n, amount, w, days = groups.get(key, (0, Decimal("0.00"), Decimal("0.00"), []))
        values = {
            "count": n,
            "amount": money(amount),
            "weighted": money(w),
            "days": _mean_days(days) if with_days else None,
        }
        links = {c: link("funnel", key, c) for c in FUNNEL_COLUMNS if with_days or c != "days"}
        return Row(label, values, links, key=key)

    for stage in stages:
        key = f"stage-{stage.pk}"
        if stage.kind != StageKind.OPEN or not (stage.is_active or key in groups):
            continue
        r = row(key, stage.name, True)
        out.append(r)
        bars.append((stage.name, r.values["count"], r.values["amount"], r.values["weighted"]))
    out.append(row(STALE, str(_("Overdue, not closed")), True))
    names = {s.kind: s.name for s in stages}
    won = row(WON, names.get(StageKind.WON, str(_("Won"))), False)
    out.append(won)
    bars.append((won.label, won.values["count"], won.values["amount"], won.values["weighted"]))
    out.append(row(LOST, names.get(StageKind.LOST, str(_("Lost"))), False))
    table = Table(
        title=str(_("Sales funnel")),
        columns=[Column(k, label) for k, label in FUNNEL_COLUMNS.items()],
        rows=out,
        label_header=str(_("Sales stage")),
    )
    # PERF: a second GROUP BY for the forecasts. Folding them into the funnel's (grouped by
    # day and commit too) cost more than the two apart on PostgreSQL: 170-200 ms against
    # 80 + 75 ms for 137,000 opportunities (its sort spilled to disk).
    forecast_groups = _forecast_groups(period=period, scope=scope, today=today)
    forecast, commit = _forecasts(period=period, groups=forecast_groups, link=link)
    return Funnel(table, forecast, commit, bars)


def _close_day() -> Case:
    """The date an opportunity counts on by close date: closed date, else expected."""
    return Case(
        When(status__in=[StageKind.WON, StageKind.LOST], then=F("closed_date")),
        default=F("expected_close_date"),
        output_field=DateField(),
    )


def _mean_days(parts: list[tuple[object, int]]) -> Decimal | None:
    """The average of averages weighted by their counts, in days."""
    total, count = datetime.timedelta(0), 0
    for value, n in parts:
        if value is None:
            continue
        if not isinstance(value, datetime.timedelta):  # SQLite: microseconds
            value = datetime.timedelta(microseconds=float(value))
        total += value * n
        count += n
    return days_text(total / count) if count else None


def _forecast_groups(*, period: Period, scope: ReportScope, today: datetime.date) -> list[dict]:
    """The forecasts' opportunities (won in the period; open, not stale, expected in it)
    grouped by status, commit and day (one GROUP BY)."""
    rows = in_scope(scope).filter(
        Q(
            _current_q(today),
            expected_close_date__gte=period.first,
            expected_close_date__lte=period.last,
        )
        | Q(status=StageKind.WON, closed_date__gte=period.first, closed_date__lte=period.last)
    )
    return list(
        rows.annotate(day=_close_day())
        .order_by()
        .values("status", "commit", "day")
        .annotate(n=Count("pk"), sum_amount=Sum("amount"), w=weighted_sum())
    )


def _forecasts(*, period: Period, groups: list[dict], link):
    """The weighted forecast per month and the manual forecast from ``groups`` (dicts of
    status, commit, day, n, sum_amount, w)."""
    by_month: dict[str, dict] = {}
    manual = {PIPELINE: [0, Decimal(0)], COMMIT: [0, Decimal(0)], WON: [0, Decimal(0)]}
    for g in groups:
        key = month_key(_as_date(g["day"]))
        figures = by_month.setdefault(key, _empty_month())
        if g["status"] == StageKind.WON:
            figures["won_count"] += g["n"]
            figures["won_amount"] += money(g["sum_amount"])
            bucket = WON
        else:
            figures["open_count"] += g["n"]
            figures["open_amount"] += money(g["sum_amount"])
            figures["weighted"] += weighted(g["w"])
            bucket = COMMIT if g["commit"] else PIPELINE
        manual[bucket][0] += g["n"]
        manual[bucket][1] += money(g["sum_amount"])
    month_rows = []
    totals = _empty_month()
    for month in months_of(period):
        key = month_key(month)
        figures = by_month.get(key, _empty_month())
        figures["forecast"] = figures["won_amount"] + figures["weighted"]
        for k in totals:
            totals[k] += figures[k] if k != "forecast" else 0
        month_rows.append(
            Row(
                key,
                _money_values(figures),
                {c: link("forecast", key, c) for c in FORECAST_COLUMNS},
                key=key,
            )
        )
    totals["forecast"] = totals["won_amount"] + totals["weighted"]
    forecast = Table(
        title=str(_("Weighted forecast")),
        columns=[Column(k, label) for k, label in FORECAST_COLUMNS.items()],
        rows=month_rows,
        total=Row(
            str(_("Total")),
            _money_values(totals),
            {c: link("forecast", None, c) for c in FORECAST_COLUMNS},
        ),
        label_header=str(_("Month")),
    )
    commit = Table(
        title=str(_("Manual forecast")),
        columns=[Column(k, label) for k, label in COMMIT_COLUMNS.items()],
        rows=[
            Row(
                str(label),
                {"count": manual[key][0], "amount": money(manual[key][1])},
                {c: link("commit", key, c) for c in COMMIT_COLUMNS},
                key=key,
            )
            for key, label in COMMIT_ROWS.items()
        ],
        label_header=str(_("Forecast category")),
    )
    return forecast, commit


def _empty_month() -> dict:
    return {
        "won_count": 0,
        "won_amount": Decimal(0),
        "open_count": 0,
        "open_amount": Decimal(0),
        "weighted": Decimal(0),
        "forecast": Decimal(0),
    }


def _money_values(figures: dict) -> dict:
    return {k: (v if isinstance(v, int) else money(v)) for k, v in figures.items()}


def funnel_behind(
    *,
    period: Period,
    tz: datetime.tzinfo,
    scope: ReportScope,
    basis: str,
    today: datetime.date,
    table: str,
    row: str | None,
    column: str,
) -> QuerySet:
    """The opportunities behind one number (same conditions as :func:`funnel_report`).
    Raises ``ValueError`` for a row or column that is not one of the tables'."""
    if table == "funnel":
        if column not in FUNNEL_COLUMNS:
            raise ValueError(column)
        rows = population(period=period, tz=tz, scope=scope, basis=basis)
        if row == STALE:
            return rows.filter(_stale_q(today))
        if row == WON:
            return rows.filter(status=StageKind.WON)
        if row == LOST:
            return rows.filter(status=StageKind.LOST)
        if row and row.startswith("stage-") and row[6:].isdigit():
            return rows.filter(_current_q(today), stage_id=int(row[6:]))
        raise ValueError(row)
    won = Q(status=StageKind.WON, closed_date__gte=period.first, closed_date__lte=period.last)
    current = Q(
        _current_q(today),
        expected_close_date__gte=period.first,
        expected_close_date__lte=period.last,
    )
    rows = in_scope(scope)
    if table == "commit":
        if column not in COMMIT_COLUMNS:
            raise ValueError(column)
        if row == WON:
            return rows.filter(won)
        if row in (PIPELINE, COMMIT):
            return rows.filter(current, commit=row == COMMIT)
        raise ValueError(row)
    if table != "forecast" or column not in FORECAST_COLUMNS:
        raise ValueError(table)
    if row is not None:
        first = parse_month(row)
        if first is None:
            raise ValueError(row)
        last = (first.replace(day=28) + datetime.timedelta(days=4)).replace(
            day=1
        ) - datetime.timedelta(days=1)
        won &= Q(closed_date__gte=first, closed_date__lte=last)
        current &= Q(expected_close_date__gte=first, expected_close_date__lte=last)
    if column.startswith("won"):
        return rows.filter(won)
    if column == "forecast":
        return rows.filter(won | current)
    return rows.filter(current)
