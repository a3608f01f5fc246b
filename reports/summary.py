"""Summary figures per tenant-local day and user (issue 19, wave2.md §14.1 "speed").

A :class:`Source` computes its metrics from the base tables with one ``GROUP BY`` (local day,
user, metric) for a range of days; :func:`refresh` stores them in :class:`DailyCount` (the range
replaced in one transaction), :func:`reconcile` recomputes a range, logs any drift and fixes
it, and :func:`figures` answers a report: the stored days before today plus today computed
live, so a page never waits for the beat and never reads a stale today.

The beat refreshes each tenant's today (and yesterday for the first hour of a day) every five
minutes; the nightly reconciliation recomputes the last :data:`RECONCILE_DAYS` days.
``manage.py reports_rebuild --tenant demo`` recomputes everything (after an import of old
data, or when a source's definition changes).

Only additive figures are summarised (counts, sums): a distinct count over a period (customers
followed) cannot be added up from days and is counted from the base tables.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Sum

from crm.models import Tenant
from reports.models import DailyCount

logger = logging.getLogger(__name__)

RECONCILE_DAYS = 7
BATCH = 2000

# (day, user_id, metric, value)
Row = tuple[datetime.date, int, str, int]


@dataclass(frozen=True)
class Source:
    """``compute(tenant_id, start, end, tz)`` answers the rows of every metric of the source
    whose moment lies in ``[start, end)``, grouped by local day (in ``tz``), user and metric;
    all its metric keys start with ``prefix`` + ``:``."""

    prefix: str
    compute: Callable[[int, datetime.datetime, datetime.datetime, datetime.tzinfo], Iterable[Row]]


_SOURCES: dict[str, Source] = {}


def register(source: Source) -> Source:
    if source.prefix in _SOURCES and _SOURCES[source.prefix] is not source:
        raise ValueError(f"summary source {source.prefix!r} is registered twice")
    _SOURCES[source.prefix] = source
    return source


def sources() -> list[Source]:
    return list(_SOURCES.values())


def local_bounds(
    first: datetime.date, last: datetime.date, tz: datetime.tzinfo
) -> tuple[datetime.datetime, datetime.datetime]:
    """``[first 00:00, the day after last 00:00)`` in ``tz``."""
    start = datetime.datetime.combine(first, datetime.time.min, tzinfo=tz)
    end = datetime.datetime.combine(last + datetime.timedelta(days=1), datetime.time.min, tzinfo=tz)
    return start, end


def _computed(
    tenant: Tenant, source: Source, first: datetime.date, last: datetime.date
) -> dict[tuple[datetime.date, int, str], int]:
    tz = tenant.tzinfo
    start, end = local_bounds(first, last, tz)
    out: dict[tuple[datetime.date, int, str], int] = {}
    for day, user_id, metric, value in source.compute(tenant.pk, start, end, tz):
        if value:
            key = (day, user_id, metric)
            out[key] = out.get(key, 0) + int(value)
    return out


def _stored(
    tenant_id: int, source: Source, first: datetime.date, last: datetime.date
) -> dict[tuple[datetime.date, int, str], int]:
    rows = DailyCount.objects.filter(
        tenant_id=tenant_id,
        metric__startswith=f"{source.prefix}:",
        day__gte=first,
        day__lte=last,
    ).values_list("day", "user_id", "metric", "value")
    return {(day, user_id, metric): value for day, user_id, metric, value in rows}


def _replace(
    tenant_id: int,
    source: Source,
    first: datetime.date,
    last: datetime.date,
    rows: dict[tuple[datetime.date, int, str], int],
) -> None:
    with transaction.atomic():
        DailyCount.objects.filter(
            tenant_id=tenant_id,
            metric__startswith=f"{source.prefix}:",
            day__gte=first,
            day__lte=last,
        ).delete()
        DailyCount.objects.bulk_create(
            [
                DailyCount(tenant_id=tenant_id, day=day, user_id=user_id, metric=metric, value=v)
                for (day, user_id, metric), v in rows.items()
            ],
            batch_size=BATCH,
        )


def refresh(tenant_id: int, first: datetime.date, last: datetime.date) -> int:
    """Recompute and store every source's figures of the days ``first``..``last``; returns
    the number of rows stored."""
    tenant = Tenant.objects.get(pk=tenant_id)
    stored = 0
    for source in sources():
        rows = _computed(tenant, source, first, last)
        _replace(tenant_id, source, first, last, rows)
        stored += len(rows)
    return stored


def reconcile(tenant_id: int, first: datetime.date, last: datetime.date) -> int:
    """Recompute the days ``first``..``last`` from the base tables and compare them with the
    stored figures: each difference is logged (a warning) and fixed. Returns the number of
    figures that had drifted."""
    tenant = Tenant.objects.get(pk=tenant_id)
    drifted = 0
    for source in sources():
        computed = _computed(tenant, source, first, last)
        stored = _stored(tenant_id, source, first, last)
        diff = {
            key: (stored.get(key, 0), computed.get(key, 0))
            for key in computed.keys() | stored.keys()
            if stored.get(key, 0) != computed.get(key, 0)
        }
        if diff:
            drifted += len(diff)
            sample = sorted(diff.items())[:5]
            logger.warning(
                "reports: %d figures of %s drifted for tenant %s between %s and %s, fixed "
                "(e.g. %s)",
                len(diff),
                source.prefix,
                tenant_id,
                first,
                last,
                ", ".join(f"{d} user {u} {m}: {a} → {b}" for (d, u, m), (a, b) in sample),
            )
            _replace(tenant_id, source, first, last, computed)
    return drifted


def figures(
    tenant: Tenant,
    prefix: str,
    first: datetime.date,
    last: datetime.date,
    user_ids: Iterable[int] | None,
    now: datetime.datetime | None = None,
) -> dict[tuple[int, str], int]:
    """``{(user_id, metric): value}`` of the source ``prefix`` summed over ``first``..``last``
    for ``user_ids`` (None: everyone): the days before today from the summary table (one
    query), today (when in the range) computed live from the base tables."""
    source = _SOURCES[prefix]
    today = tenant.today(now)
    users = None if user_ids is None else set(user_ids)
    out: dict[tuple[int, str], int] = {}
    stored_last = min(last, today - datetime.timedelta(days=1))
    if first <= stored_last:
        qs = DailyCount.objects.filter(
            tenant_id=tenant.pk,
            metric__startswith=f"{prefix}:",
            day__gte=first,
            day__lte=stored_last,
        )
        if users is not None:
            qs = qs.filter(user_id__in=users)
        for user_id, metric, value in (
            qs.values("user_id", "metric")
            .annotate(total=Sum("value"))
            .values_list("user_id", "metric", "total")
        ):
            out[(user_id, metric)] = int(value)
    if first <= today <= last:
        for (_day, user_id, metric), value in _computed(tenant, source, today, today).items():
            if users is None or user_id in users:
                out[(user_id, metric)] = out.get((user_id, metric), 0) + value
    return out
