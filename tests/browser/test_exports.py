"""The 导出 buttons in a real browser (demo data, admin): filter the customer list, press 导出
and get the file of exactly the filtered rows (a POST form carrying the list's query string
and the CSRF token), with JavaScript on and off; 导出所选 exports the ticked rows.
"""

from __future__ import annotations

import io
from pathlib import Path

import openpyxl
import pytest
from django_scopes import scopes_disabled

from customers.models import Customer

pytestmark = [pytest.mark.browser]


def _names(download) -> list[str]:
    book = openpyxl.load_workbook(io.BytesIO(Path(download.path()).read_bytes()))
    return [row[0] for row in list(book.active.iter_rows(values_only=True))[1:]]


@pytest.mark.parametrize("javascript", [True, False])
def test_the_export_button_downloads_the_filtered_list(
    new_context, live_server, demo_data, sign_in, javascript
):
    context = new_context(java_script_enabled=javascript, accept_downloads=True)
    page = context.pages[0] if context.pages else context.new_page()
    sign_in(page, "admin")
    with scopes_disabled():
        sample = (
            Customer.objects.alive()
            .filter(tenant__slug="demo", owner__isnull=False)
            .order_by("pk")
            .first()
        )
    page.goto(f"{live_server.url}/customers/?view=all&q={sample.name}")
    shown = sorted(
        page.locator("#batch-form input[name=ids]").evaluate_all(
            "boxes => boxes.map(b => b.getAttribute('aria-label'))"
        )
    )
    form = page.locator("form.export-form")
    assert form.get_attribute("method") == "post"
    assert form.locator("input[name=csrfmiddlewaretoken]").count() == 1
    with page.expect_download() as info:
        form.locator("button[data-export=list]").click()
    # Exactly the filtered list (the demo's customer list holds more than these).
    assert sample.name in shown
    assert sorted(_names(info.value)) == shown

    # 导出所选: the first two ticked rows only.
    boxes = page.locator("#batch-form input[name=ids]")
    ticked = [boxes.nth(i).get_attribute("value") for i in range(min(2, boxes.count()))]
    for value in ticked:
        page.check(f"#batch-form input[name=ids][value='{value}']")
    with page.expect_download() as info:
        page.click("#batch-form button[data-export=selected]")
    with scopes_disabled():
        expected = sorted(Customer.objects.filter(pk__in=ticked).values_list("name", flat=True))
    assert sorted(_names(info.value)) == expected
