"""Customer journeys in a real browser (demo data, rep1): create a customer with its first
contact, meet the live duplicate warning on a second one with the same phone, record a
follow-up with a next follow-up later today, and find the customer under 今日待跟进.

Screenshots land in /tmp (customers-list-1280.png, customers-list-375.png and -375-top.png,
customer-detail-1280.png, customer-detail-375.png, customer-form-1280.png,
customer-duplicate-warning.png) for a person to look at.
"""

from __future__ import annotations

import datetime
import re
from urllib.parse import urlsplit

import pytest
from django.utils import timezone
from django_scopes import scopes_disabled

from customers.models import Customer, FollowUp

pytestmark = [pytest.mark.browser]

NAME = "浏览器测试客户"
PHONE = "13912345678"


def path_of(page) -> str:
    return urlsplit(page.url).path


def next_followup_later_today() -> datetime.datetime:
    """An hour from now, or 23:59 after 23:00 (server time: 今日待跟进 is the server's day)."""
    now = timezone.localtime()
    later = now + datetime.timedelta(hours=1)
    if now.hour >= 23:
        later = now.replace(hour=23, minute=59)
    return later.replace(second=0, microsecond=0)


def test_rep_creates_a_customer_meets_the_duplicate_warning_and_follows_up(
    page, sign_in, live_server
):
    sign_in(page, "rep1")

    # 1. The customer with its first contact.
    page.goto(f"{live_server.url}/customers/add/")
    # The tags (several checkboxes) have their label above them, not after the list.
    label = page.locator(".field:has(#id_tags) > label").bounding_box()
    choices = page.locator("#id_tags").bounding_box()
    assert label["y"] + label["height"] <= choices["y"] + 1, (label, choices)
    page.screenshot(path="/tmp/customer-form-1280.png", full_page=True)
    page.fill("#id_name", NAME)
    page.fill("#id_contact_name", "赵测试")
    page.fill("#id_contact_phone", PHONE)
    with page.expect_navigation():
        page.click("form.customer-form button[type=submit]")
    assert re.fullmatch(r"/customers/\d+/", path_of(page)), page.url
    first_url = page.url
    assert page.locator("[data-testid=customer-name]").inner_text() == NAME
    with scopes_disabled():
        customer = Customer.objects.get(name=NAME)
        assert customer.owner.username == "rep1"
        assert customer.contacts.get().mobile == PHONE

    # 2. A second customer with the same phone: the warning appears while typing.
    page.goto(f"{live_server.url}/customers/add/")
    warning = page.locator("[data-testid=duplicate-warning]")
    assert warning.count() == 0
    page.fill("#id_name", "另一家公司")
    page.fill("#id_contact_name", "钱测试")
    page.fill("#id_contact_phone", PHONE)
    warning.wait_for(state="visible")
    assert NAME in warning.inner_text()
    # rep1 owns it: the match is a link to the customer.
    assert warning.locator(f"a[href='/customers/{customer.pk}/']").count() == 1
    page.screenshot(path="/tmp/customer-duplicate-warning.png")
    # Saving without confirming is refused, and the warning is still there.
    response = None
    with page.expect_navigation() as navigation:
        page.click("form.customer-form button[type=submit]")
    response = navigation.value
    assert response.status == 422
    assert NAME in page.locator("[data-testid=duplicate-warning]").inner_text()
    with scopes_disabled():
        assert not Customer.objects.filter(name="另一家公司").exists()

    # 3. A follow-up on the first customer, due again later today.
    due = next_followup_later_today()
    page.goto(f"{first_url}?tab=followups")
    form = page.locator("#followup-form")
    form.wait_for(state="visible")
    # The type is a row of tap chips (radio inputs), one already chosen for the user.
    form.locator(".chip-group label").first.click()
    page.fill("#id_content", "浏览器里记的跟进：约了下午再打")
    page.fill("#id_next_followup_at", due.strftime("%Y-%m-%dT%H:%M"))
    page.click("#followup-form button[type=submit]")
    # htmx swaps the tab: the new entry shows in the timeline, the message out of band.
    page.locator(".timeline-item", has_text="约了下午再打").wait_for(state="visible")
    assert page.locator("#messages .alert").count() == 1
    with scopes_disabled():
        assert FollowUp.objects.filter(customer=customer).count() == 1
        customer.refresh_from_db()
    assert customer.next_followup_at == due

    page.goto(first_url)
    page.screenshot(path="/tmp/customer-detail-1280.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280

    # 4. 今日待跟进 lists it.
    response = page.goto(f"{live_server.url}/customers/?view=today")
    assert response.status == 200
    row = page.locator("table.customer-table tbody tr", has_text=NAME)
    assert row.count() == 1
    assert row.locator(f"a[href='/customers/{customer.pk}/']").is_visible()
    assert page.locator("a[data-view=today]").get_attribute("class") == "active"


def test_customer_list_screenshots_desktop_and_phone(page, sign_in, live_server, new_context):
    sign_in(page, "rep1")
    response = page.goto(f"{live_server.url}/customers/?view=all")
    assert response.status == 200
    assert page.locator("table.customer-table tbody tr").count() == 20  # 20 a page by default
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    page.screenshot(path="/tmp/customers-list-1280.png", full_page=True)

    phone = new_context(
        viewport={"width": 375, "height": 812},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    mobile = phone.pages[0] if phone.pages else phone.new_page()
    sign_in(mobile, "rep1")
    response = mobile.goto(f"{live_server.url}/customers/?view=all")
    assert response.status == 200
    mobile.screenshot(path="/tmp/customers-list-375.png", full_page=True)
    mobile.screenshot(path="/tmp/customers-list-375-top.png")
    scroll_width = mobile.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= 375 + 1, f"horizontal overflow: scrollWidth={scroll_width}"
    # The first customer link is on screen, not pushed off to the right.
    first = mobile.locator("table.customer-table tbody tr td a").first
    box = first.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 375 + 1, box

    # The customer page on the phone.
    with mobile.expect_navigation():
        first.click()
    assert re.fullmatch(r"/customers/\d+/", path_of(mobile)), mobile.url
    mobile.screenshot(path="/tmp/customer-detail-375.png", full_page=True)
    scroll_width = mobile.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= 375 + 1, f"horizontal overflow: scrollWidth={scroll_width}"
