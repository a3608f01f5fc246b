"""最近浏览 in a real browser (issue 16 point 6): open two customers and a lead, then the top
bar's clock menu lists them newest first (loaded when the menu opens, without leaving the
page) and the workbench's panel shows them; on a phone (390 px) the menu stays on screen.
No Content-Security-Policy violation (tests/browser/conftest.py)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django_scopes import scopes_disabled

from crm.models import User
from customers.models import Customer
from leads.models import Lead

pytestmark = [pytest.mark.browser]


def _records(username: str):
    """Two customers and a lead the demo user owns and sees on their lists."""
    with scopes_disabled():
        user = User.objects.get(username=username, tenant__slug="demo")
        customers = list(Customer.objects.outside_pool().filter(owner=user).order_by("pk")[:2])
        lead = Lead.objects.outside_pool().filter(owner=user).order_by("pk").first()
    assert len(customers) == 2 and lead is not None, "the demo gives rep1 customers and leads"
    return customers, lead


def _listed(container) -> list[tuple[str, int]]:
    items = container.locator("[data-testid=recent-item]")
    return [
        (items.nth(i).get_attribute("data-kind"), int(items.nth(i).get_attribute("data-object")))
        for i in range(items.count())
    ]


def _open_all(page, live_server, customers, lead) -> list[tuple[str, int]]:
    for customer in customers:
        page.goto(live_server.url + reverse("customers:customer-detail", args=[customer.pk]))
    page.goto(live_server.url + reverse("leads:lead-detail", args=[lead.pk]))
    return [("lead", lead.pk), ("customer", customers[1].pk), ("customer", customers[0].pk)]


def _open_menu(page):
    menu = page.locator("[data-testid=recent-menu]")
    url = page.url
    menu.locator("summary").click()
    dropdown = menu.locator(".recent-dropdown")
    dropdown.locator("[data-testid=recent-item]").first.wait_for()
    assert page.url == url  # no page load under the user
    return dropdown


def test_recent_views_in_the_top_bar_and_on_the_workbench(page, sign_in, live_server):
    page.set_viewport_size({"width": 1366, "height": 800})
    customers, lead = _records("rep1")
    sign_in(page, "rep1")
    expected = _open_all(page, live_server, customers, lead)

    dropdown = _open_menu(page)
    assert _listed(dropdown)[:3] == expected
    first = dropdown.locator("[data-testid=recent-item]").first
    assert first.locator(".recent-kind").inner_text() == "线索"
    assert lead.company in first.locator(".recent-name").inner_text()
    page.screenshot(path="/tmp/recent-menu-1366.png")

    # A click on a line opens that record.
    with page.expect_navigation():
        dropdown.locator("[data-testid=recent-item] a").nth(1).click()
    assert page.url.endswith(reverse("customers:customer-detail", args=[customers[1].pk]))

    page.goto(live_server.url + reverse("crm:workbench"))
    panel = page.locator("[data-testid=recent-panel]")
    # The customer opened last is now first.
    assert _listed(panel)[:3] == [expected[1], expected[0], expected[2]]
    page.screenshot(path="/tmp/recent-workbench-1366.png", full_page=True)

    # A click elsewhere closes the menu (tidepool.js closes open details.menu).
    menu = page.locator("[data-testid=recent-menu]")
    menu.locator("summary").click()
    menu.locator(".recent-dropdown [data-testid=recent-item]").first.wait_for()
    page.locator("[data-testid=workbench-greeting]").click()
    assert menu.get_attribute("open") is None


def test_recent_menu_on_a_phone_stays_on_screen(page, sign_in, live_server):
    page.set_viewport_size({"width": 390, "height": 844})
    customers, lead = _records("rep1")
    sign_in(page, "rep1")
    expected = _open_all(page, live_server, customers, lead)
    dropdown = _open_menu(page)
    assert _listed(dropdown)[:3] == expected
    box = dropdown.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
    assert not overflow
    page.screenshot(path="/tmp/recent-menu-390.png")
