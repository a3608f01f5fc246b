"""The summary sources the reports read (reports/summary.py), registered from ``ready()``.

``own``: customers gained and lost per user, from the ownership events (DESIGN §7), one metric
per report column and lifecycle at the event (wave2.md §14.2, the table "Ownership event →
R1/R2 column"): ``own:in:<column>:<lifecycle>`` for the user gaining the customer,
``own:out:<column>:<lifecycle>`` for the user losing it. ``became_signed`` and
``signed_back`` change no owner: they record the owner leaving or entering the development
view (their lifecycle is "development").
"""

from __future__ import annotations

import datetime

from django.db.models import Count
from django.db.models.functions import TruncDate

from customers.models import OwnershipEvent
from reports import summary

K = OwnershipEvent.Kind

# kind → the column it counts in, for the user gaining the customer (to_user)…
GAINED = {
    K.CREATED: "created",
    K.CLAIMED: "pool",
    K.ASSIGNED: "pool",
    K.CONVERTED: "converted",
    K.TRANSFERRED: "transferred",
    K.IMPORTED: "imported",
    K.SIGNED_BACK: "signed_back",
    K.RESTORED: "restored",
}
# … and for the user losing it (from_user). A move between pools concerns nobody.
LOST = {
    K.RETURNED: "returned",
    K.RECYCLED: "recycled",
    K.TRANSFERRED: "transferred",
    K.DELETED: "deleted",
    K.MERGED: "deleted",
    K.BECAME_SIGNED: "became_signed",
}


def ownership_rows(
    tenant_id: int, start: datetime.datetime, end: datetime.datetime, tz: datetime.tzinfo
):
    groups = (
        OwnershipEvent.objects.filter(
            tenant_id=tenant_id, created_at__gte=start, created_at__lt=end
        )
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("day", "kind", "lifecycle", "to_user_id", "from_user_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for g in groups:
        gained, lost = GAINED.get(g["kind"]), LOST.get(g["kind"])
        if gained and g["to_user_id"]:
            yield g["day"], g["to_user_id"], f"own:in:{gained}:{g['lifecycle']}", g["n"]
        if lost and g["from_user_id"]:
            yield g["day"], g["from_user_id"], f"own:out:{lost}:{g['lifecycle']}", g["n"]


OWNERSHIP = summary.register(summary.Source("own", ownership_rows))


# ---------------------------------------------------------------- field changes (R3)

# ``attr:<field>:<value>:<lifecycle>``: customers that entered ``value`` of ``field`` (a
# status option id, a level option id, a deal status, a tag id), counted for the owner at the
# change (customers.CustomerAttrEvent; a new customer's first values count).
ATTR_FIELDS = ("status", "level", "deal_status", "tag")


def attr_rows(tenant_id: int, start: datetime.datetime, end: datetime.datetime, tz):
    from customers.models import CustomerAttrEvent

    groups = (
        CustomerAttrEvent.objects.filter(
            tenant_id=tenant_id,
            field__in=ATTR_FIELDS,
            at__gte=start,
            at__lt=end,
            owner__isnull=False,
        )
        .exclude(new_value="")
        .annotate(day=TruncDate("at", tzinfo=tz))
        .values("day", "owner_id", "field", "new_value", "lifecycle")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for g in groups:
        metric = f"attr:{g['field']}:{g['new_value']}:{g['lifecycle']}"
        yield g["day"], g["owner_id"], metric, g["n"]


ATTRIBUTES = summary.register(summary.Source("attr", attr_rows))
