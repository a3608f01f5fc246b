"""Automatic recycling into the pool and the warnings before it (DESIGN §7, §9).

Customer groups and lead groups run the same code (``pools.subjects`` says what differs):
a lead pool recycles open leads (new, contacted) lying with an owner for its days without a
follow-up; closed and converted leads stay (and are never warned about), and the deal and
level rules and the exemptions are the customer pool's only. The warnings before recycling
go out for both kinds.

Set-based: for each group the candidates are one query built from the group's rules (one
branch per customer level with its own days, one for the rest) and the exemptions (signed,
locked, the ``pools.hooks`` exemptions such as an open opportunity). They are taken in
batches of ``BATCH`` rows: each batch is one transaction that locks its rows (re-checking
the rules under the lock, so an overlapping run skips what the first one took), moves them
into the pool with one UPDATE per rule, writes their ownership events and activity entries
in bulk. Each former owner gets one notification for the whole run, after the batches (a
crash in between costs that notification, never a recycled customer). A crash loses at
most the batch in flight, which the next run picks up again; a second run finds nothing
left to do.
"""

from __future__ import annotations

import datetime
from collections import defaultdict

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from crm import activity
from crm.models import User
from crm.services import notification_send
from customers.models import Customer, OwnershipEvent, PoolReason
from pools import activity_actions as actions
from pools import hooks
from pools.models import PoolGroup, RecycleWarning
from pools.selectors import Forecast, forecast, groups_with_rules
from pools.services import _names, pooled_fields
from pools.subjects import CUSTOMER, PoolSubject, subject_for

BATCH = 1000


def _owned_before(cutoff: datetime.datetime) -> Q:
    """Owned since ``cutoff`` or earlier; an unknown start counts from the creation, as
    the forecast (pools.selectors.forecast) does."""
    return Q(owned_since__lte=cutoff) | Q(owned_since__isnull=True, created_at__lte=cutoff)


def _rule_q(followup_days: int | None, deal_days: int | None, at: datetime.datetime) -> Q | None:
    """Owned customers that a rule recycles at time ``at``."""
    condition = None
    if followup_days:
        cutoff = at - datetime.timedelta(days=followup_days)
        # The later of the last follow-up and the start of the ownership (claim, transfer…).
        q = _owned_before(cutoff) & (
            Q(last_followup_at__isnull=True) | Q(last_followup_at__lte=cutoff)
        )
        condition = q
    if deal_days:
        cutoff = at - datetime.timedelta(days=deal_days)
        q = _owned_before(cutoff) & ~Q(deal_status=Customer.DealStatus.DEAL)
        condition = q if condition is None else condition | q
    return condition


def lead_candidates(group: PoolGroup, at: datetime.datetime) -> QuerySet:
    """Open leads of lead pool ``group`` lying with an owner for its days without a
    follow-up at time ``at`` (closed and converted leads are never recycled)."""
    from leads.models import Lead

    qs = Lead.objects.open().filter(
        tenant_id=group.tenant_id, pool_group=group, owner__isnull=False, pooled_at__isnull=True
    )
    condition = _rule_q(group.recycle_no_followup_days, None, at)
    if condition is None or not group.is_enabled:
        return qs.none()
    return qs.filter(condition)


def candidates(group: PoolGroup, at: datetime.datetime) -> QuerySet:
    """Owned customers (or leads, for a lead pool) of ``group`` whose recycling time is
    ``at`` or earlier."""
    if group.kind == PoolGroup.Kind.LEAD:
        return lead_candidates(group, at)
    branches = []
    overridden = []
    for rule in group.level_rules.all():
        overridden.append(rule.level_id)
        q = _rule_q(rule.no_followup_days, rule.no_deal_days, at)
        if q is not None:
            branches.append(Q(level_id=rule.level_id) & q)
    default = _rule_q(group.recycle_no_followup_days, group.recycle_no_deal_days, at)
    if default is not None:
        rest = Q(level_id__isnull=True) | ~Q(level_id__in=overridden) if overridden else Q()
        branches.append(rest & default)
    qs = Customer.objects.filter(
        tenant_id=group.tenant_id,
        pool_group=group,
        owner__isnull=False,
        pooled_at__isnull=True,
        deleted_at__isnull=True,
    )
    if not branches or not group.is_enabled:
        return qs.none()
    condition = branches[0]
    for branch in branches[1:]:
        condition |= branch
    qs = qs.filter(condition)
    if group.exempt_signed:
        qs = qs.exclude(lifecycle=Customer.Lifecycle.SIGNED)
    if group.exempt_locked:
        qs = qs.exclude(is_locked=True)
    if group.exempt_with_opportunity:
        exemption = hooks.exemption_q()
        if exemption is not None:
            qs = qs.exclude(exemption)
    return qs


_ROW_FIELDS = (
    "id",
    "tenant_id",
    "name",
    "owner_id",
    "level_id",
    "lifecycle",
    "deal_status",
    "is_locked",
    "last_followup_at",
    "owned_since",
    "created_at",
    "pooled_at",
    "deleted_at",
    "pool_group_id",
)
_LEAD_ROW_FIELDS = (
    "id",
    "tenant_id",
    "name",
    "company",
    "owner_id",
    "status",
    "last_followup_at",
    "owned_since",
    "created_at",
    "pooled_at",
    "pool_group_id",
)


def _notify_recycled(
    tenant_id: int, by_owner: dict[int, list], subject: PoolSubject = CUSTOMER
) -> None:
    for owner_id, rows in by_owner.items():
        notification_send(
            tenant_id=tenant_id,
            recipients=list(User.tenant_objects.filter(tenant_id=tenant_id, pk=owner_id)),
            title=subject.message("recycled", len(rows), names=_names(rows, 5, subject=subject)),
            link=subject.pool_url,
        )


def recycle_group(
    group: PoolGroup,
    *,
    now: datetime.datetime | None = None,
    recycled: dict[int, list] | None = None,
) -> int:
    """Recycle every due customer (or lead) of one group; returns how many went into the
    pool.

    Each former owner gets one notification for the whole run (not one per batch): given
    ``recycled`` (``{owner id: customers}``) the caller collects across groups and sends
    them itself; without it they go out when the group is done."""
    now = now or timezone.now()
    subject = subject_for(group.kind)
    is_lead = subject.kind == PoolGroup.Kind.LEAD
    total = 0
    notify_here = recycled is None
    if recycled is None:
        recycled = defaultdict(list)
    while True:
        with transaction.atomic():
            rows = list(
                candidates(group, now)
                .select_for_update(of=("self",))
                .only(*(_LEAD_ROW_FIELDS if is_lead else _ROW_FIELDS))
                .order_by("pk")[:BATCH]
            )
            if not rows:
                break
            by_rule: dict[tuple[str, int], list] = defaultdict(list)
            for customer in rows:
                # A lead pool has one rule: days without a follow-up.
                f = None if is_lead else forecast(customer, group)
                # The query said it is due; the forecast names the rule (the earliest one).
                key = (f.rule, f.days) if f else ("followup", group.recycle_no_followup_days or 0)
                by_rule[key].append(customer)
            for (rule, days), members in by_rule.items():
                for customer in members:
                    recycled.setdefault(customer.owner_id, []).append(customer)
                reason = (
                    PoolReason.RECYCLED_FOLLOWUP if rule == "followup" else PoolReason.RECYCLED_DEAL
                )
                previous = {c.pk: c.owner_id for c in members}
                subject.clear_when_pooled(members)
                subject.change_owner(
                    actor=None,
                    rows=members,
                    to_user=None,
                    kind=OwnershipEvent.Kind.RECYCLED,
                    group=group,
                    note=Forecast(now, rule, days).reason,
                    fields=pooled_fields(subject, now=now, group=group, reason=reason, days=days),
                )
                activity.activity_record_many(
                    actor=None,
                    targets=members,
                    action=actions.POOL_RECYCLED,
                    changes_for=lambda c, p=previous: {"owner": [str(p[c.pk]), ""]},
                    note=f"{group.name}：{days}",
                )
            total += len(rows)
    if notify_here:
        _notify_recycled(group.tenant_id, recycled, subject)
    return total


def recycle_tenant(tenant_id: int, *, now: datetime.datetime | None = None) -> int:
    """Run every enabled group's rules of one tenant (customer pools and lead pools, inside
    its scope); each former owner gets one notification per kind for the run."""
    now = now or timezone.now()
    total = 0
    recycled: dict[str, dict[int, list]] = {}
    for group in groups_with_rules().filter(tenant_id=tenant_id, is_enabled=True):
        total += recycle_group(group, now=now, recycled=recycled.setdefault(group.kind, {}))
    for kind, by_owner in recycled.items():
        _notify_recycled(tenant_id, by_owner, subject_for(kind))
    return total


def warn_tenant(tenant_id: int, *, now: datetime.datetime | None = None) -> int:
    """Warn owners of customers and leads that their group will recycle within its warning
    days; once per row and recycle date (``RecycleWarning``), so a second run sends nothing.
    Each owner gets one notification per group (hence never customers and leads in one).
    Returns how many warnings went out."""
    now = now or timezone.now()
    sent = 0
    groups = groups_with_rules().filter(tenant_id=tenant_id, is_enabled=True)
    for group in groups:
        if not group.warn_days:
            continue
        subject = subject_for(group.kind)
        fields = _LEAD_ROW_FIELDS if subject.kind == PoolGroup.Kind.LEAD else _ROW_FIELDS
        key = f"{subject.warning_field}_id"
        with transaction.atomic():
            # Overlapping runs queue here, one per group, and then see the first's warnings.
            PoolGroup.objects.select_for_update().filter(pk=group.pk).first()
            horizon = now + datetime.timedelta(days=group.warn_days)
            due_now = candidates(group, now).values("pk")
            rows = list(
                candidates(group, horizon).exclude(pk__in=due_now).only(*fields).order_by("pk")
            )
            exempt = subject.exempt_ids(group, [row.pk for row in rows])
            dated = []
            for row in rows:
                f = subject.forecast(row, group, exempt=row.pk in exempt)
                if f is not None:
                    row.forecast = f
                    dated.append((row, timezone.localdate(f.at)))
            known = set(
                RecycleWarning.objects.filter(
                    tenant_id=tenant_id, **{f"{key}__in": [row.pk for row, _d in dated]}
                ).values_list(key, "recycle_on")
            )
            fresh = [(row, d) for row, d in dated if (row.pk, d) not in known]
            RecycleWarning.objects.bulk_create(
                RecycleWarning(
                    tenant_id=tenant_id, **{key: row.pk}, recycle_on=d, owner_id=row.owner_id
                )
                for row, d in fresh
            )
            by_owner: dict[int, list] = defaultdict(list)
            for row, _day in fresh:
                by_owner[row.owner_id].append(row)
            for owner_id, owned in by_owner.items():
                soonest = min(row.forecast.days_left(now) for row in owned)
                notification_send(
                    tenant_id=tenant_id,
                    recipients=list(User.tenant_objects.filter(tenant_id=tenant_id, pk=owner_id)),
                    title=subject.message(
                        "warned", len(owned), days=soonest, names=_names(owned, 5, subject=subject)
                    ),
                    link=subject.warn_url,
                )
            sent += len(fresh)
    return sent
