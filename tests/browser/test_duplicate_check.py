"""查重 in a real browser (demo data, rep1): once the per-user budget of duplicate checks is
spent, the customer form's live warning shows the 429 message in its place (htmx swaps 429
like 422, static/js/tidepool.js) instead of failing silently."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser]


def test_a_throttled_live_check_says_so(page, sign_in, live_server, settings):
    settings.DUPLICATE_CHECK_PER_MINUTE = 0
    sign_in(page, "rep1")
    page.goto(f"{live_server.url}/customers/add/")
    page.fill("#id_name", "节流测试公司")
    error = page.locator("[data-testid=duplicate-error]")
    error.wait_for(state="visible")
    assert error.get_attribute("role") == "alert"
    assert error.inner_text().strip()
    assert page.locator("[data-testid=duplicate-warning]").count() == 0
