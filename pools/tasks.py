"""Celery beat jobs of the pool: recycling and the warnings before it (DESIGN §9)."""

from __future__ import annotations

from celery import shared_task

from crm.tasks import for_each_tenant, tenant_task
from pools import recycling


@tenant_task()
def pool_recycle_task(tenant_id: int) -> int:
    """Recycle the tenant's due customers into their pools. Idempotent."""
    return recycling.recycle_tenant(tenant_id)


@tenant_task()
def pool_warn_task(tenant_id: int) -> int:
    """Warn owners K days before their customers or leads are recycled. Once per row and
    date."""
    return recycling.warn_tenant(tenant_id)


@shared_task
def pool_recycle_all_task() -> int:
    return for_each_tenant(pool_recycle_task)


@shared_task
def pool_warn_all_task() -> int:
    return for_each_tenant(pool_warn_task)
