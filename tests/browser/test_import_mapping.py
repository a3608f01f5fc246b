"""The column-mapping step in a real browser (issue 17): an admin uploads a customer sheet
whose name column is headed 「单位全称」 (no field of that name), maps it to 客户名称 in the
preview, checks the file again, imports it; the next file with the same header row is
mapped without asking (badge 上次使用). Screenshot: /tmp/import-mapping-1280.png."""

from __future__ import annotations

import pytest
from django_scopes import scopes_disabled

from crm.models import ImportJob, ImportMapping, Tenant
from customers.models import Customer
from tests.crm import spreadsheet_files as files

pytestmark = [pytest.mark.browser]

HEADERS = ["单位全称", "联系人", "联系电话"]


@pytest.fixture
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _upload(page, live_server, tmp_path, group, name: str, rows) -> None:
    path = tmp_path / name
    path.write_bytes(files.xlsx_bytes(HEADERS, rows))
    page.goto(f"{live_server.url}/customers/import/?target=pool&group={group.pk}")
    page.set_input_files("#id_file", str(path))
    page.check("input[name=target][value=pool]")
    page.select_option("#id_pool_group", label="映射公海")
    with page.expect_navigation():
        page.click("#import-form button[type=submit]")


def test_admin_maps_an_unknown_column_and_the_next_file_is_mapped_alike(
    page, sign_in, live_server, tmp_path, _media_in_tmp
):
    from pools.models import PoolGroup

    with scopes_disabled():
        demo = Tenant.objects.get(slug="demo")
        group = PoolGroup.objects.create(tenant=demo, name="映射公海", open_to_all=True)
    sign_in(page, "admin")

    # 1. A sheet without a column the import knows as 客户名称.
    rows = [[f"映射客户{i}", "王经理", f"1391111{i:04d}"] for i in range(3)]
    _upload(page, live_server, tmp_path, group, "外部系统导出.xlsx", rows)
    step = page.locator("#mapping-step")
    step.wait_for()
    assert page.locator("[data-mapping-error]").count() == 1
    assert page.locator("#confirm-import").is_disabled()
    first = page.locator("#mapping-table tr[data-column='0']")
    assert "单位全称" in first.inner_text() and "映射客户0" in first.inner_text()
    assert first.locator("[data-badge='none']").count() == 1
    second = page.locator("#mapping-table tr[data-column='1']")
    assert second.locator("[data-badge='auto']").count() == 1
    with scopes_disabled():
        assert not Customer.objects.filter(tenant=demo, name__startswith="映射客户").exists()

    # 2. Map it to 客户名称 and check again: the dry run counts the rows now.
    page.select_option("#map-0", value="name")
    with page.expect_navigation():
        page.click("#remap-submit")
    assert page.locator("[data-mapping-error]").count() == 0
    assert page.locator("#count-create").inner_text() == "3"
    assert first.locator("[data-badge='user']").count() == 1
    page.screenshot(path="/tmp/import-mapping-1280.png", full_page=True)

    # 3. Import.
    with page.expect_navigation():
        page.click("#confirm-import")
    page.locator("#count-created").wait_for()
    assert page.locator("#count-created").inner_text() == "3"
    with scopes_disabled():
        assert Customer.objects.filter(tenant=demo, name__startswith="映射客户").count() == 3
        assert ImportMapping.objects.filter(tenant=demo, kind="customers").count() == 1

    # 4. The next file with the same header row: mapped without asking.
    more = [[f"再次映射{i}", "李经理", f"1392222{i:04d}"] for i in range(2)]
    _upload(page, live_server, tmp_path, group, "外部系统导出2.xlsx", more)
    page.locator("#mapping-step").wait_for()
    assert page.locator("[data-mapping-error]").count() == 0
    assert page.locator("#count-create").inner_text() == "2"
    assert first.locator("[data-badge='remembered']").count() == 1
    assert page.locator("#map-0").input_value() == "name"
    assert page.locator("#confirm-import").is_enabled()
    with scopes_disabled():
        assert ImportJob.objects.filter(tenant=demo).count() == 2
