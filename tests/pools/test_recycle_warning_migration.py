"""The migrations that make a recycle warning name its row generically (pools 0004 to 0006)
keep every warning: a customer's and a lead's, backwards to their foreign keys and forwards
again."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django_scopes import scopes_disabled

from pools.models import RecycleWarning
from tests.customers.factories import make_customer
from tests.leads.factories import make_lead

BEFORE = [("pools", "0003_recycle_warning_leads")]


def _migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def _latest() -> list[tuple[str, str]]:
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.mark.django_db(transaction=True)
def test_recycle_warning_migrations_keep_every_warning(world):
    customer = make_customer(world.tenant_a, world.rep_east, "预警客户")
    lead = make_lead(world.tenant_a, world.rep_east, "预警线索")
    day = datetime.date(2026, 12, 9)
    base = {"tenant": world.tenant_a, "owner": world.rep_east, "recycle_on": day}
    with scopes_disabled():
        RecycleWarning.objects.create(record=customer, **base)
        RecycleWarning.objects.create(record=lead, **base)
        before = set(
            RecycleWarning.objects.values_list("record_type__model", "record_id", "recycle_on")
        )
    assert before == {("customer", customer.pk, day), ("lead", lead.pk, day)}
    try:
        _migrate(BEFORE)
        old = MigrationExecutor(connection).loader.project_state(BEFORE).apps
        rows = set(
            old.get_model("pools", "RecycleWarning")._base_manager.values_list(
                "customer_id", "lead_id", "recycle_on"
            )
        )
        assert rows == {(customer.pk, None, day), (None, lead.pk, day)}
    finally:
        _migrate(_latest())
    with scopes_disabled():
        after = set(
            RecycleWarning.objects.values_list("record_type__model", "record_id", "recycle_on")
        )
    assert after == before
