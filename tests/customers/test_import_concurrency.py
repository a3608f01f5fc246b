"""Imports under real concurrency (threads with their own connections): one import per
tenant, and two workers applying the same job (a redelivered task) never write a row twice.
Runs on PostgreSQL and on SQLite (file database, BEGIN IMMEDIATE)."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_scopes import scopes_disabled

from crm import importing
from crm.models import ImportJob, Role
from crm.tenancy import tenant_scope
from customers.importing import CustomerImporter
from customers.models import Contact, Customer, OwnershipEvent
from pools.services import default_group_for
from tests.crm import spreadsheet_files as files
from tests.factories import make_user
from tests.pools.test_concurrency import _run_threads

THREADS = 8


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _upload(n: int, offset: int = 0) -> SimpleUploadedFile:
    rows = [[f"客户{offset + i}", f"1380000{offset + i:04d}"] for i in range(n)]
    return SimpleUploadedFile("名单.xlsx", files.xlsx_bytes(["客户名称", "联系电话"], rows))


@pytest.mark.django_db(transaction=True)
def test_only_one_of_many_simultaneous_imports_runs(world, settings, monkeypatch):
    # Checked by "a worker" that never comes: the started job keeps holding the slot.
    from crm import tasks

    settings.IMPORT_SYNC_BYTES = 0
    monkeypatch.setattr(tasks.import_check_task, "delay", lambda *args: None)
    admins = [
        make_user(world.tenant_a, f"importer{i}", role=Role.Builtin.ADMIN) for i in range(THREADS)
    ]
    with scopes_disabled():
        group = default_group_for(world.tenant_a.pk, "customer").pk
    started, busy = [], []

    def attempt(user):
        def run():
            with tenant_scope(user.tenant_id):
                try:
                    started.append(
                        importing.import_start(
                            actor=user,
                            kind="customers",
                            upload=_upload(3, user.pk * 10),
                            options={"target": "pool", "pool_group": group},
                        )
                    )
                except importing.ImportBusyError as exc:
                    busy.append(str(exc.message))

        return run

    errors = _run_threads([attempt(u) for u in admins])
    assert errors == []
    assert len(started) == 1 and len(busy) == THREADS - 1
    assert all("is importing" in message or "正在导入" in message for message in busy)
    with scopes_disabled():
        assert ImportJob.objects.filter(status="validating").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_applying_one_job_write_each_row_once(world, monkeypatch):
    monkeypatch.setattr(CustomerImporter, "batch_size", 5)
    with tenant_scope(world.tenant_a.pk):
        job = importing.import_start(
            actor=world.admin_a,
            kind="customers",
            upload=_upload(60),
            options={"target": "users", "users": [world.rep_east.pk, world.rep_west.pk]},
        )
        assert job.status == "previewed"
        # Taken by hand: both "workers" below get the same APPLYING job.
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.APPLYING, progress_done=0, progress_total=60
        )

    def worker():
        with tenant_scope(world.tenant_a.pk):
            importing.import_apply(job.pk)

    assert _run_threads([worker, worker, worker]) == []
    with scopes_disabled():
        job.refresh_from_db()
        assert job.status == ImportJob.Status.DONE
        assert job.summary["created"] == 60
        assert Customer.objects.filter(import_job=job).count() == 60
        assert Customer.objects.values("name").distinct().count() == 60
        assert Contact.objects.count() == 60
        assert OwnershipEvent.objects.filter(kind="imported").count() == 60


@pytest.mark.django_db(transaction=True)
def test_batches_commit_without_waiting_for_the_wal_in_their_own_transactions(
    world, settings, monkeypatch
):
    """On PostgreSQL each batch of an import running in transactions of its own commits
    with synchronous_commit off; the setting ends with the batch (SET LOCAL), and the
    finishing commit is an ordinary one."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    settings.IMPORT_SYNC_BYTES = settings.IMPORT_SYNC_ROWS = 10**9
    monkeypatch.setattr(CustomerImporter, "batch_size", 2)
    seen = []
    real_apply = CustomerImporter.apply

    def spy(self, job, batch):
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            seen.append(cursor.fetchone()[0])
        return real_apply(self, job, batch)

    monkeypatch.setattr(CustomerImporter, "apply", spy)
    with scopes_disabled():
        group = default_group_for(world.tenant_a.pk, "customer").pk
    with tenant_scope(world.tenant_a.pk):
        job = importing.import_start(
            actor=world.admin_a,
            kind="customers",
            upload=_upload(5),
            options={"target": "pool", "pool_group": group},
        )
        job = importing.import_confirm(actor=world.admin_a, job=job)
    assert job.status == ImportJob.Status.DONE and job.summary["created"] == 5
    assert seen == ["off", "off", "off"]
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
