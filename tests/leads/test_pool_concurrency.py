"""Lead claims under real concurrency, with the structure of tests/pools/test_concurrency.py
(threads with their own connections released together by a barrier): the lead pool runs the
pool's claim code, so each lead gets exactly one owner and the limits hold."""

from __future__ import annotations

from collections import Counter

import pytest
from django.db import connection
from django_scopes import scopes_disabled

from crm.exceptions import ServiceError
from crm.tenancy import tenant_scope
from leads import pooling
from leads.models import Lead, LeadEvent
from pools.models import PoolGroup
from tests.factories import make_user
from tests.leads.factories import make_lead, make_pooled_lead
from tests.pools.factories import fresh_user, make_group
from tests.pools.test_concurrency import _run_threads

THREADS = 20
LEADS = 32
BATCH = 2
DAILY_LIMIT = 2
HELD = 3  # open leads every other rep holds already
HOLDING_LIMIT = 4


def _lead_claim_storm(world):
    """20 reps claim overlapping batches of the same 32 pooled leads at once, twice each.
    Half of them already hold 3 open leads (the holding limit of 4 leaves room for 1; their
    closed leads do not count); the daily limit of 2 binds for the others."""
    group = make_group(
        world.tenant_a,
        "抢线索池",
        kind=PoolGroup.Kind.LEAD,
        departments=[world.east],
        daily_claim_limit=DAILY_LIMIT,
        holding_limit=HOLDING_LIMIT,
    )
    reps = [
        make_user(world.tenant_a, f"lstorm{i:02d}", department=world.east) for i in range(THREADS)
    ]
    for rep in reps[::2]:
        for _ in range(HELD):
            make_lead(world.tenant_a, rep, pool_group=group)
        make_lead(world.tenant_a, rep, pool_group=group, status=Lead.Status.CLOSED)
    leads = sorted(
        (make_pooled_lead(group, f"抢手线索{i:02d}") for i in range(LEADS)), key=lambda x: x.pk
    )
    ids = [x.pk for x in leads]
    names = {x.pk: str(x) for x in leads}
    outcomes: dict[int, list] = {rep.pk: [] for rep in reps}

    def claimer(index, rep):
        actor = fresh_user(rep)
        _ = actor.permission_codes  # loaded before the barrier

        def run():
            for start in (index, index + LEADS // 2):
                batch = [ids[(start + k) % LEADS] for k in range(BATCH)]
                with tenant_scope(actor.tenant_id):
                    try:
                        result = pooling.lead_claim(actor=actor, leads=batch)
                    except ServiceError as exc:
                        outcomes[rep.pk].append((batch, exc))
                    else:
                        outcomes[rep.pk].append((batch, result))

        return run

    assert _run_threads([claimer(i, rep) for i, rep in enumerate(reps)]) == []

    with scopes_disabled():
        final = {x.pk: x.owner_id for x in Lead.objects.filter(pk__in=ids)}
        pooled_state = {x.pk: x.pooled_at is not None for x in Lead.objects.filter(pk__in=ids)}
        claimed = list(
            LeadEvent.objects.filter(lead_id__in=ids, kind=LeadEvent.Kind.CLAIMED).values_list(
                "lead_id", "to_user_id"
            )
        )
    per_lead = Counter(lid for lid, _uid in claimed)
    assert all(count == 1 for count in per_lead.values())
    assert dict(claimed) == {lid: o for lid, o in final.items() if o}
    assert all(pooled_state[lid] == (owner is None) for lid, owner in final.items())

    done_by: dict[int, int] = {}
    codes: Counter = Counter()
    lost_total = 0
    for rep in reps:
        for batch, outcome in outcomes[rep.pk]:
            if isinstance(outcome, ServiceError):
                codes[outcome.code] += 1
                continue
            for lead in outcome.done:
                assert lead.pk not in done_by, "two claimers got the same lead"
                done_by[lead.pk] = rep.pk
            lost = [x.pk for x in outcome.lost]
            lost_total += len(lost)
            assert all(final[pk] not in (None, rep.pk) for pk in lost)
            # Counted, never named: a rep does not see a colleague's leads.
            if lost:
                assert not outcome.lost_visible
                assert not any(names[pk] in outcome.lost_message for pk in lost)
            accounted = {x.pk for x in outcome.done} | set(lost)
            assert all(pk in accounted or final[pk] == rep.pk for pk in batch)
    assert done_by == dict(claimed)
    assert set(codes) <= {"daily_limit", "holding_limit"}
    assert sum(codes.values()) > 0
    assert len(done_by) <= THREADS // 2 * (DAILY_LIMIT + HOLDING_LIMIT - HELD) < LEADS
    assert lost_total > 0

    with scopes_disabled():
        for index, rep in enumerate(reps):
            got = sum(1 for uid in done_by.values() if uid == rep.pk)
            assert got <= DAILY_LIMIT
            held = Lead.objects.open().filter(owner_id=rep.pk).count()
            assert held <= HOLDING_LIMIT
            assert held == got + (HELD if index % 2 == 0 else 0)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_lead_claim_storm_on_postgresql_gives_each_lead_exactly_one_owner(world):
    assert connection.vendor == "postgresql"
    _lead_claim_storm(world)


@pytest.mark.django_db(transaction=True)
def test_lead_claim_storm_on_sqlite_gives_each_lead_exactly_one_owner(world):
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite variant of the storm")
    _lead_claim_storm(world)
