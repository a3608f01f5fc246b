"""The bell's dropdown in a real browser (issue 16 point 7), on a desktop (1366 px) and on a
phone (390 px): a click on the bell opens the latest five notifications without leaving the
page, a click on one marks it read and goes to its link (else to the list); Escape and a
click elsewhere close it; no Content-Security-Policy violation (tests/browser/conftest.py)."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone
from django_scopes import scopes_disabled

from crm import services
from crm.models import Notification, User

pytestmark = [pytest.mark.browser]


def _notify(username: str, count: int, link: str = "") -> list[Notification]:
    """``count`` notifications for the demo user, the first one the newest."""
    with scopes_disabled():
        user = User.objects.get(username=username, tenant__slug="demo")
        rows = []
        for i in range(count):
            [row] = services.notification_send(
                tenant_id=user.tenant_id, recipients=[user], title=f"浏览器通知{i}", link=link
            )
            Notification.objects.filter(pk=row.pk).update(
                created_at=timezone.now() - datetime.timedelta(minutes=5 * (i + 1))
            )
            rows.append(row)
        # The demo's own notifications are out of the way (read, and older).
        Notification.objects.filter(recipient=user).exclude(pk__in=[r.pk for r in rows]).update(
            read_at=timezone.now(), created_at=timezone.now() - datetime.timedelta(days=30)
        )
        return rows


def _read_at(row: Notification):
    with scopes_disabled():
        return Notification.objects.get(pk=row.pk).read_at


def _open_bell(page):
    bell = page.locator("#bell")
    dropdown = page.locator("#bell-dropdown")
    assert dropdown.is_hidden()
    url = page.url
    bell.click()
    dropdown.locator("[data-testid=bell-item]").first.wait_for()
    assert page.url == url  # no page load under the user
    assert bell.get_attribute("aria-expanded") == "true"
    return dropdown


def test_bell_dropdown_on_a_desktop(page, sign_in, live_server):
    page.set_viewport_size({"width": 1366, "height": 800})
    rows = _notify("rep1", 7, link=reverse("customers:customer-list"))
    sign_in(page, "rep1")
    assert page.locator("#bell [data-testid=unread-count]").inner_text() == "7"
    assert page.locator("#bell svg").count() == 1

    dropdown = _open_bell(page)
    items = dropdown.locator("[data-testid=bell-item]")
    assert items.count() == 5
    assert [int(items.nth(i).get_attribute("data-notification")) for i in range(5)] == [
        r.pk for r in rows[:5]
    ]
    # "5 分钟前" once the lead merges the translations (/tmp/tidepool-i18n/icons.tsv).
    assert items.first.locator("time").inner_text() in ("5 分钟前", "5 min ago")
    box = dropdown.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 1366

    # Escape closes it, and so does a click elsewhere.
    page.keyboard.press("Escape")
    assert dropdown.is_hidden()
    assert page.locator("#bell").get_attribute("aria-expanded") == "false"
    _open_bell(page)
    page.locator(".topbar-title").click()
    assert dropdown.is_hidden()

    # A click on a notification marks it read and follows its link.
    _open_bell(page)
    with page.expect_navigation():
        dropdown.locator(f"[data-notification='{rows[1].pk}'] button").click()
    assert page.url == live_server.url + reverse("customers:customer-list")
    assert _read_at(rows[1]) is not None
    assert _read_at(rows[0]) is None
    assert page.locator("#bell [data-testid=unread-count]").inner_text() == "6"
    dropdown = _open_bell(page)
    read = dropdown.locator(f"[data-notification='{rows[1].pk}']")
    assert "unread" not in read.get_attribute("class").split()
    assert (
        "unread"
        in dropdown.locator(f"[data-notification='{rows[0].pk}']").get_attribute("class").split()
    )


def test_bell_dropdown_on_a_phone(new_context, live_server, demo_data, sign_in):
    [first, second] = _notify("rep1", 2)
    phone = new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    page = phone.pages[0] if phone.pages else phone.new_page()
    sign_in(page, "rep1")
    page.goto(live_server.url + reverse("crm:notification-list"))
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    dropdown = _open_bell(page)
    items = dropdown.locator("[data-testid=bell-item]")
    # Ours first (the demo's own notifications are older and read).
    assert [items.nth(i).get_attribute("data-notification") for i in range(2)] == [
        str(first.pk),
        str(second.pk),
    ]
    box = dropdown.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    assert page.evaluate("document.documentElement.scrollWidth") == width  # no overflow
    assert dropdown.locator("[data-testid=bell-view-all]").is_visible()

    # Without a link, a notification marked read leads to the notifications page.
    with page.expect_navigation():
        dropdown.locator(f"[data-notification='{second.pk}'] button").tap()
    assert page.url == live_server.url + reverse("crm:notification-list")
    assert page.locator(f"#notification-{second.pk}.unread").count() == 0
    assert _read_at(second) is not None and _read_at(first) is None
    assert page.locator("#bell [data-testid=unread-count]").inner_text() == "1"


def test_the_bell_without_javascript_links_to_the_list(
    new_context, live_server, demo_data, sign_in
):
    _notify("rep1", 1)
    context = new_context(java_script_enabled=False)
    page = context.pages[0] if context.pages else context.new_page()
    sign_in(page, "rep1")
    with page.expect_navigation():
        page.locator("#bell").click()
    assert page.url == live_server.url + reverse("crm:notification-list")
    assert "浏览器通知0" in page.content()
