"""The workbench as a cockpit in a browser (issue 16): on a phone (390 px) the work lists
come before the KPI row and the team table, with no horizontal overflow; on a desktop the
KPI row comes first. A manager sees the per-rep table."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser]


def _top(page, selector: str) -> float:
    return page.locator(selector).first.bounding_box()["y"]


def test_on_a_phone_the_lists_come_first(new_context, live_server, demo_data, sign_in):
    context = new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
    )
    page = context.pages[0] if context.pages else context.new_page()
    sign_in(page, "manager1")
    wide = page.evaluate(
        """() => [...document.querySelectorAll('.workbench *')]
        .filter(e => e.getBoundingClientRect().right > 391 && !e.closest('.table-wrap'))
        .map(e => e.tagName + '.' + e.className).slice(0, 5)"""
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1, wide
    lists = _top(page, ".workbench > .wb-area-list")
    kpis = _top(page, "[data-testid=workbench-kpis]")
    team = _top(page, "[data-testid=workbench-team]")
    assert lists < kpis < team
    page.screenshot(path="/tmp/workbench-390-cockpit.png", full_page=True)


def test_on_a_desktop_the_kpi_row_comes_first(page, live_server, sign_in):
    sign_in(page, "manager1")
    kpis = _top(page, "[data-testid=workbench-kpis]")
    lists = _top(page, ".workbench > .wb-area-list")
    assert kpis < lists < _top(page, "[data-testid=workbench-team]")
    # Every KPI is a link to a list.
    hrefs = page.locator("[data-testid=workbench-kpis] a.kpi").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))"
    )
    assert len(hrefs) >= 5 and all(h.startswith("/") for h in hrefs)
    page.screenshot(path="/tmp/workbench-1280-cockpit.png", full_page=True)
