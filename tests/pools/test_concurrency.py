"""Claims and recycling under real concurrency: threads, each with its own database
connection, released together by a barrier.

On PostgreSQL the services' row locks do the work; on SQLite every write transaction starts
with BEGIN IMMEDIATE (crm.settings) and the test database is a file (tests/settings.py), so
the same test runs there too.
"""

from __future__ import annotations

import datetime
import threading
from collections import Counter

import pytest
from django.db import connection
from django.utils import timezone
from django_scopes import scopes_disabled

from crm.exceptions import ServiceError
from crm.tenancy import tenant_scope
from customers import pooling
from customers.models import Customer, OwnershipEvent
from pools import recycling, selectors
from tests.factories import make_user
from tests.pools.factories import (
    DAY,
    claimed_events,
    fresh_user,
    make_group,
    owned,
    pooled,
    return_reason,
)

THREADS = 20
CUSTOMERS = 32
BATCH = 2
DAILY_LIMIT = 2
HELD = 3  # what every other rep holds already
HOLDING_LIMIT = 4
NOW = timezone.make_aware(datetime.datetime(2026, 6, 15, 10, 0))


def _run_threads(targets, timeout=120):
    """Start one thread per callable, release them together, return their errors.

    Each thread opens its own connection before the barrier, so that they really hit the
    database at the same moment (not staggered by connection set-up)."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(targets))

    def wrap(target):
        def run():
            try:
                connection.ensure_connection()
                barrier.wait(timeout=30)
                target()
            except BaseException as exc:  # reported by the test
                errors.append(exc)
            finally:
                connection.close()

        return run

    threads = [threading.Thread(target=wrap(t)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    assert not any(t.is_alive() for t in threads)
    return errors


def _claim_storm(world):
    """20 reps claim overlapping batches of the same 32 pool customers at once, twice each.
    Half of them already hold 3 customers (the holding limit of 4 leaves room for 1); the
    daily limit of 2 binds for the others. Together they may take 30: some customers stay
    in the pool, and every batch that held one of them was refused by a limit."""
    group = make_group(
        world.tenant_a,
        "抢客公海",
        departments=[world.east],
        daily_claim_limit=DAILY_LIMIT,
        holding_limit=HOLDING_LIMIT,
    )
    reps = [
        make_user(world.tenant_a, f"storm{i:02d}", department=world.east) for i in range(THREADS)
    ]
    for rep in reps[::2]:
        for _ in range(HELD):
            owned(group, rep)
    customers = sorted(
        (pooled(group, f"抢手客户{i:02d}") for i in range(CUSTOMERS)), key=lambda c: c.pk
    )
    ids = [c.pk for c in customers]
    names = {c.pk: c.name for c in customers}

    outcomes: dict[int, list] = {rep.pk: [] for rep in reps}

    def claimer(index, rep):
        actor = fresh_user(rep)
        _ = actor.permission_codes  # loaded before the barrier

        def run():
            for start in (index, index + CUSTOMERS // 2):
                batch = [ids[(start + k) % CUSTOMERS] for k in range(BATCH)]
                with tenant_scope(actor.tenant_id):
                    try:
                        result = pooling.customer_claim(actor=actor, customers=batch)
                    except ServiceError as exc:
                        outcomes[rep.pk].append((batch, exc))
                    else:
                        outcomes[rep.pk].append((batch, result))

        return run

    errors = _run_threads([claimer(i, rep) for i, rep in enumerate(reps)])
    assert errors == []

    with scopes_disabled():
        final = {c.pk: c.owner_id for c in Customer.objects.filter(pk__in=ids)}
        claimed = list(
            OwnershipEvent.objects.filter(
                customer_id__in=ids, kind=OwnershipEvent.Kind.CLAIMED
            ).values_list("customer_id", "to_user_id")
        )
    per_customer = Counter(cid for cid, _uid in claimed)
    # Exactly one claimed event per owned customer, naming the owner; none for the rest.
    assert all(count == 1 for count in per_customer.values())
    assert dict(claimed) == {cid: o for cid, o in final.items() if o}
    assert per_customer.keys() == {cid for cid, o in final.items() if o}

    done_by: dict[int, int] = {}
    lost_total = 0
    codes = Counter()
    for rep in reps:
        for batch, outcome in outcomes[rep.pk]:
            if isinstance(outcome, ServiceError):
                codes[outcome.code] += 1
                continue
            for customer in outcome.done:
                assert customer.pk not in done_by, "two claimers got the same customer"
                done_by[customer.pk] = rep.pk
            lost = [c.pk for c in outcome.lost]
            lost_total += len(lost)
            # The losers are told how many customers someone else got, never their names
            # (a rep does not see a colleague's customers).
            assert all(final[pk] not in (None, rep.pk) for pk in lost)
            if lost:
                assert not outcome.lost_visible
                assert str(len(lost)) in outcome.lost_message
                assert not any(names[pk] in outcome.lost_message for pk in lost)
            # Every row of the batch is accounted for: got it, lost it, or had it already.
            accounted = {c.pk for c in outcome.done} | set(lost)
            assert all(pk in accounted or final[pk] == rep.pk for pk in batch)
    assert done_by == dict(claimed)
    # Only the limits refuse a whole batch, and both of them did.
    assert set(codes) <= {"daily_limit", "holding_limit"}
    assert sum(codes.values()) > 0
    assert len(done_by) <= THREADS // 2 * (DAILY_LIMIT + HOLDING_LIMIT - HELD) < CUSTOMERS
    assert lost_total > 0

    with scopes_disabled():
        for index, rep in enumerate(reps):
            got = sum(1 for uid in done_by.values() if uid == rep.pk)
            assert got <= DAILY_LIMIT
            held = Customer.objects.filter(owner_id=rep.pk).count()
            assert held <= HOLDING_LIMIT
            assert held == got + (HELD if index % 2 == 0 else 0)
    return codes


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_claim_storm_on_postgresql_gives_each_customer_exactly_one_owner(world):
    assert connection.vendor == "postgresql"
    _claim_storm(world)


@pytest.mark.django_db(transaction=True)
def test_claim_storm_on_sqlite_gives_each_customer_exactly_one_owner(world):
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite variant of the storm")
    _claim_storm(world)


def _due_group(world, count):
    group = make_group(world.tenant_a, "回收公海", open_to_all=True, recycle_no_followup_days=7)
    customers = [owned(group, world.rep_east, since=NOW - 10 * DAY) for _ in range(count)]
    with scopes_disabled():
        group = selectors.groups_with_rules().get(pk=group.pk)
    return group, customers


def _kinds(customers) -> Counter:
    with scopes_disabled():
        return Counter(
            OwnershipEvent.objects.filter(customer__in=customers).values_list("customer_id", "kind")
        )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_overlapping_recycle_runs_never_double_recycle(world, monkeypatch):
    monkeypatch.setattr(recycling, "BATCH", 4)
    group, customers = _due_group(world, 30)
    totals: list[int] = []

    def run():
        with tenant_scope(group.tenant_id):
            totals.append(recycling.recycle_group(group, now=NOW))

    assert _run_threads([run, run, run]) == []
    assert sum(totals) == 30
    kinds = _kinds(customers)
    assert set(kinds.values()) == {1}
    assert {kind for _cid, kind in kinds} == {OwnershipEvent.Kind.RECYCLED}
    assert len(kinds) == 30
    with scopes_disabled():
        assert not Customer.objects.filter(
            pk__in=[c.pk for c in customers], owner__isnull=False
        ).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_recycling_and_a_return_at_once_give_one_event_per_customer(world):
    group, customers = _due_group(world, 12)
    reason = return_reason(world.tenant_a)
    returned: list = []

    def recycle():
        with tenant_scope(group.tenant_id):
            recycling.recycle_group(group, now=NOW)

    def give_back():
        actor = fresh_user(world.rep_east)
        with tenant_scope(actor.tenant_id):
            try:
                pooling.customer_return(actor=actor, customers=customers, reason=reason)
            except ServiceError as exc:
                returned.append(exc.code)
            else:
                returned.append("ok")

    assert _run_threads([recycle, give_back]) == []
    assert returned in (["ok"], ["in_pool"])
    kinds = _kinds(customers)
    assert len(kinds) == 12 and set(kinds.values()) == {1}
    expected = OwnershipEvent.Kind.RETURNED if returned == ["ok"] else OwnershipEvent.Kind.RECYCLED
    assert {kind for _cid, kind in kinds} == {expected}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_recycling_and_claims_at_once_keep_every_customer_consistent(world):
    """A recycle run frees a rep's customers while other reps claim from the same pool."""
    group, due = _due_group(world, 10)
    waiting = [pooled(group) for _ in range(10)]
    claimers = [make_user(world.tenant_a, f"c{i}", department=world.east) for i in range(5)]

    def recycle():
        with tenant_scope(group.tenant_id):
            recycling.recycle_group(group, now=NOW)

    def claim(rep):
        def run():
            actor = fresh_user(rep)
            with tenant_scope(actor.tenant_id):
                pooling.customer_claim(actor=actor, customers=waiting + due)

        return run

    # A claimer that comes before the recycle run finds the owned ones taken (lost).
    assert _run_threads([recycle, *(claim(rep) for rep in claimers)]) == []
    kinds = _kinds(due + waiting)
    assert set(kinds.values()) == {1}  # never twice the same event for a customer
    for customer in due:
        assert kinds[(customer.pk, OwnershipEvent.Kind.RECYCLED)] == 1
    for customer in waiting:
        assert kinds[(customer.pk, OwnershipEvent.Kind.CLAIMED)] == 1
    with scopes_disabled():
        for customer in Customer.objects.filter(pk__in=[c.pk for c in due + waiting]):
            assert (customer.owner_id is None) == (customer.pooled_at is not None)


def _one_rep_many_tabs(world):
    """One rep claims from ten tabs at once: the limits count every tab's claims."""
    group = make_group(
        world.tenant_a, "多开公海", departments=[world.east], daily_claim_limit=3, holding_limit=5
    )
    owned(group, world.rep_east)
    customers = [pooled(group) for _ in range(10)]
    outcomes: list = []

    def tab(customer):
        actor = fresh_user(world.rep_east)
        _ = actor.permission_codes  # loaded before the barrier

        def run():
            with tenant_scope(actor.tenant_id):
                try:
                    outcomes.append(pooling.customer_claim(actor=actor, customers=[customer]))
                except ServiceError as exc:
                    outcomes.append(exc.code)

        return run

    assert _run_threads([tab(c) for c in customers]) == []
    refused = [o for o in outcomes if isinstance(o, str)]
    assert len(outcomes) - len(refused) == 3
    assert set(refused) == {"daily_limit"}
    assert len(claimed_events(c.pk for c in customers)) == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_rep_claiming_from_many_tabs_on_postgresql_keeps_the_daily_limit(world):
    _one_rep_many_tabs(world)


@pytest.mark.django_db(transaction=True)
def test_one_rep_claiming_from_many_tabs_on_sqlite_keeps_the_daily_limit(world):
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite variant")
    _one_rep_many_tabs(world)
