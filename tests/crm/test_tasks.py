"""Celery tasks re-enter the tenant scope from a tenant id; a real worker runs them."""

from __future__ import annotations

import datetime
import time

import pytest
from django.utils import timezone
from django_scopes import ScopeError, get_scope, scopes_disabled

from crm import services
from crm.celery import app
from crm.models import Notification, Tenant
from crm.tasks import for_each_tenant, notification_purge_task, tenant_task


@tenant_task()
def probe_task(tenant_id):
    """Reports the scope it ran in and what a scoped query returned."""
    return {
        "scope": get_scope().get("tenant"),
        "tenants": sorted(set(Notification.objects.values_list("tenant_id", flat=True))),
    }


def _old_read_notifications(world):
    long_ago = timezone.now() - datetime.timedelta(days=120)
    with scopes_disabled():
        for tenant, user in ((world.tenant_a, world.rep_east), (world.tenant_b, world.rep_b)):
            for n in services.notification_send(
                tenant_id=tenant.pk, recipients=[user], title="old"
            ):
                Notification.objects.filter(pk=n.pk).update(read_at=long_ago, created_at=long_ago)
            services.notification_send(tenant_id=tenant.pk, recipients=[user], title="fresh")


def test_tenant_task_runs_inside_the_tenants_scope(world):
    _old_read_notifications(world)
    result = probe_task(world.tenant_a.pk)
    assert result == {"scope": world.tenant_a.pk, "tenants": [world.tenant_a.pk]}
    # Outside the task there is no scope: the body really entered one itself.
    with pytest.raises(ScopeError):
        Notification.objects.count()


def test_tenant_task_skips_disabled_tenants(world):
    Tenant.objects.filter(pk=world.tenant_b.pk).update(is_active=False)
    assert probe_task(world.tenant_b.pk) is None


def test_purge_deletes_only_old_read_notifications_of_that_tenant(world):
    _old_read_notifications(world)
    assert notification_purge_task(world.tenant_a.pk) == 1
    assert notification_purge_task(world.tenant_a.pk) == 0  # idempotent
    with scopes_disabled():
        left = sorted(Notification.objects.values_list("tenant_id", "title"))
    assert left == sorted(
        [(world.tenant_a.pk, "fresh"), (world.tenant_b.pk, "old"), (world.tenant_b.pk, "fresh")]
    )


def test_fan_out_reaches_every_active_tenant(world, monkeypatch):
    sent = []
    monkeypatch.setattr(notification_purge_task, "delay", lambda tid: sent.append(tid))
    Tenant.objects.filter(pk=world.tenant_b.pk).update(is_active=False)
    assert for_each_tenant(notification_purge_task) == 1
    assert sent == [world.tenant_a.pk]


def test_beat_schedule_names_registered_tasks():
    from django.conf import settings

    app.loader.import_default_modules()
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in app.tasks


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_consumes_the_queue_and_runs_the_task(world):
    """A real worker on the configured broker (filesystem by default, Redis with REDIS_URL)."""
    from celery.contrib.testing.worker import start_worker

    _old_read_notifications(world)
    app.conf.task_always_eager = False
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            notification_purge_task.delay(world.tenant_a.pk)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with scopes_disabled():
                    if not Notification.objects.filter(tenant=world.tenant_a, title="old").exists():
                        break
                time.sleep(0.2)
    finally:
        app.conf.task_always_eager = True
    with scopes_disabled():
        assert not Notification.objects.filter(tenant=world.tenant_a, title="old").exists()
        assert Notification.objects.filter(tenant=world.tenant_b, title="old").exists()
