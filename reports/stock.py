"""Customer stock per owner and value of a status-like field (issue 19 §2, wave2.md §14.2 R3
存量): customers alive, owned, holding the value.

The stock of today is counted live; a past day's is the snapshot the beat stored that day
(``stock:<field>:<value>:<lifecycle>`` rows of ``reports.DailyCount``, rewritten with each
five-minute refresh, so the day's last refresh is its end-of-day stock). A stock cannot be
recomputed for a past day from the base tables: days before the first snapshot have none
(the page says so), and the reconciliation leaves these rows alone (no summary source owns
the ``stock`` prefix).
"""

from __future__ import annotations

import datetime

from django.db import transaction
from django.db.models import Count, F

from crm.models import Tenant
from customers.models import Customer
from reports.models import DailyCount
from reports.sources import ATTR_FIELDS

PREFIX = "stock"

# field → the Customer lookup of its value.
LOOKUPS = {"status": "status_id", "level": "level_id", "deal_status": "deal_status", "tag": "tags"}


def live(tenant_id: int, field: str, user_ids=None) -> dict[tuple[int, str, str], int]:
    """``{(owner_id, value, lifecycle): count}`` now (one query)."""
    qs = Customer.objects.filter(tenant_id=tenant_id, deleted_at__isnull=True, owner__isnull=False)
    if user_ids is not None:
        qs = qs.filter(owner_id__in=list(user_ids))
    rows = (
        qs.exclude(**{f"{LOOKUPS[field]}__isnull": True})
        .annotate(value=F(LOOKUPS[field]))
        .values("owner_id", "value", "lifecycle")
        # PERF: a customer is one row per value (a tag: one row per tag it has), so a plain
        # count; COUNT(DISTINCT) made PostgreSQL sort every customer of the tenant on disk.
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {
        (r["owner_id"], str(r["value"]), r["lifecycle"]): r["n"] for r in rows if r["value"] != ""
    }


def snapshot(tenant_id: int, day: datetime.date) -> int:
    """Store the stock of every field as ``day``'s (replacing that day's earlier snapshot)."""
    rows = []
    for field in ATTR_FIELDS:
        for (owner_id, value, lifecycle), n in live(tenant_id, field).items():
            rows.append(
                DailyCount(
                    tenant_id=tenant_id,
                    day=day,
                    user_id=owner_id,
                    metric=f"{PREFIX}:{field}:{value}:{lifecycle}",
                    value=n,
                )
            )
    with transaction.atomic():
        DailyCount.objects.filter(
            tenant_id=tenant_id, day=day, metric__startswith=f"{PREFIX}:"
        ).delete()
        DailyCount.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def at_day(
    tenant: Tenant, field: str, day: datetime.date, today: datetime.date, user_ids
) -> dict[tuple[int, str, str], int] | None:
    """The stock at the end of ``day``: live when ``day`` is today (or later), the day's
    snapshot otherwise, None when no snapshot was taken that day."""
    if day >= today:
        return live(tenant.pk, field, user_ids)
    rows = DailyCount.objects.filter(
        tenant_id=tenant.pk, day=day, metric__startswith=f"{PREFIX}:{field}:"
    )
    if user_ids is not None:
        rows = rows.filter(user_id__in=list(user_ids))
    found = list(rows.values_list("user_id", "metric", "value"))
    if (
        not found
        and not DailyCount.objects.filter(
            tenant_id=tenant.pk, day=day, metric__startswith=f"{PREFIX}:"
        ).exists()
    ):
        return None
    out = {}
    for user_id, metric, value in found:
        _prefix, _field, val, lifecycle = metric.split(":", 3)
        out[(user_id, val, lifecycle)] = value
    return out
