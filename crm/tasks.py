"""Celery entry points of the core and the helper every module's tasks use.

Tasks take ids (tenant id first), never model instances, and re-enter the tenant scope
themselves: a worker starts with no scope at all.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from functools import wraps

from celery import shared_task
from django.utils import timezone

from crm.models import Notification, Tenant
from crm.tenancy import tenant_scope

logger = logging.getLogger(__name__)

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


# ---------------------------------------------------------------- imports (crm.importing)
# acks_late + reject_on_worker_lost: a worker killed mid-import gives the message back to
# the broker; the stage resumes after its last committed batch (idempotent per row). The
# check counts its starts (ImportJob.attempts): a file that kills the worker while it is
# read fails the job after crm.importing.MAX_READ_ATTEMPTS starts, with a message, instead
# of being redelivered (or resumed by import_housekeeping_task) again and again.


@tenant_task(acks_late=True, reject_on_worker_lost=True)
def import_check_task(tenant_id: int, job_id: int) -> None:
    from crm.importing import import_check

    import_check(job_id)


@tenant_task(acks_late=True, reject_on_worker_lost=True)
def import_apply_task(tenant_id: int, job_id: int) -> None:
    from crm.importing import import_apply

    import_apply(job_id)


@shared_task
def import_housekeeping_task() -> dict:
    """Resume stalled imports and delete import files older than 7 days (every tenant)."""
    from django_scopes import scopes_disabled

    from crm.importing import import_purge_files, import_resume_stale

    with scopes_disabled():
        return {"resumed": import_resume_stale(), "purged": import_purge_files()}


# ---------------------------------------------------------------- exports (crm.exporting)


@tenant_task(acks_late=True, reject_on_worker_lost=True)
def export_run_task(tenant_id: int, job_id: int) -> None:
    """Build a large export as its creator and notify them. Idempotent: a finished job is
    left alone; a job whose worker was lost is built again from the start."""
    from crm.exporting import export_run

    export_run(job_id)


@tenant_task()
def export_purge_task(tenant_id: int) -> int:
    """Delete the tenant's export files and jobs older than EXPORT_RETENTION_DAYS."""
    from crm.exporting import export_purge

    return export_purge(tenant_id=tenant_id)


@shared_task
def export_purge_all_task() -> int:
    return for_each_tenant(export_purge_task)


# ---------------------------------------------------------------- reminders (crm.reminders)


@tenant_task()
def reminders_run_task(tenant_id: int) -> int:
    """Fire the tenant's due reminders (every minute). Never raises: a failure is logged and
    the reminders stay due for the next run (crm.reminders keeps them once)."""
    from crm import reminders

    try:
        return reminders.run(tenant_id)
    except Exception:
        logger.exception("reminders: run failed for tenant %s", tenant_id)
        return 0


@shared_task
def reminders_run_all_task() -> int:
    return for_each_tenant(reminders_run_task)


# ---------------------------------------------------------------- deliveries (crm.deliveries)


@tenant_task()
def deliveries_send_task(tenant_id: int) -> dict:
    """Send the tenant's pending group-bot pushes and e-mail digests that are due, outside the
    reminder job (enqueued after it commits; retries wait their backoff)."""
    from crm import deliveries

    return deliveries.send_pending(tenant_id)


@shared_task
def deliveries_send_all_task() -> int:
    """Every minute: the tenants with a pending delivery that is due (retries, pushes held
    through quiet hours, a sender that was never enqueued) get their sender."""
    from django_scopes import scopes_disabled

    from crm.models import Delivery

    with scopes_disabled():
        ids = set(
            Delivery.objects.filter(
                status=Delivery.Status.PENDING, next_attempt_at__lte=timezone.now()
            ).values_list("tenant_id", flat=True)
        )
    for tenant_id in ids:
        deliveries_send_task.delay(tenant_id)
    return len(ids)


@tenant_task()
def reminders_purge_task(tenant_id: int) -> dict:
    from crm import deliveries

    return deliveries.purge(tenant_id)


@shared_task
def reminders_purge_all_task() -> int:
    return for_each_tenant(reminders_purge_task)
