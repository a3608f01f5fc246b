"""Celery entry points of the core and the helper every module's tasks use.

Tasks take ids (tenant id first), never model instances, and re-enter the tenant scope
themselves: a worker starts with no scope at all.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from functools import wraps

from celery import shared_task
from django.utils import timezone

from crm.models import Notification, Tenant
from crm.tenancy import tenant_scope

READ_NOTIFICATION_RETENTION_DAYS = 90


def tenant_task(*task_args, **task_kwargs) -> Callable:
    """``@tenant_task()`` makes ``func(tenant_id, ...)`` a Celery task whose body runs inside
    the tenant's scope. A disabled or missing tenant is skipped (returns None)."""

    def decorator(func: Callable) -> Callable:
        @wraps(func)
        def run(tenant_id: int, *args, **kwargs):
            # Tenant is a global model: no scope is needed to look it up.
            if not Tenant.objects.filter(pk=tenant_id, is_active=True).exists():
                return None
            with tenant_scope(tenant_id):
                return func(tenant_id, *args, **kwargs)

        return shared_task(*task_args, **task_kwargs)(run)

    return decorator


def for_each_tenant(task) -> int:
    """Fan a tenant task out to every active tenant (periodic jobs); returns the count."""
    ids = list(Tenant.objects.filter(is_active=True).values_list("pk", flat=True))
    for tenant_id in ids:
        task.delay(tenant_id)
    return len(ids)


@tenant_task()
def notification_purge_task(tenant_id: int, days: int = READ_NOTIFICATION_RETENTION_DAYS) -> int:
    """Delete the tenant's notifications read more than ``days`` ago. Idempotent."""
    cutoff = timezone.now() - datetime.timedelta(days=days)
    deleted, _ = Notification.objects.filter(tenant_id=tenant_id, read_at__lt=cutoff).delete()
    return deleted


@shared_task
def notification_purge_all_task() -> int:
    return for_each_tenant(notification_purge_task)
