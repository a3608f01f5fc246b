"""Owner-column imports under real concurrency (issue 17): the batches written at once on
two PostgreSQL connections give each owner their rows and ONE notification (each batch locks
the job's row before telling owners, so two batches never tell one owner twice); the options
the import adds are created once before the batches; the undo removes everything. Two
workers applying the same job at once write each row once. Threads with their own
connections (transactional tests)."""

from __future__ import annotations

import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django_scopes import scopes_disabled

from crm import importing
from crm.models import ImportJob, Notification, Option
from crm.tenancy import tenant_scope
from customers.importing import CustomerImporter
from customers.models import Contact, Customer
from tests.crm import spreadsheet_files as files

pytestmark = pytest.mark.django_db(transaction=True)

OWNERS = ("rep_east", "rep_west", "rep_east2")


@pytest.fixture(autouse=True)
def _settings(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.IMPORT_SYNC_BYTES = settings.IMPORT_SYNC_ROWS = 10**9
    settings.IMPORT_APPLY_CONNECTIONS = 2


def postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("batches are written at once on PostgreSQL only")


def _checked(world, n: int) -> ImportJob:
    rows = [
        [f"客户{i:03d}", f"1380000{i:04d}", f"0571-8{i:07d}", OWNERS[i % 3], f"来源{i % 2}"]
        for i in range(n)
    ]
    data = files.xlsx_bytes(["客户名称", "手机", "电话", "负责人", "客户来源"], rows)
    with tenant_scope(world.tenant_a.pk):
        job = importing.import_start(
            actor=world.admin_a,
            kind="customers",
            upload=SimpleUploadedFile("负责人名单.xlsx", data),
            options={"target": "owner", "add_options": True},
        )
    assert job.status == ImportJob.Status.PREVIEWED, job.message
    assert job.summary["create"] == n
    with scopes_disabled():
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.APPLYING, progress_done=0, progress_total=n
        )
        job.refresh_from_db()
    return job


def _spy_connections(monkeypatch) -> set:
    pids: set = set()
    real_apply = CustomerImporter.apply

    def spy(self, job, batch):
        result = real_apply(self, job, batch)
        raw = connection.connection
        pids.add(raw.info.backend_pid if hasattr(raw, "info") else id(raw))
        return result

    monkeypatch.setattr(CustomerImporter, "apply", spy)
    return pids


def test_parallel_batches_of_an_owner_import_tell_each_owner_once(world, monkeypatch):
    postgresql_only()
    monkeypatch.setattr(CustomerImporter, "batch_size", 6)
    pids = _spy_connections(monkeypatch)
    job = _checked(world, 60)

    with tenant_scope(job.tenant_id):
        importing.import_apply(job.pk)

    with scopes_disabled():
        job.refresh_from_db()
        assert job.status == ImportJob.Status.DONE, job.message
        assert len(pids) == 2  # written on two connections at once
        assert job.summary["created"] == 60
        made = list(Customer.objects.filter(import_job=job))
        by_owner = {name: sum(1 for c in made if c.owner.username == name) for name in OWNERS}
        assert by_owner == dict.fromkeys(OWNERS, 20)
        assert Contact.objects.filter(customer__in=made).count() == 60
        told = list(
            Notification.objects.filter(
                link=f"/customers/?view=all&import_job={job.pk}"
            ).values_list("recipient__username", flat=True)
        )
        assert sorted(told) == sorted(OWNERS)
        created = job.summary["created_options"]
        assert sorted(Option.objects.filter(pk__in=created).values_list("label", flat=True)) == [
            "来源0",
            "来源1",
        ]
        assert {c.source_id for c in made} == set(created)

    with tenant_scope(job.tenant_id):
        report = importing.import_undo(actor=world.admin_a, job=job)
    assert report["removed"] == 60 and report["options_removed"] == 2
    with scopes_disabled():
        assert not Customer.objects.filter(import_job=job).exists()
        assert not Option.objects.filter(pk__in=created).exists()


def test_two_workers_applying_one_owner_import_write_each_row_once(world, monkeypatch):
    postgresql_only()
    monkeypatch.setattr(CustomerImporter, "batch_size", 5)
    job = _checked(world, 40)
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def worker():
        try:
            barrier.wait(timeout=10)
            with tenant_scope(job.tenant_id):
                importing.import_apply(job.pk)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with scopes_disabled():
        job.refresh_from_db()
        assert job.status == ImportJob.Status.DONE, job.message
        assert Customer.objects.filter(import_job=job).count() == 40
        assert job.summary["created"] == 40
        assert Option.objects.filter(tenant=world.tenant_a, label="来源0").count() == 1
        told = Notification.objects.filter(link=f"/customers/?view=all&import_job={job.pk}")
        assert sorted(told.values_list("recipient__username", flat=True)) == sorted(OWNERS)


def test_a_hand_mapped_import_is_written_at_once_and_undone(world, monkeypatch):
    """A file whose columns the admin mapped by hand (unknown headers: 单位全称, 移动电话号,
    业务归属) is applied on two connections at once, each row once, and undone whole."""
    postgresql_only()
    monkeypatch.setattr(CustomerImporter, "batch_size", 7)
    pids = _spy_connections(monkeypatch)
    rows = [[f"手工对应{i:03d}", f"1390000{i:04d}", OWNERS[i % 3]] for i in range(42)]
    data = files.xlsx_bytes(["单位全称", "移动电话号", "业务归属"], rows)
    with tenant_scope(world.tenant_a.pk):
        job = importing.import_start(
            actor=world.admin_a,
            kind="customers",
            upload=SimpleUploadedFile("手工对应.xlsx", data),
            options={"target": "owner"},
        )
        assert job.summary.get("mapping_errors"), "unknown headers: the mapping step asks"
        job = importing.import_remap(
            actor=world.admin_a,
            job=job,
            mapping={"0": "name", "1": "contact_mobile", "2": "owner"},
            add_options=False,
        )
    assert job.status == ImportJob.Status.PREVIEWED and job.summary["create"] == 42
    with scopes_disabled():
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.APPLYING, progress_done=0, progress_total=42
        )
    with tenant_scope(job.tenant_id):
        importing.import_apply(job.pk)
    with scopes_disabled():
        job.refresh_from_db()
        assert job.status == ImportJob.Status.DONE, job.message
        assert len(pids) == 2 and job.summary["created"] == 42
        made = list(Customer.objects.filter(import_job=job).select_related("owner"))
        assert len(made) == len({c.name for c in made}) == 42
        assert {c.owner.username for c in made} == set(OWNERS)
        assert Contact.objects.filter(customer__in=made, mobile__startswith="1390000").count() == 42
    with tenant_scope(job.tenant_id):
        report = importing.import_undo(actor=world.admin_a, job=job)
    assert report["removed"] == 42
    with scopes_disabled():
        assert not Customer.objects.filter(import_job=job).exists()
