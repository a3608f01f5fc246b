"""The pool's Celery jobs and their management command: recycling and warnings run inside
the tenant's scope, fan out to every tenant, are scheduled by beat, and a real worker runs
them."""

from __future__ import annotations

import datetime
import io
import time

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_scopes import get_scope, scopes_disabled

from crm.celery import app
from crm.models import Tenant
from customers.models import Customer, OwnershipEvent
from pools import recycling, tasks
from pools.models import RecycleWarning
from tests.customers.factories import events, fresh
from tests.pools.factories import DAY, make_group, owned

NOW = timezone.make_aware(datetime.datetime(2026, 6, 15, 10, 0))


@pytest.fixture
def group(world):
    return make_group(
        world.tenant_a, "回收公海", open_to_all=True, recycle_no_followup_days=7, warn_days=3
    )


@pytest.fixture
def b_group(world):
    return make_group(world.tenant_b, "乙公海", open_to_all=True, recycle_no_followup_days=7)


def test_recycle_task_recycles_the_tenants_overdue_customers_only(world, group, b_group):
    overdue = owned(group, world.rep_east, since=timezone.now() - 10 * DAY)
    young = owned(group, world.rep_east, since=timezone.now() - DAY)
    neighbour = owned(b_group, world.rep_b, since=timezone.now() - 10 * DAY)
    assert tasks.pool_recycle_task(world.tenant_a.pk) == 1
    assert fresh(overdue).pooled_at is not None
    assert [e.kind for e in events(overdue)] == [OwnershipEvent.Kind.RECYCLED]
    assert fresh(young).pooled_at is None
    assert fresh(neighbour).owner_id == world.rep_b.pk
    assert tasks.pool_recycle_task(world.tenant_a.pk) == 0  # idempotent


def test_tasks_run_inside_the_tenants_scope(world, monkeypatch):
    seen = []
    monkeypatch.setattr(
        recycling,
        "recycle_tenant",
        lambda tid: seen.append(("recycle", tid, get_scope()["tenant"])),
    )
    monkeypatch.setattr(
        recycling, "warn_tenant", lambda tid: seen.append(("warn", tid, get_scope()["tenant"]))
    )
    tasks.pool_recycle_task(world.tenant_b.pk)
    tasks.pool_warn_task(world.tenant_a.pk)
    assert seen == [
        ("recycle", world.tenant_b.pk, world.tenant_b.pk),
        ("warn", world.tenant_a.pk, world.tenant_a.pk),
    ]


def test_warn_task_warns_once(world, group):
    owned(group, world.rep_east, since=timezone.now() - 5 * DAY)
    assert tasks.pool_warn_task(world.tenant_a.pk) == 1
    assert tasks.pool_warn_task(world.tenant_a.pk) == 0
    with scopes_disabled():
        assert RecycleWarning.objects.filter(tenant=world.tenant_a).count() == 1


def test_tasks_skip_disabled_tenants(world, group):
    customer = owned(group, world.rep_east, since=timezone.now() - 10 * DAY)
    Tenant.objects.filter(pk=world.tenant_a.pk).update(is_active=False)
    assert tasks.pool_recycle_task(world.tenant_a.pk) is None
    assert tasks.pool_warn_task(world.tenant_a.pk) is None
    assert fresh(customer).pooled_at is None


@pytest.mark.parametrize(
    ("fan_out", "task"),
    [
        (tasks.pool_recycle_all_task, tasks.pool_recycle_task),
        (tasks.pool_warn_all_task, tasks.pool_warn_task),
    ],
)
def test_all_tasks_fan_out_to_every_active_tenant(world, monkeypatch, fan_out, task):
    sent = []
    monkeypatch.setattr(task, "delay", lambda tid: sent.append(tid))
    Tenant.objects.filter(pk=world.tenant_b.pk).update(is_active=False)
    assert fan_out() == 1
    assert sent == [world.tenant_a.pk]


def test_beat_schedules_recycling_and_warnings():
    app.loader.import_default_modules()
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["pool-recycle"]["task"] == "pools.tasks.pool_recycle_all_task"
    assert schedule["pool-warn"]["task"] == "pools.tasks.pool_warn_all_task"
    for key in ("pool-recycle", "pool-warn"):
        assert schedule[key]["task"] in app.tasks


# ---------------------------------------------------------------- management command


def _run(*args) -> str:
    out = io.StringIO()
    call_command("pool_run", *args, stdout=out)
    return out.getvalue()


def test_pool_run_recycle_for_one_tenant_at_a_given_time(world, group, b_group):
    customer = owned(group, world.rep_east, since=NOW - 10 * DAY)
    neighbour = owned(b_group, world.rep_b, since=NOW - 10 * DAY)
    # Before the customer is due: nothing.
    assert _run("recycle", "--tenant", "alpha", "--now", "2026-06-07T09:00+08:00") == (
        "alpha: 0 customers recycled into the pool\n"
    )
    assert _run("recycle", "--tenant", "alpha", "--now", "2026-06-15T10:00") == (
        "alpha: 1 customers recycled into the pool\n"
    )
    customer = fresh(customer)
    assert customer.pooled_at == NOW  # a naive --now is the tenant's local time
    assert fresh(neighbour).pooled_at is None


def test_pool_run_warn(world, group):
    owned(group, world.rep_east, since=NOW - 5 * DAY)
    assert _run("warn", "--tenant", "alpha", "--now", "2026-06-15T10:00+08:00") == (
        "alpha: 1 recycling warnings sent\n"
    )
    assert _run("warn", "--tenant", "alpha", "--now", "2026-06-15T10:00+08:00") == (
        "alpha: 0 recycling warnings sent\n"
    )


def test_pool_run_without_now_uses_the_current_time(world, group):
    owned(group, world.rep_east, since=timezone.now() - 10 * DAY)
    assert _run("recycle", "--tenant", "alpha").startswith("alpha: 1 ")


def test_pool_run_refuses_an_unknown_tenant_or_time(world):
    with pytest.raises(CommandError, match="nobody"):
        _run("recycle", "--tenant", "nobody")
    with pytest.raises(CommandError, match="ISO 8601"):
        _run("warn", "--tenant", "alpha", "--now", "next tuesday")
    with pytest.raises(CommandError):
        _run("purge", "--tenant", "alpha")


# ---------------------------------------------------------------- a real worker


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_recycles_an_overdue_customer(world, group):
    """pool_recycle_task.delay goes through the configured broker (filesystem by default,
    Redis with REDIS_URL) to a real worker, which recycles the customer."""
    from celery.contrib.testing.worker import start_worker

    overdue = owned(group, world.rep_east, since=timezone.now() - 10 * DAY)

    def recycled() -> bool:
        with scopes_disabled():
            return Customer.objects.filter(pk=overdue.pk, pooled_at__isnull=False).exists()

    app.conf.task_always_eager = False
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            tasks.pool_recycle_task.delay(world.tenant_a.pk)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not recycled():
                time.sleep(0.2)
    finally:
        app.conf.task_always_eager = True
    assert recycled()
    customer = fresh(overdue)
    assert customer.owner_id is None and customer.previous_owner_id == world.rep_east.pk
    assert [e.kind for e in events(overdue)] == [OwnershipEvent.Kind.RECYCLED]
