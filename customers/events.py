"""The customer events the reports count (wave2 §14.2 R1–R3), built in one place.

Ownership events (``OwnershipEvent``) carry the customer's lifecycle at the time; field
changes (``CustomerAttrEvent``) are one row per status-like value that changed and per tag
added or removed. The services call these helpers around their writes: take
:func:`attr_values` before, change the rows, then :func:`attr_events_write` with the rows
after. Nothing here queries per row: batch actions write all their events in one INSERT.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence

from django.utils import timezone

from customers.models import Customer, CustomerAttrEvent

Values = dict[str, str]


def _text(value) -> str:
    return "" if value is None else str(value)


def attr_values(customer: Customer) -> Values:
    """The customer's status-like values as the events store them (option ids and choice
    values as text, "" for empty). Reads loaded columns only (``status_id``, not
    ``status``): no query."""
    return {
        "status": _text(customer.status_id),
        "level": _text(customer.level_id),
        "deal_status": _text(customer.deal_status),
        "lifecycle": _text(customer.lifecycle),
    }


EMPTY: Values = dict.fromkeys(CustomerAttrEvent.FIELDS, "")


def attr_events(
    customer: Customer,
    before: Mapping[str, str],
    *,
    added_tags: Iterable[int] = (),
    removed_tags: Iterable[int] = (),
    at: datetime.datetime | None = None,
) -> list[CustomerAttrEvent]:
    """Unsaved events for what changed on ``customer`` since ``before`` (its
    :func:`attr_values` then, or :data:`EMPTY` for a new customer), and for the tag ids
    added and removed. The owner and lifecycle are the customer's now (after the change)."""
    at = at or timezone.now()
    common = {
        "tenant_id": customer.tenant_id,
        "customer_id": customer.pk,
        "owner_id": customer.owner_id,
        "lifecycle": customer.lifecycle,
        "at": at,
    }
    after = attr_values(customer)
    events = [
        CustomerAttrEvent(field=field, old_value=before[field], new_value=after[field], **common)
        for field in CustomerAttrEvent.FIELDS
        if before[field] != after[field]
    ]
    events += [
        CustomerAttrEvent(field=CustomerAttrEvent.TAG, new_value=str(pk), **common)
        for pk in sorted(set(added_tags))
    ]
    events += [
        CustomerAttrEvent(field=CustomerAttrEvent.TAG, old_value=str(pk), **common)
        for pk in sorted(set(removed_tags))
    ]
    return events


def attr_events_write(events: Sequence[CustomerAttrEvent]) -> list[CustomerAttrEvent]:
    """Save the events in one INSERT (none when there are none)."""
    if not events:
        return []
    return CustomerAttrEvent.objects.bulk_create(events, batch_size=1000)


def followups_recount(tenant_id: int, customer_ids: Iterable[int]) -> int:
    """Set what the follow-ups of ``customer_ids`` count as in the follow-up statistics
    (``FollowUp.counts_as``) from their customers as they are now: the lifecycle, or ""
    for a customer in the recycle bin. A lead's follow-ups stay the lead's. Two UPDATEs
    (one per lifecycle) plus one for the recycle bin, whatever the number of customers."""
    from customers.models import FollowUp

    ids = sorted(set(customer_ids))
    if not ids:
        return 0
    mine = FollowUp.objects.filter(tenant_id=tenant_id, customer_id__in=ids).exclude(
        counts_as=FollowUp.LEAD
    )
    customers = Customer.objects.filter(tenant_id=tenant_id, pk__in=ids)
    changed = mine.filter(customer__in=customers.filter(deleted_at__isnull=False)).update(
        counts_as=""
    )
    for lifecycle in Customer.Lifecycle.values:
        alive = customers.filter(deleted_at__isnull=True, lifecycle=lifecycle)
        changed += (
            mine.filter(customer__in=alive).exclude(counts_as=lifecycle).update(counts_as=lifecycle)
        )
    return changed
