"""The xlsx guard counts what really inflates, not what the zip declares (issue 15), and a
file that kills the worker while it is read fails its import instead of being read again and
again."""

from __future__ import annotations

import datetime
import io
import json
import subprocess
import sys
import zipfile

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase
from django.utils import timezone, translation
from django_scopes import scopes_disabled

from crm import importing
from crm.models import ImportJob
from crm.spreadsheets import SpreadsheetError, read_sheet
from pools.services import default_group_for
from tests.crm import spreadsheet_files as files

GIGABYTE = 1024 * 1024 * 1024
BOMB_MESSAGE = (
    "The file is too large when unpacked (more than 300 MB, or compressed suspiciously "
    "well): it cannot be read."
)


def refusal(data: bytes) -> SpreadsheetError:
    with translation.override("en"), pytest.raises(SpreadsheetError) as caught:
        read_sheet(data, "客户.xlsx", known_headers=["客户名称"], max_rows=100)
    return caught.value


def declared(data: bytes) -> dict[str, tuple[int, int]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {i.filename: (i.file_size, i.compress_size) for i in archive.infolist()}


@pytest.mark.parametrize("member", ["xl/sharedStrings.xml", "xl/worksheets/sheet1.xml"])
def test_member_inflating_beyond_its_declared_size_is_refused(member):
    data = files.lying_bomb_xlsx(member)
    # 1.5 MB on disk, a directory that declares a few hundred bytes for the member, and a
    # deflate stream that inflates to 1.5 GB.
    assert len(data) < 2 * 1024 * 1024
    assert declared(data)[member][0] < 1024
    error = refusal(data)
    assert (error.code, error.message) == ("zip_bomb", BOMB_MESSAGE)
    assert error.detail.startswith(f"{member}: more than ")


def test_compressed_size_padded_to_pass_the_ratio_is_measured_on_the_real_stream():
    # 20 MB of shared strings in a ~20 KB deflate stream, declared honestly, but with the
    # compressed size padded to 170 KB: a declared ratio of ~120, a real one of ~1000.
    data = files.lying_bomb_xlsx(
        "xl/sharedStrings.xml", inflated=20 * 1024 * 1024, honest=True, padding=150 * 1024
    )
    size, compressed = declared(data)["xl/sharedStrings.xml"]
    assert size > 20 * 1024 * 1024 and size / compressed < 200
    error = refusal(data)
    assert (error.code, error.message) == ("zip_bomb", BOMB_MESSAGE)


def test_an_honest_workbook_still_reads():
    sheet = read_sheet(
        files.shared_strings_xlsx(["客户名称", "手机"], [["甲公司", "13800138000"]]),
        "客户.xlsx",
        known_headers=["客户名称", "手机"],
        max_rows=10,
    )
    assert sheet.rows == [(2, ["甲公司", "13800138000"])]


_MEASURE = """
import json, os, resource, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
import django
django.setup()
import python_calamine  # noqa: F401  (loaded, as in a worker)
from django.utils import translation
from crm.spreadsheets import SpreadsheetError, read_sheet
from tests.crm import spreadsheet_files as files
data = files.lying_bomb_xlsx(sys.argv[1])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with translation.override("en"):
    try:
        read_sheet(data, "bomb.xlsx", known_headers=["客户名称"], max_rows=100)
        message = None
    except SpreadsheetError as exc:
        message = str(exc.message)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"size": len(data), "before": before, "peak": peak, "message": message}))
"""


@pytest.mark.parametrize("member", ["xl/sharedStrings.xml", "xl/worksheets/sheet1.xml"])
def test_crafted_bomb_is_refused_within_bounded_memory(member):
    """A 1.5 MB xlsx whose member inflates to 1.5 GB behind a lying directory, read in a
    fresh process the way a worker reads it. Measured (ru_maxrss, Linux, Python 3.11): the
    process peaks at ~78 MB for the shared strings and ~81 MB for the sheet, of which ~72 MB
    are Django, calamine and the file loaded before reading: refusing it costs under 10 MB.
    Before the guard counted real bytes, the refusal depended on calamine's own check of the
    declared size (it read the file as "damaged"); a reader trusting the directory would
    have held 1.5 GB."""
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE, member],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert measured["size"] < 2 * 1024 * 1024
    assert measured["message"] == BOMB_MESSAGE
    # ru_maxrss is in kilobytes on Linux, in bytes on macOS.
    unit = 1 if sys.platform == "darwin" else 1024
    assert (measured["peak"] - measured["before"]) * unit < 64 * 1024 * 1024


# --- a worker killed while reading ------------------------------------------------------------


class WorkerKilled(BaseException):
    """What the process sees of an OOM kill: nothing after it runs (not an Exception)."""


@pytest.fixture
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def waiting_job(world, settings, _media):
    """An import checked by a worker (larger than IMPORT_SYNC_BYTES), not started yet."""
    from crm.tenancy import tenant_scope

    settings.IMPORT_SYNC_BYTES = 0
    with tenant_scope(world.tenant_a.pk), translation.override("en"):
        upload = SimpleUploadedFile(
            "客户名单.xlsx", files.xlsx_bytes(["客户名称"], [["甲公司"], ["乙公司"]])
        )
        with TestCase.captureOnCommitCallbacks(execute=False):
            job = importing.import_start(
                actor=world.admin_a,
                kind=ImportJob.Kind.CUSTOMERS,
                upload=upload,
                options={
                    "target": "pool",
                    "pool_group": default_group_for(world.tenant_a.pk, "customer").pk,
                },
            )
    assert job.status == ImportJob.Status.VALIDATING and job.attempts == 0
    return job


def job_of(job: ImportJob) -> ImportJob:
    with scopes_disabled():
        return ImportJob.objects.get(pk=job.pk)


def test_a_file_that_kills_the_worker_fails_the_job_after_two_reads(
    world, waiting_job, monkeypatch
):
    reads = []

    def killed(*args, **kwargs):
        reads.append(1)
        raise WorkerKilled

    monkeypatch.setattr("crm.spreadsheets.read_sheet", killed)
    from crm.tenancy import tenant_scope

    with tenant_scope(world.tenant_a.pk), translation.override("en"):
        for _start in range(importing.MAX_READ_ATTEMPTS):
            # A redelivered task (acks_late) or a resumed job reads the file again.
            with pytest.raises(WorkerKilled):
                importing.import_check(waiting_job.pk)
        assert job_of(waiting_job).status == ImportJob.Status.VALIDATING
        importing.import_check(waiting_job.pk)
    job = job_of(waiting_job)
    assert len(reads) == 2  # the third start does not read the file
    assert job.status == ImportJob.Status.FAILED
    assert job.attempts == 2
    assert job.message.startswith(
        "The file could not be read: the worker stopped while reading it, 2 times."
    )
    assert job.finished_at is not None


def test_housekeeping_fails_a_job_read_too_often_instead_of_queueing_it_again(
    world, waiting_job, monkeypatch
):
    from crm import tasks

    queued = []
    monkeypatch.setattr(tasks.import_check_task, "delay", lambda *a: queued.append(a))
    stale = timezone.now() - datetime.timedelta(hours=1)
    with scopes_disabled(), translation.override("en"):
        ImportJob.objects.filter(pk=waiting_job.pk).update(attempts=2, heartbeat_at=stale)
        assert importing.import_resume_stale() == 0
    job = job_of(waiting_job)
    assert queued == []
    assert job.status == ImportJob.Status.FAILED
    assert "the worker stopped while reading it" in job.message
    # Failed, it no longer holds the tenant's import slot, and is never resumed again.
    with scopes_disabled():
        assert importing.running_job(world.tenant_a.pk) is None
        assert importing.import_resume_stale(now=timezone.now() + datetime.timedelta(days=1)) == 0
    assert queued == []


def test_housekeeping_still_resumes_a_check_read_once(world, waiting_job, monkeypatch):
    from crm import tasks

    queued = []
    monkeypatch.setattr(tasks.import_check_task, "delay", lambda *a: queued.append(a))
    stale = timezone.now() - datetime.timedelta(hours=1)
    with scopes_disabled():
        ImportJob.objects.filter(pk=waiting_job.pk).update(attempts=1, heartbeat_at=stale)
        assert importing.import_resume_stale() == 1
    assert queued == [(world.tenant_a.pk, waiting_job.pk)]
    assert job_of(waiting_job).status == ImportJob.Status.VALIDATING


def test_a_check_that_finishes_counts_one_read(world, waiting_job):
    from crm.tenancy import tenant_scope

    with tenant_scope(world.tenant_a.pk), translation.override("en"):
        importing.import_check(waiting_job.pk)
    job = job_of(waiting_job)
    assert (job.status, job.attempts) == (ImportJob.Status.PREVIEWED, 1)
