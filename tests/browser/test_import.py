"""The import journey in a real browser with a real Celery worker (issue 5): the admin
downloads the template, uploads a file with some bad rows into 全公司公海, sees the preview,
confirms, watches the progress bar, downloads the error file; rep2 claims an imported
customer. Screenshots: /tmp/import-preview-1280.png, /tmp/import-progress-1280.png,
/tmp/import-result-1280.png."""

from __future__ import annotations

import time

import pytest
from django_scopes import scopes_disabled
from python_calamine import CalamineWorkbook

from crm.celery import app
from crm.models import ImportJob, Tenant, User
from customers.importing import CustomerImporter
from customers.models import Customer
from tests.crm import spreadsheet_files as files

pytestmark = [pytest.mark.browser, pytest.mark.celery_worker]

GOOD = 40
BAD = [["", "王", "13800000000"], ["坏电话公司", "李", "1380013"], ["坏电话二", "", "abc"]]


@pytest.fixture
def worker(settings, monkeypatch):
    """A real worker for the apply stage, slowed down so the progress bar can be seen."""
    from celery.contrib.testing.worker import start_worker

    settings.IMPORT_SYNC_ROWS = 0
    monkeypatch.setattr(CustomerImporter, "batch_size", 5)
    real_apply = CustomerImporter.apply

    def slow_apply(self, job, rows):
        time.sleep(0.3)
        return real_apply(self, job, rows)

    monkeypatch.setattr(CustomerImporter, "apply", slow_apply)
    app.conf.task_always_eager = False
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            yield
    finally:
        app.conf.task_always_eager = True


def test_admin_imports_into_the_pool_and_rep2_claims(
    page, sign_in, live_server, new_context, worker, tmp_path
):
    from pools.models import PoolGroup

    with scopes_disabled():
        demo = Tenant.objects.get(slug="demo")
        group = PoolGroup.objects.create(tenant=demo, name="全公司公海", open_to_all=True)
    sign_in(page, "admin")

    # 1. The template.
    page.goto(f"{live_server.url}/customers/import/?target=pool&group={group.pk}")
    with page.expect_download() as download:
        page.click("#download-template")
    template = CalamineWorkbook.from_path(download.value.path())
    headers = template.get_sheet_by_index(0).to_python()[0]
    assert "客户名称*" in headers and len(template.sheet_names) == 2

    # 2. A file with good and bad rows, into 全公司公海.
    rows = [[f"导入客户{i:02d}", "联系人", f"1391234{i:04d}"] for i in range(GOOD)] + BAD
    upload = tmp_path / "客户名单.xlsx"
    upload.write_bytes(files.xlsx_bytes(["客户名称", "联系人", "联系电话"], rows))
    page.set_input_files("#id_file", str(upload))
    page.check("input[name=target][value=pool]")
    page.select_option("#id_pool_group", label="全公司公海")
    with page.expect_navigation():
        page.click("#import-form button[type=submit]")

    # 3. The preview: nothing written yet.
    assert page.locator("#count-create").inner_text() == str(GOOD)
    assert page.locator("#count-reject").inner_text() == str(len(BAD))
    assert page.locator("#rejected-rows tbody tr").count() == len(BAD)
    page.screenshot(path="/tmp/import-preview-1280.png", full_page=True)
    with scopes_disabled():
        assert not Customer.objects.filter(tenant=demo, name__startswith="导入客户").exists()

    # 4. Confirm and watch the bar move (htmx polls; the page reloads when it is done).
    with page.expect_navigation():
        page.click("#confirm-import")
    bar = page.locator(".progress[role=progressbar]")
    bar.wait_for(state="visible")
    first = int(bar.get_attribute("aria-valuenow"))
    page.screenshot(path="/tmp/import-progress-1280.png", full_page=True)
    page.locator("#count-created").wait_for(timeout=30_000)
    assert first < 100
    assert page.locator("#count-created").inner_text() == str(GOOD)
    assert page.locator("#count-failed").inner_text() == str(len(BAD))
    page.screenshot(path="/tmp/import-result-1280.png", full_page=True)

    # 5. The error file: the rejected rows as uploaded, with 错误原因.
    with page.expect_download() as download:
        page.click("#error-file")
    errors = CalamineWorkbook.from_path(str(download.value.path()))
    table = errors.get_sheet_by_index(0).to_python()
    assert table[0][-1] == "错误原因"
    assert [r[0] for r in table[1:]] == ["", "坏电话公司", "坏电话二"]
    assert all(r[-1] for r in table[1:])

    # 6. rep2 finds them in 全公司公海 (phones hidden) and claims one.
    with scopes_disabled():
        job = ImportJob.objects.get(tenant=demo)
        target = Customer.objects.get(tenant=demo, name="导入客户07")
        assert job.status == ImportJob.Status.DONE and target.pooled_at is not None
    rep_context = new_context()
    rep_page = rep_context.pages[0] if rep_context.pages else rep_context.new_page()
    sign_in(rep_page, "rep2")
    rep_page.goto(f"{live_server.url}/pools/?group={group.pk}&q=导入客户07")
    row = rep_page.locator(f"tr[data-customer='{target.pk}']")
    assert "13912340007" not in row.inner_text()
    with rep_page.expect_navigation():
        row.locator(f"[data-claim='{target.pk}']").click()
    with scopes_disabled():
        target.refresh_from_db()
        assert target.owner == User.objects.get(tenant=demo, username="rep2")
        assert target.pooled_at is None
