"""Writing an import's batches (crm.importing.import_apply): on PostgreSQL several batches at
once, each on a connection of its own; everywhere, each batch recorded as done in the job with
its counts, so that a rerun writes exactly the batches not done, in any order they were left.

Runs with real threads and connections (transactional tests); the parallel path on
PostgreSQL only, the bookkeeping on both databases."""

from __future__ import annotations

import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django_scopes import scopes_disabled

from crm import importing
from crm.models import ImportJob
from crm.tenancy import tenant_scope
from customers.importing import CustomerImporter
from customers.models import Contact, Customer, CustomerTag, OwnershipEvent, Tag
from pools.services import default_group_for
from tests.crm import spreadsheet_files as files
from tests.customers.factories import make_contact, make_customer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _settings(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    # Every stage in the calling thread (no worker): the test drives import_apply itself.
    settings.IMPORT_SYNC_BYTES = settings.IMPORT_SYNC_ROWS = 10**9
    settings.IMPORT_APPLY_CONNECTIONS = 2


def postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("batches are written at once on PostgreSQL only")


class WorkerKilled(BaseException):
    """What a killed worker looks like to the code: the stage stops mid-way."""


def _rows(n: int, offset: int = 0, tags: str = "") -> list[list]:
    return [[f"客户{offset + i:03d}", f"1380000{offset + i:04d}", tags] for i in range(n)]


def _checked(world, rows, **options) -> ImportJob:
    """A previewed import of ``rows`` (客户名称, 联系电话, 标签) by tenant A's admin."""
    options.setdefault("target", "pool")
    with tenant_scope(world.tenant_a.pk):
        if options["target"] == "pool":
            options.setdefault("pool_group", default_group_for(world.tenant_a.pk, "customer").pk)
        data = files.xlsx_bytes(["客户名称", "联系电话", "标签"], rows)
        job = importing.import_start(
            actor=world.admin_a,
            kind="customers",
            upload=SimpleUploadedFile("名单.xlsx", data),
            options=options,
        )
    assert job.status == ImportJob.Status.PREVIEWED, job.message
    return job


def _applying(job: ImportJob) -> ImportJob:
    """Move a previewed job to APPLYING as import_confirm does, without applying it."""
    with scopes_disabled():
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.APPLYING,
            progress_done=0,
            progress_total=job.summary["create"] + job.summary["update"],
        )
        job.refresh_from_db()
    return job


def _apply(job: ImportJob) -> ImportJob:
    with tenant_scope(job.tenant_id):
        importing.import_apply(job.pk)
    with scopes_disabled():
        job.refresh_from_db()
    return job


def _spy_batches(monkeypatch, fail=None):
    """Record which connection (server process) wrote which batch (its first row); ``fail``
    maps a batch's first row to the exception its apply raises."""
    seen: list[tuple[int, int]] = []
    lock = threading.Lock()
    other_started = threading.Event()
    real_apply = CustomerImporter.apply

    def spy(self, job, batch):
        first = batch[0][0]
        if fail and first in fail:
            # Fails while another batch is being written (where there is one), not before
            # the other connection has begun.
            other_started.wait(timeout=5)
            raise fail[first]
        other_started.set()
        result = real_apply(self, job, batch)
        raw = connection.connection
        with lock:
            seen.append((first, raw.info.backend_pid if hasattr(raw, "info") else id(raw)))
        return result

    monkeypatch.setattr(CustomerImporter, "apply", spy)
    return seen


def _made(job) -> list[Customer]:
    with scopes_disabled():
        return list(Customer.objects.filter(import_job=job).order_by("name"))


def _done(job) -> list[int]:
    return job.summary.get("batches", {}).get("done", [])


def test_batches_are_written_at_once_on_two_connections(world, monkeypatch):
    postgresql_only()
    monkeypatch.setattr(CustomerImporter, "batch_size", 5)
    seen = _spy_batches(monkeypatch)
    job = _applying(_checked(world, _rows(40)))

    job = _apply(job)

    assert job.status == ImportJob.Status.DONE
    assert len(seen) == 8 and len({pid for _first, pid in seen}) == 2
    assert sorted(first for first, _pid in seen) == list(range(2, 42, 5))
    assert job.summary["created"] == 40 and job.progress_done == 40
    assert _done(job) == list(range(8))
    made = _made(job)
    assert [c.name for c in made] == [f"客户{i:03d}" for i in range(40)]
    with scopes_disabled():
        assert Contact.objects.filter(customer__in=made).count() == 40
        assert OwnershipEvent.objects.filter(customer__in=made, kind="imported").count() == 40
        # The late-duplicate watermark is the highest of what the batches wrote.
        top_customer = max(c.pk for c in made)
        top_contact = Contact.objects.order_by("-pk").values_list("pk", flat=True)[0]
    assert job.summary["watermark"] == [top_customer, top_contact]


def test_one_connection_when_configured_so(world, monkeypatch, settings):
    postgresql_only()
    settings.IMPORT_APPLY_CONNECTIONS = 1
    monkeypatch.setattr(CustomerImporter, "batch_size", 5)
    seen = _spy_batches(monkeypatch)

    job = _apply(_applying(_checked(world, _rows(20))))

    assert job.status == ImportJob.Status.DONE and job.summary["created"] == 20
    assert len({pid for _first, pid in seen}) == 1
    assert [first for first, _pid in seen] == [2, 7, 12, 17]  # in the file's order


def test_rows_updating_one_customer_twice_are_written_in_order(world, monkeypatch):
    """Two rows matching the same customer (one by name, one by phone) in different batches:
    the later row must win, so those plans are written one batch after the other."""
    postgresql_only()
    monkeypatch.setattr(CustomerImporter, "batch_size", 2)
    old = make_customer(world.tenant_a, world.rep_east, "老客户")
    make_contact(old, mobile="13900000000")
    rows = [
        ["老客户", "", "第一行"],
        ["新一", "", ""],
        ["新二", "", ""],
        ["另一个名字", "13900000000", "第四行"],
    ]
    seen = _spy_batches(monkeypatch)
    job = _checked(world, rows, target="pool", duplicate_mode="overwrite")
    assert job.summary["update"] == 2

    job = _apply(_applying(job))

    assert job.status == ImportJob.Status.DONE and job.summary["updated"] == 2
    assert len({pid for _first, pid in seen}) == 1
    with scopes_disabled():
        assert sorted(Customer.objects.get(pk=old.pk).tags.values_list("name", flat=True)) == [
            "第一行",
            "第四行",
        ]


def test_parallel_plans_are_those_updating_each_customer_once():
    importer = CustomerImporter()
    creates = [[2, "create", None, {}], [3, "create", None, {}]]
    assert importer.parallel_apply(creates)
    assert importer.parallel_apply([*creates, [4, "update", 7, {}], [5, "update", 8, {}]])
    assert not importer.parallel_apply([[4, "update", 7, {}], [9, "update", 7, {}]])


def test_watermarks_of_batches_merge_to_the_highest():
    summary = {"watermark": [10, 50], "created": 3}
    CustomerImporter().merge_state(summary, {"watermark": [8, 70]})
    assert summary == {"watermark": [10, 70], "created": 3}
    empty: dict = {}
    CustomerImporter().merge_state(empty, {"watermark": [4, 5]})
    assert empty == {"watermark": [4, 5]}


def test_new_tags_shared_by_batches_written_at_once(world, monkeypatch):
    """Batches written at once that both create the same new tags (listed in either order)
    wait for each other's instead of deadlocking: every tag is made once, every link kept."""
    postgresql_only()
    monkeypatch.setattr(CustomerImporter, "batch_size", 3)
    rows = [*_rows(6, tags="乙标签、甲标签、丙标签"), *_rows(6, offset=6, tags="丙标签、甲标签")]
    seen = _spy_batches(monkeypatch)

    job = _apply(_applying(_checked(world, rows)))

    assert job.status == ImportJob.Status.DONE and job.summary["created"] == 12
    assert len({pid for _first, pid in seen}) == 2
    with scopes_disabled():
        assert sorted(Tag.objects.filter(tenant=world.tenant_a).values_list("name", flat=True)) == [
            "丙标签",
            "乙标签",
            "甲标签",
        ]
        assert CustomerTag.objects.filter(customer__import_job=job).count() == 6 * 3 + 6 * 2


def test_a_killed_worker_leaves_whole_batches_and_the_rerun_writes_the_rest(world, monkeypatch):
    """The first batch dies while the other connection writes the next ones: what is done is
    not a prefix of the file. The rerun writes exactly the batches not done."""
    postgresql_only()
    monkeypatch.setattr(CustomerImporter, "batch_size", 2)
    job = _applying(_checked(world, _rows(7)))
    _spy_batches(monkeypatch, fail={2: WorkerKilled()})

    with pytest.raises(WorkerKilled):
        _apply(job)
    with scopes_disabled():
        job.refresh_from_db()
    done = _done(job)
    assert job.status == ImportJob.Status.APPLYING
    assert 0 not in done and done  # the other connection committed at least batch 1
    written = sum(min(2, 7 - 2 * i) for i in done)
    assert job.progress_done == written == len(_made(job)) == job.summary["created"]

    monkeypatch.undo()
    monkeypatch.setattr(CustomerImporter, "batch_size", 3)  # a new release: the job keeps 2
    job = _apply(job)

    assert job.status == ImportJob.Status.DONE
    assert [c.name for c in _made(job)] == [f"客户{i:03d}" for i in range(7)]
    assert job.summary["created"] == 7 and job.progress_done == 7
    with scopes_disabled():
        assert Contact.objects.filter(customer__import_job=job).count() == 7
        assert OwnershipEvent.objects.filter(customer__import_job=job).count() == 7


def test_an_error_in_one_connection_fails_the_job_with_the_true_count(world, monkeypatch):
    postgresql_only()
    monkeypatch.setattr(CustomerImporter, "batch_size", 2)
    job = _applying(_checked(world, _rows(12)))
    _spy_batches(monkeypatch, fail={4: RuntimeError("boom")})

    job = _apply(job)

    assert job.status == ImportJob.Status.FAILED
    made = _made(job)
    assert "internal error" in job.message or "内部错误" in job.message
    assert f" {len(made)} " in job.message or f"{len(made)} 行" in job.message
    assert job.progress_done == len(made) == job.summary.get("created", 0)
    assert "客户002" not in {c.name for c in made}  # the failed batch wrote nothing
    assert len(made) < 12


def test_a_job_stopped_elsewhere_rolls_back_the_batch_being_written(world, monkeypatch, settings):
    """A job that leaves APPLYING while a batch is written (another worker marked it failed)
    keeps nothing of that batch, and the run ends without finishing the job."""
    postgresql_only()  # SQLite: the other worker would wait for this batch's write lock
    settings.IMPORT_APPLY_CONNECTIONS = 1
    monkeypatch.setattr(CustomerImporter, "batch_size", 3)
    job = _applying(_checked(world, _rows(6)))
    real_apply = CustomerImporter.apply

    def apply_then_fail_elsewhere(self, job, batch):
        result = real_apply(self, job, batch)
        if batch[0][0] == 5:  # the second batch: another worker fails the job meanwhile
            done = threading.Thread(target=_fail_elsewhere, args=(job.pk,))
            done.start()
            done.join()
        return result

    monkeypatch.setattr(CustomerImporter, "apply", apply_then_fail_elsewhere)

    job = _apply(job)

    assert job.status == ImportJob.Status.FAILED
    assert [c.name for c in _made(job)] == ["客户000", "客户001", "客户002"]
    assert job.progress_done == 3 and _done(job) == [0]


def _fail_elsewhere(job_id: int) -> None:
    try:
        with scopes_disabled():
            ImportJob.objects.filter(pk=job_id).update(status=ImportJob.Status.FAILED)
    finally:
        connection.close()


def test_a_job_applied_before_batches_were_recorded_resumes_after_its_progress(
    world, monkeypatch, settings
):
    """An import left half-applied by an earlier release (its progress counted rows, batches
    were not recorded) resumes after the rows it counted, in either database."""
    monkeypatch.setattr(CustomerImporter, "batch_size", 2)
    job = _applying(_checked(world, _rows(7)))
    _spy_batches(monkeypatch, fail={6: WorkerKilled()})
    settings.IMPORT_APPLY_CONNECTIONS = 1
    with pytest.raises(WorkerKilled):
        _apply(job)
    with scopes_disabled():
        job.refresh_from_db()
        assert job.progress_done == 4 and _done(job) == [0, 1]
        summary = dict(job.summary)
        del summary["batches"]  # as the earlier release left it
        ImportJob.objects.filter(pk=job.pk).update(summary=summary)

    monkeypatch.undo()
    job = _apply(job)

    assert job.status == ImportJob.Status.DONE and job.summary["created"] == 7
    assert [c.name for c in _made(job)] == [f"客户{i:03d}" for i in range(7)]
    assert job.summary["batches"]["start"] == 4


def test_a_worker_that_cut_the_plan_otherwise_gives_way(world, monkeypatch):
    """Two releases with different batch sizes applying one job: the run that finds the
    batches recorded with another cut writes nothing and leaves the job to the other."""
    monkeypatch.setattr(CustomerImporter, "batch_size", 2)
    job = _applying(_checked(world, _rows(6)))
    run = importing._ApplyRun(job, CustomerImporter(), importing._load_plan(job))
    with scopes_disabled():
        # Meanwhile the other release (batches of 3) recorded its first batch.
        ImportJob.objects.filter(pk=job.pk).update(
            summary={**job.summary, "batches": {"start": 0, "size": 3, "done": []}}
        )

    with tenant_scope(job.tenant_id):
        run.go(1, lazy_commits=False)

    assert run.stopped and _made(job) == []
    with scopes_disabled():
        job.refresh_from_db()
    assert job.status == ImportJob.Status.APPLYING and job.progress_done == 0
