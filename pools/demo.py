"""The demo pool (registered with :func:`crm.demo.register`; runs after the customers').

Tenant ``demo``: the default pool (every member; recycle after 30 days without a follow-up or
180 without a deal, 60 days for level A customers; warning 5 days ahead; 20 claims a day)
and 销售二部公海 (members: 销售二部; admin: manager1; only admins assign). The customers
without an owner lie in the two pools with a return reason and a former owner; owned
customers were taken over in the last 25 days, so a few are always about to be recycled
(the workbench shows them) and none falls into the pool the moment the demo starts.
"""

from __future__ import annotations

import datetime
import random

from django.db.models import F
from django.utils import timezone

from crm.demo import register
from crm.models import Department, Option, OptionKind, Tenant, User
from customers.models import Customer, OwnershipEvent, PoolReason
from pools.models import PoolGroup, PoolGroupDepartment, PoolGroupUser, PoolLevelRule
from pools.services import default_group_for

SEED = 20241111


@register
def load_pool(tenant: Tenant, users: dict[str, User]) -> None:
    if tenant.slug not in ("demo", "other"):
        return
    rng = random.Random(f"{SEED}:{tenant.slug}")  # noqa: S311 (demo data, not secrets)
    now = timezone.now()
    tid = tenant.pk
    default = default_group_for(tid)
    default.recycle_no_followup_days = 30
    default.recycle_no_deal_days = 180
    default.warn_days = 5
    default.daily_claim_limit = 20
    default.cooldown_days = 7
    default.save()
    groups = [default]
    level_a = Option.objects.filter(tenant_id=tid, kind=OptionKind.CUSTOMER_LEVEL).first()
    if level_a is not None:
        PoolLevelRule.objects.get_or_create(
            tenant_id=tid,
            group=default,
            level=level_a,
            defaults={"no_followup_days": 60, "no_deal_days": 365},
        )
    dept = Department.objects.filter(tenant_id=tid, name="销售二部").first()
    if dept is not None:
        second, _created = PoolGroup.objects.get_or_create(
            tenant_id=tid,
            name="销售二部公海",
            defaults={
                "claim_mode": PoolGroup.ClaimMode.ADMIN,
                "recycle_no_followup_days": 45,
                "warn_days": 3,
                "hidden_fields": ["address", "contact_emails", "contact_phones"],
                "sort_order": 1,
            },
        )
        PoolGroupDepartment.objects.get_or_create(tenant_id=tid, group=second, department=dept)
        if "manager1" in users:
            PoolGroupUser.objects.get_or_create(
                tenant_id=tid, group=second, user=users["manager1"], defaults={"is_admin": True}
            )
        groups.append(second)

    fresh = Customer.objects.filter(tenant_id=tid, pool_group__isnull=True)
    owned = list(fresh.filter(owner__isnull=False).only("pk", "created_at"))
    for customer in owned:
        taken = now - datetime.timedelta(days=rng.randint(0, 25), hours=rng.randint(0, 23))
        customer.owned_since = max(customer.created_at, taken)
        customer.pool_group = default
    Customer.objects.bulk_update(owned, ["owned_since", "pool_group"], batch_size=500)

    reps = [u for name, u in users.items() if name.startswith(("rep", "other_rep"))] or list(
        users.values()
    )
    reasons = list(
        Option.objects.filter(tenant_id=tid, kind=OptionKind.POOL_RETURN_REASON).order_by(
            "sort_order"
        )
    )
    ownerless = list(fresh.filter(owner__isnull=True).order_by("pk"))
    events = []
    for i, customer in enumerate(ownerless):
        group = groups[i % len(groups)]
        customer.pool_group = group
        customer.previous_owner = rng.choice(reps)
        span = max(1, (now - customer.created_at).days)
        customer.pooled_at = now - datetime.timedelta(days=rng.randint(0, min(span, 90)))
        if rng.random() < 0.6 and reasons:
            reason = rng.choice(reasons)
            customer.pool_reason = PoolReason.RETURNED
            customer.pool_note = reason.label
            kind, actor, note = OwnershipEvent.Kind.RETURNED, customer.previous_owner, reason.label
        else:
            customer.pool_reason = PoolReason.RECYCLED_FOLLOWUP
            customer.pool_reason_days = group.recycle_no_followup_days or 30
            kind, actor, note = OwnershipEvent.Kind.RECYCLED, None, ""
        events.append(
            OwnershipEvent(
                tenant_id=tid,
                customer=customer,
                kind=kind,
                from_user=customer.previous_owner,
                actor=actor,
                note=note,
                pool_group=group,
                created_at=customer.pooled_at,
            )
        )
    Customer.objects.bulk_update(
        ownerless,
        [
            "pool_group",
            "previous_owner",
            "pooled_at",
            "pool_reason",
            "pool_note",
            "pool_reason_days",
        ],
        batch_size=500,
    )
    OwnershipEvent.objects.bulk_create(events, batch_size=500)
    # Anything else without a group (none in a fresh demo) gets the default one.
    Customer.objects.filter(tenant_id=tid, pool_group__isnull=True).update(
        pool_group=default, owned_since=F("created_at")
    )
