"""The reports' periodic jobs (reports/summary.py): today's figures every five minutes, a
nightly reconciliation of the last days."""

from __future__ import annotations

import datetime

from celery import shared_task
from django.utils import timezone

from crm.models import Tenant
from crm.tasks import for_each_tenant, tenant_task
from reports import stock, summary


@tenant_task()
def reports_refresh_task(tenant_id: int) -> int:
    """Store today's figures (and yesterday's during the first hour of a day, for what was
    written just before midnight and committed after the last refresh) and today's stock."""
    tenant = Tenant.objects.get(pk=tenant_id)
    local = timezone.now().astimezone(tenant.tzinfo)
    first = local.date()
    if local.hour == 0:
        first -= datetime.timedelta(days=1)
    # Today's stock so far: the day's last refresh leaves its end-of-day stock (R3).
    stock.snapshot(tenant_id, local.date())
    return summary.refresh(tenant_id, first, local.date())


@shared_task
def reports_refresh_all_task() -> int:
    return for_each_tenant(reports_refresh_task)


@tenant_task()
def reports_reconcile_task(tenant_id: int) -> int:
    """Recompute the last days from the base tables; drift is logged and fixed."""
    tenant = Tenant.objects.get(pk=tenant_id)
    today = tenant.today()
    return summary.reconcile(
        tenant_id, today - datetime.timedelta(days=summary.RECONCILE_DAYS), today
    )


@shared_task
def reports_reconcile_all_task() -> int:
    return for_each_tenant(reports_reconcile_task)
