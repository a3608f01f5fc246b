"""The import's Celery side: a real worker checks and applies a job; the beat entry exists."""

from __future__ import annotations

import time

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django_scopes import scopes_disabled

from crm import importing
from crm.celery import app
from crm.models import ImportJob
from crm.tenancy import tenant_scope
from customers.models import Customer
from pools.services import default_group_for
from tests.crm import spreadsheet_files as files


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _wait_for(job_id: int, status: str, seconds: float = 30) -> ImportJob:
    deadline = time.monotonic() + seconds
    while True:
        with scopes_disabled():
            job = ImportJob.objects.get(pk=job_id)
        if job.status == status or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def test_housekeeping_runs_every_few_minutes():
    entry = django_settings.CELERY_BEAT_SCHEDULE["import-housekeeping"]
    assert entry["task"] == "crm.tasks.import_housekeeping_task"


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_checks_and_applies_an_import(world, settings, monkeypatch):
    """Both stages go through the configured broker (filesystem by default, Redis with
    REDIS_URL) to a real worker; the request only saves the file and takes the slot. Small
    batches: on PostgreSQL the worker writes them on two connections at once."""
    from celery.contrib.testing.worker import start_worker

    from customers.importing import CustomerImporter

    monkeypatch.setattr(CustomerImporter, "batch_size", 10)
    settings.IMPORT_SYNC_BYTES = 0
    settings.IMPORT_SYNC_ROWS = 0
    rows = [[f"客户{i}", f"1390000{i:04d}"] for i in range(40)] + [["", "13800138000"]]
    upload = SimpleUploadedFile("名单.xlsx", files.xlsx_bytes(["客户名称", "联系电话"], rows))
    with scopes_disabled():
        group = default_group_for(world.tenant_a.pk, "customer")
    app.conf.task_always_eager = False
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            with tenant_scope(world.tenant_a.pk):
                job = importing.import_start(
                    actor=world.admin_a,
                    kind="customers",
                    upload=upload,
                    options={"target": "pool", "pool_group": group.pk},
                )
            assert job.status == ImportJob.Status.VALIDATING
            job = _wait_for(job.pk, ImportJob.Status.PREVIEWED)
            assert (job.summary["create"], job.summary["reject"]) == (40, 1)
            with tenant_scope(world.tenant_a.pk):
                importing.import_confirm(actor=world.admin_a, job=job)
            job = _wait_for(job.pk, ImportJob.Status.DONE)
    finally:
        app.conf.task_always_eager = True
    assert job.status == ImportJob.Status.DONE
    assert (job.summary["created"], job.summary["failed"]) == (40, 1)
    assert job.summary["batches"]["done"] == [0, 1, 2, 3] and job.progress_done == 40
    with scopes_disabled():
        assert Customer.objects.filter(import_job=job, pooled_at__isnull=False).count() == 40
