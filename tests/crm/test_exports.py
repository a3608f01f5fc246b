"""The export machinery (crm.exporting): large exports built by the worker as their
creator (permission and visibility checked again), the notification, 我的导出 with its
polling, downloads only for the creator in the same tenant, and the purge after 7 days.

The four kinds of export and their contents are tested in tests/customers/test_exports.py.
"""

from __future__ import annotations

import datetime
import io
from pathlib import Path

import openpyxl
import pytest
from django.conf import settings as django_settings
from django.contrib.messages import get_messages
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone
from django_scopes import scopes_disabled

from crm import exporting
from crm.models import ActivityLog, ExportJob
from crm.tasks import export_purge_all_task, export_run_task
from customers.models import Customer
from tests.customers.factories import logs, make_customer, notifications
from tests.factories import make_role

DAY = datetime.timedelta(days=1)


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def rep(world):
    """rep_east with the export right (scope own), owning three customers."""
    role = make_role(world.tenant_a, "导出代表", "own", ["customer.export"])
    with scopes_disabled():
        world.rep_east.role = role
        world.rep_east.save(update_fields=["role"])
    for name in ("甲客户", "乙客户", "丙客户"):
        make_customer(world.tenant_a, world.rep_east, name)
    return world.rep_east


def job_of(pk: int) -> ExportJob:
    with scopes_disabled():
        return ExportJob.objects.get(pk=pk)


def all_jobs() -> list[ExportJob]:
    with scopes_disabled():
        return list(ExportJob.objects.order_by("pk"))


def sheet(content: bytes) -> list[tuple]:
    book = openpyxl.load_workbook(io.BytesIO(content))
    return [tuple(row) for row in book.active.iter_rows(values_only=True)]


def download(client, job) -> list[tuple]:
    response = client.get(reverse("crm:export-download", args=[job.pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    return sheet(b"".join(response.streaming_content))


def finished_job(user, *, age: datetime.timedelta = datetime.timedelta(0)) -> ExportJob:
    """A finished export of ``user`` with its file, requested ``age`` ago."""
    with scopes_disabled():
        job = ExportJob.objects.create(
            tenant_id=user.tenant_id,
            kind="customers",
            status=ExportJob.Status.DONE,
            created_by=user,
            row_count=1,
            created_at=timezone.now() - age,
        )
        job.file.save(exporting.storage_name(job), ContentFile(b"xlsx"), save=True)
        return job


# ---------------------------------------------------------------- large exports


def test_a_large_export_is_built_by_the_worker_and_notified(
    world, rep, as_user, settings, django_capture_on_commit_callbacks
):
    settings.EXPORT_SYNC_ROWS = 2
    client = as_user(rep)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("customers:customer-export"), query_params={"sort": "name"})
    assert response.status_code == 302
    assert response["Location"] == reverse("crm:export-list")
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "The export has more than 2 rows: it is being prepared. "
        "You will be notified when the file is ready to download."
    ]
    [job] = all_jobs()
    assert (job.kind, job.status, job.row_count) == ("customers", "done", 3)
    assert job.params == {"query": "sort=name", "ids": None, "language": "en"}
    assert job.file.name.startswith(f"tenants/{world.tenant_a.pk}/exports/{job.token}/")
    rows = download(client, job)
    assert rows[0][0] == "Customer name"  # the requester's language, in the worker too
    assert [r[0] for r in rows[1:]] == sorted(["甲客户", "乙客户", "丙客户"])
    [note] = notifications(rep)
    assert note.title == "Your export is ready: Customers"
    assert note.body == "3 rows"
    assert note.link == reverse("crm:export-download", args=[job.pk])
    [entry] = logs(job)
    assert entry.action == "export.created"
    assert entry.changes["row_count"] == ["", 3]


def test_the_worker_checks_the_permission_again(
    world, rep, as_user, settings, django_capture_on_commit_callbacks
):
    settings.EXPORT_SYNC_ROWS = 1
    with django_capture_on_commit_callbacks(execute=False) as queued:
        as_user(rep).post(reverse("customers:customer-export"))
    [job] = all_jobs()
    assert job.status == ExportJob.Status.QUEUED
    with scopes_disabled():
        rep.role = make_role(world.tenant_a, "没有导出", "own", [])
        rep.save(update_fields=["role"])
    for callback in queued:
        callback()
    job = job_of(job.pk)
    assert job.status == ExportJob.Status.FAILED
    assert job.message == "You do not have permission to do this."
    assert not job.file
    assert [n.title for n in notifications(rep)] == ["Your export failed: Customers"]
    assert logs(job) == []


def test_the_worker_checks_the_visibility_of_selected_rows_again(
    world, rep, as_user, settings, django_capture_on_commit_callbacks
):
    settings.EXPORT_SYNC_ROWS = 1
    with scopes_disabled():
        ids = list(Customer.objects.filter(owner=rep).values_list("pk", flat=True))
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = as_user(rep).post(reverse("customers:customer-export"), {"ids": ids})
    assert response.status_code == 302
    with scopes_disabled():  # transferred away before the worker starts
        Customer.objects.filter(pk=ids[0]).update(owner=world.rep_west)
    for callback in queued:
        callback()
    [job] = all_jobs()
    assert job.status == ExportJob.Status.FAILED
    assert job.message == (
        "1 selected row does not exist or is not visible to you; nothing was exported."
    )


def test_the_worker_leaves_a_finished_job_alone(world, rep):
    job = finished_job(rep)
    export_run_task.delay(world.tenant_a.pk, job.pk)
    assert job_of(job.pk).file.name == job.file.name
    assert notifications(rep) == []


# ---------------------------------------------------------------- 我的导出 and downloads


def test_my_exports_lists_only_my_own_and_polls_while_one_runs(world, rep, as_user):
    grant = make_role(world.tenant_a, "经理导出", "department_and_below", ["customer.export"])
    with scopes_disabled():
        world.manager_sales.role = grant
        world.manager_sales.save(update_fields=["role"])
    mine = finished_job(rep)
    theirs = finished_job(world.manager_sales)
    client = as_user(rep)
    page = client.get(reverse("crm:export-list")).content.decode()
    assert f'data-export="{mine.pk}"' in page and f'data-export="{theirs.pk}"' not in page
    assert f'data-download="{mine.pk}"' in page
    assert 'hx-trigger="every 3s"' not in page
    with scopes_disabled():
        running = ExportJob.objects.create(
            tenant_id=rep.tenant_id, kind="pool", status="running", created_by=rep
        )
    page = client.get(reverse("crm:export-list")).content.decode()
    assert 'hx-trigger="every 3s"' in page and f'data-export="{running.pk}"' in page
    fragment = client.get(
        reverse("crm:export-list"), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="export-jobs"
    ).content.decode()
    assert "<html" not in fragment and 'id="export-jobs"' in fragment


def test_download_is_for_the_creator_in_the_same_tenant_only(world, rep, as_user):
    job = finished_job(rep)
    url = reverse("crm:export-download", args=[job.pk])
    assert as_user(rep).get(url).status_code == 200
    # The manager sees rep_east's customers, but not rep_east's exports.
    assert as_user(world.manager_sales).get(url).status_code == 404
    assert as_user(world.admin_a).get(url).status_code == 404
    assert as_user(world.admin_b).get(url).status_code == 404
    assert as_user(rep).get(reverse("crm:export-download", args=[999_999])).status_code == 404


def test_download_is_gone_after_the_retention_period(world, rep, as_user):
    old = finished_job(rep, age=8 * DAY)
    client = as_user(rep)
    assert client.get(reverse("crm:export-download", args=[old.pk])).status_code == 404
    assert "Expired" in client.get(reverse("crm:export-list")).content.decode()


def test_purge_deletes_files_and_jobs_older_than_seven_days(world, rep):
    old = finished_job(rep, age=7 * DAY + datetime.timedelta(minutes=1))
    recent = finished_job(rep, age=6 * DAY)
    old_b = finished_job(world.admin_b, age=30 * DAY)
    with scopes_disabled():
        queued_old = ExportJob.objects.create(
            tenant_id=rep.tenant_id,
            kind="pool",
            status="queued",
            created_by=rep,
            created_at=timezone.now() - 10 * DAY,
        )
        ActivityLog.objects.create(
            tenant_id=rep.tenant_id,
            actor=rep,
            content_type_id=_job_content_type(),
            object_id=old.pk,
            object_repr=str(old),
            action="export.created",
        )
    media = Path(django_settings.MEDIA_ROOT)
    old_file, recent_file = media / old.file.name, media / recent.file.name
    assert old_file.exists() and recent_file.exists()
    assert export_purge_all_task.delay().get() == 2  # one task per active tenant
    with scopes_disabled():
        remaining = set(ExportJob.objects.values_list("pk", flat=True))
        assert ActivityLog.objects.filter(object_id=old.pk).exists()  # the log stays
    assert remaining == {recent.pk}
    assert not old_file.exists() and recent_file.exists()
    assert not (media / old_b.file.name).exists()
    assert queued_old.pk not in remaining
    # Idempotent.
    with scopes_disabled():
        assert exporting.export_purge(tenant_id=rep.tenant_id) == 0


def _job_content_type() -> int:
    from django.contrib.contenttypes.models import ContentType

    return ContentType.objects.get_for_model(ExportJob).pk


def test_the_purge_runs_every_day_from_beat():
    entry = django_settings.CELERY_BEAT_SCHEDULE["export-purge"]
    assert entry["task"] == "crm.tasks.export_purge_all_task"
    assert django_settings.EXPORT_SYNC_ROWS == 2000
    assert django_settings.EXPORT_RETENTION_DAYS == 7


def test_every_kind_is_registered_with_a_list_url():
    assert set(exporting._KINDS) >= {"customers", "contacts", "followups", "pool", "leads"}
    for kind in exporting._KINDS.values():
        assert reverse(kind.list_url)
