"""Celery beat jobs of leads (DESIGN §9): the periodic automatic assignment of leads left in
a lead pool."""

from __future__ import annotations

from celery import shared_task

from crm.tasks import for_each_tenant, tenant_task
from leads import assignment


@tenant_task()
def leads_auto_assign_task(tenant_id: int) -> int:
    """Hand the tenant's ownerless leads lying in a lead pool to the assignment rules with
    the periodic flag. Idempotent; returns how many were assigned."""
    return assignment.assign_pooled(tenant_id)


@shared_task
def leads_auto_assign_all_task() -> int:
    return for_each_tenant(leads_auto_assign_task)
