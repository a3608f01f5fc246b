"""Automatic recycling into the pool and the warnings before it (DESIGN §7, §9).

Every kind of group runs the same code; its pool subject (``pools.subjects``, registered by
the app that owns the rows) says which rows are due (``candidates``) and by which rule: the
customer subject (``customers.subjects``) has the deal and level rules and the exemptions
(signed, locked, the ``pools.hooks`` exemptions such as an open opportunity); the lead
subject (``leads.subjects``) recycles open leads (new, contacted) lying with an owner for
their days without a follow-up, closed and converted leads stay (and are never warned about).
The warnings before recycling go out for every kind.

Set-based: for each group the candidates are one query built from the group's rules. They
are taken in
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

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from crm import activity
from crm.models import User
from crm.services import notification_send
from pools import activity_actions as actions
from pools.models import PoolGroup, PoolReason, RecycleWarning
from pools.selectors import Forecast, groups_with_rules
from pools.services import _names, pooled_fields
from pools.subjects import PoolSubject, subject_for

BATCH = 1000


def owned_before(cutoff: datetime.datetime) -> Q:
    """Owned since ``cutoff`` or earlier; an unknown start counts from the creation, as
    the forecast (customers.subjects.forecast) does."""
    return Q(owned_since__lte=cutoff) | Q(owned_since__isnull=True, created_at__lte=cutoff)


def followup_rule_q(followup_days: int | None, at: datetime.datetime) -> Q | None:
    """Owned rows that ``followup_days`` without a follow-up recycle at time ``at``: the
    later of the last follow-up and the start of the ownership (claim, transfer…) is that
    old. None when the rule is off."""
    if not followup_days:
        return None
    cutoff = at - datetime.timedelta(days=followup_days)
    return owned_before(cutoff) & (
        Q(last_followup_at__isnull=True) | Q(last_followup_at__lte=cutoff)
    )


def candidates(group: PoolGroup, at: datetime.datetime) -> QuerySet:
    """Owned rows of ``group`` (its subject's) whose recycling time is ``at`` or earlier."""
    return subject_for(group.kind).candidates(group, at)


def _notify_recycled(tenant_id: int, by_owner: dict[int, list], subject: PoolSubject) -> None:
    for owner_id, rows in by_owner.items():
        notification_send(
            tenant_id=tenant_id,
            recipients=list(User.tenant_objects.filter(tenant_id=tenant_id, pk=owner_id)),
            title=subject.message("recycled", len(rows), names=_names(rows, 5, subject=subject)),
            link=subject.pool_url,
        )


# The pool reason a recycled row gets, by the rule that recycled it (an activity-date rule
# registered by a higher app, pools.hooks.register_activity_date, is named by its key).
RULE_REASONS = {
    "followup": PoolReason.RECYCLED_FOLLOWUP,
    "deal": PoolReason.RECYCLED_DEAL,
    "opportunity": PoolReason.RECYCLED_OPPORTUNITY,
}


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
    total = 0
    notify_here = recycled is None
    if recycled is None:
        recycled = defaultdict(list)
    while True:
        with transaction.atomic():
            rows = list(
                candidates(group, now)
                .select_for_update(of=("self",))
                .only(*subject.row_fields)
                .order_by("pk")[:BATCH]
            )
            if not rows:
                break
            by_rule: dict[tuple[str, int], list] = defaultdict(list)
            for row in rows:
                # The query said it is due; the subject names the rule.
                by_rule[subject.recycle_rule(row, group)].append(row)
            for (rule, days), members in by_rule.items():
                for customer in members:
                    recycled.setdefault(customer.owner_id, []).append(customer)
                reason = RULE_REASONS.get(rule, PoolReason.RECYCLED_DEAL)
                previous = {c.pk: c.owner_id for c in members}
                subject.clear_when_pooled(members)
                subject.change_owner(
                    actor=None,
                    rows=members,
                    to_user=None,
                    kind=subject.event_model.Kind.RECYCLED,
                    group=group,
                    note=Forecast(now, rule, days, group.kind).reason,
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
        fields = subject.row_fields
        record_type = ContentType.objects.get_for_model(subject.model)
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
                    tenant_id=tenant_id,
                    record_type=record_type,
                    record_id__in=[row.pk for row, _d in dated],
                ).values_list("record_id", "recycle_on")
            )
            fresh = [(row, d) for row, d in dated if (row.pk, d) not in known]
            RecycleWarning.objects.bulk_create(
                RecycleWarning(
                    tenant_id=tenant_id,
                    record_type=record_type,
                    record_id=row.pk,
                    recycle_on=d,
                    owner_id=row.owner_id,
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
