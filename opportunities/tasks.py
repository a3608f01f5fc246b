"""The opportunities' periodic jobs: the nightly purge of catalogue import files nobody
confirmed (opportunities.importing keeps an uploaded file until its preview is confirmed)."""

from __future__ import annotations

from celery import shared_task

from crm.tasks import for_each_tenant, tenant_task


@tenant_task()
def product_import_purge_task(tenant_id: int) -> int:
    from opportunities.importing import pending_purge

    return pending_purge(tenant_id=tenant_id)


@shared_task
def product_import_purge_all_task() -> int:
    return for_each_tenant(product_import_purge_task)
