"""The lead journey in a real browser (demo data, rep1, issue 6): create a lead for a company
that is already rep1's customer (the live duplicate warning names it), log a follow-up on
the lead, convert the lead into that existing customer, and find the lead's follow-up on the
customer page.

Screenshots land in /tmp (lead-form-duplicate.png, lead-detail-1280.png, lead-convert.png,
lead-customer-followups.png, lead-list-375.png) for a person to look at.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django_scopes import scopes_disabled

from customers import owned
from customers.models import Customer, FollowUp, OwnershipEvent
from leads.models import Lead, LeadEvent

pytestmark = [pytest.mark.browser]

FOLLOWUP = "浏览器线索跟进：对方要两台挖掘机的报价"


def path_of(page) -> str:
    return urlsplit(page.url).path


def test_rep_creates_a_lead_follows_up_and_converts_it_into_an_existing_customer(
    page, sign_in, live_server
):
    with scopes_disabled():
        customer = (
            Customer.objects.filter(owner__username="rep1", deleted_at__isnull=True)
            .order_by("id")
            .first()
        )
        followups_before = FollowUp.objects.filter(customer=customer).count()
    assert customer is not None
    sign_in(page, "rep1")

    # 1. The lead, for a company rep1 already has as a customer: the warning names it.
    page.goto(f"{live_server.url}/leads/add/")
    page.fill("#id_name", "周浏览")
    page.fill("#id_mobile", "13911112222")
    page.fill("#id_company", customer.name)
    warning = page.locator("[data-testid=duplicate-warning]")
    warning.wait_for(state="visible")
    assert customer.name in warning.inner_text()
    page.screenshot(path="/tmp/lead-form-duplicate.png", full_page=True)
    # Saving without confirming is refused (422) with the duplicates listed; nothing saved.
    with page.expect_navigation() as navigation:
        page.click("form.lead-form button[type=submit]")
    assert navigation.value.status == 422
    assert customer.name in page.locator("[data-testid=duplicate-warning]").inner_text()
    with scopes_disabled():
        assert not Lead.objects.filter(mobile="13911112222").exists()
    page.locator("#id_confirm_duplicates").check()
    with page.expect_navigation():
        page.click("form.lead-form button[type=submit]")
    assert re.fullmatch(r"/leads/\d+/", path_of(page)), page.url
    lead_url = page.url
    with scopes_disabled():
        lead = Lead.objects.get(mobile="13911112222")
        assert lead.owner.username == "rep1"
        assert lead.status == Lead.Status.NEW

    # 2. A follow-up on the lead (htmx tab).
    page.goto(f"{lead_url}?tab=followups")
    form = page.locator("#followup-form")
    form.wait_for(state="visible")
    # The follow-up types are tap chips (radio inputs in labels): tap the first.
    form.locator(".chip-group label").first.click()
    page.fill("#id_content", FOLLOWUP)
    page.click("#followup-form button[type=submit]")
    page.locator(".timeline-item", has_text=FOLLOWUP).wait_for(state="visible")
    with scopes_disabled():
        lead.refresh_from_db()
        assert lead.status == Lead.Status.CONTACTED
        assert FollowUp.objects.filter(owned.on(lead), content=FOLLOWUP).count() == 1
    page.goto(lead_url)
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    page.screenshot(path="/tmp/lead-detail-1280.png", full_page=True)

    # 3. 转为客户: the page offers the existing customer (same company name), chosen.
    with page.expect_navigation():
        page.click("[data-testid=convert]")
    assert path_of(page) == f"/leads/{lead.pk}/convert/"
    assert customer.name in page.locator("[data-testid=convert-matches]").inner_text()
    merge = page.locator(f"input[name=target][value='{customer.pk}']")
    merge.check()
    page.screenshot(path="/tmp/lead-convert.png", full_page=True)
    with page.expect_navigation():
        page.click("[data-testid=convert-form] button[type=submit]")
    assert path_of(page) == f"/customers/{customer.pk}/", page.url
    with scopes_disabled():
        lead.refresh_from_db()
        assert lead.status == Lead.Status.CONVERTED
        assert lead.customer_id == customer.pk
        assert LeadEvent.objects.filter(lead=lead, kind=LeadEvent.Kind.CONVERTED).count() == 1
        # Merged, not created: no new customer and no CONVERTED ownership event on it.
        assert not OwnershipEvent.objects.filter(
            customer=customer, kind=OwnershipEvent.Kind.CONVERTED
        ).exists()
        assert FollowUp.objects.filter(customer=customer).count() == followups_before + 1

    # 4. The lead's follow-up is on the customer page.
    page.goto(f"{live_server.url}/customers/{customer.pk}/?tab=followups")
    page.locator(".timeline-item", has_text=FOLLOWUP).wait_for(state="visible")
    page.screenshot(path="/tmp/lead-customer-followups.png", full_page=True)

    # The converted lead is read-only: no convert or edit action any more.
    page.goto(lead_url)
    assert page.locator("[data-testid=convert]").count() == 0
    assert page.locator("[data-testid=lead-customer]").is_visible()


def test_lead_list_fits_a_phone(new_context, live_server, demo_data, sign_in):
    phone = new_context(
        viewport={"width": 375, "height": 812},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    mobile = phone.pages[0] if phone.pages else phone.new_page()
    sign_in(mobile, "rep1")
    response = mobile.goto(f"{live_server.url}/leads/")
    assert response.status == 200
    assert mobile.locator("table tbody tr").count() > 0
    mobile.screenshot(path="/tmp/lead-list-375.png", full_page=True)
    scroll_width = mobile.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= 375 + 1, f"horizontal overflow: scrollWidth={scroll_width}"
