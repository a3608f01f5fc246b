"""Automatic assignment under real concurrency: threads, each with its own connection,
released together, each assigning its own new lead under the same rule. The rule lock keeps
the daily bound exact and the round robin balanced."""

from __future__ import annotations

from collections import Counter

import pytest
from django.db import connection
from django_scopes import scopes_disabled

from crm.tenancy import tenant_scope
from leads import assignment
from leads.models import AssignmentRule, Lead, LeadEvent
from tests.factories import make_user
from tests.leads.factories import make_lead, make_rule
from tests.pools.test_concurrency import _run_threads

THREADS = 10
USERS = 4
DAILY_LIMIT = 3


def _storm(world, leads_per_thread: int = 1):
    users = [make_user(world.tenant_a, f"turn{i}", department=world.east) for i in range(USERS)]
    rule = make_rule(world.tenant_a, users, "并发轮流", daily_limit=DAILY_LIMIT)
    batches = [
        [make_lead(world.tenant_a, None) for _ in range(leads_per_thread)] for _ in range(THREADS)
    ]
    results: list[dict] = []

    def worker(batch):
        def run():
            with tenant_scope(world.tenant_a.pk):
                results.append(assignment.auto_assign(leads=batch, trigger="create"))

        return run

    assert _run_threads([worker(batch) for batch in batches]) == []
    ids = [lead.pk for batch in batches for lead in batch]
    with scopes_disabled():
        owners = Counter(
            Lead.objects.filter(pk__in=ids, owner__isnull=False).values_list("owner_id", flat=True)
        )
        events = list(
            LeadEvent.objects.filter(lead_id__in=ids).values_list(
                "lead_id", "to_user_id", "rule_id"
            )
        )
        cursor = AssignmentRule.objects.get(pk=rule.pk).cursor
    total = THREADS * leads_per_thread
    assigned = min(total, USERS * DAILY_LIMIT)
    # Exactly one event per assigned lead, naming its owner and the rule.
    assert len(events) == sum(owners.values()) == assigned
    assert {lead_id for lead_id, _u, _r in events} == set().union(*(r.keys() for r in results))
    assert {rule_id for _l, _u, rule_id in events} == {rule.pk}
    counts = [owners.get(u.pk, 0) for u in users]
    assert max(counts) <= DAILY_LIMIT
    assert max(counts) - min(counts) <= 1
    assert 0 <= cursor <= USERS
    return counts


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_ten_threads_on_postgresql_keep_the_bound_and_the_turns(world):
    assert connection.vendor == "postgresql"
    assert _storm(world) == [3, 3, 2, 2]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_more_leads_than_the_bound_on_postgresql_stop_at_the_bound(world):
    assert _storm(world, leads_per_thread=2) == [DAILY_LIMIT] * USERS


@pytest.mark.django_db(transaction=True)
def test_ten_threads_on_sqlite_keep_the_bound_and_the_turns(world):
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite variant")
    assert _storm(world) == [3, 3, 2, 2]
