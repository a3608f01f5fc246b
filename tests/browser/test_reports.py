"""A manager's report journey in a real browser (demo data): open 客户增量统计 for this year,
drill into one number and find exactly that many customers, go back and export the table."""

from __future__ import annotations

import io
from pathlib import Path

import openpyxl
import pytest

pytestmark = [pytest.mark.browser]


def test_a_manager_opens_the_increment_report_drills_into_a_number_and_exports_it(
    new_context, live_server, demo_data, sign_in
):
    context = new_context(accept_downloads=True)
    page = context.pages[0] if context.pages else context.new_page()
    sign_in(page, "manager1")
    page.goto(f"{live_server.url}/")
    page.click("[data-nav=report-increment]")
    page.select_option("select[name=preset]", "this_year")
    page.click("[data-testid=report-filter] button[type=submit]")
    table = page.locator("[data-testid=report-table]")
    rows = table.locator("[data-testid=report-row]")
    assert rows.count() >= 2  # the manager's team, never the whole company
    link = table.locator("tbody td a").first
    number = int(link.inner_text())
    assert number > 0
    link.click()
    assert int(page.locator("[data-testid=drill-count]").inner_text()) == number
    shown = page.locator("[data-testid=drill-row]").count()
    assert shown == min(number, 20)  # one page of the list (20 by default)
    page.go_back()
    with page.expect_download() as info:
        page.click("[data-testid=report-export]")
    book = openpyxl.load_workbook(io.BytesIO(Path(info.value.path()).read_bytes()))
    sheet = [list(r) for r in book.active.iter_rows(values_only=True)]
    assert sheet[1][0] and len(sheet) == rows.count() + 3  # filters, header, rows, total
    names = {r[0] for r in sheet[2:-1]}
    assert names == set(rows.locator("td.cell-main").all_inner_texts())
