"""The customer page stays true after htmx actions (issue 16 §4), in a real browser at 1366 px
and on a 390 px phone (demo data, rep1):

* the clicked tab is highlighted after an htmx tab switch, and after back / forward;
* saving a follow-up updates the header's 最近 / 下次跟进时间 at once, without a reload;
* a claim from the page names what was claimed, as a link to it, and the header shows the new
  owner, without a reload.

Screenshots land in /tmp (record-page-<width>-*.png) for a person to look at.
"""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from django_scopes import scopes_disabled

from crm.models import User
from customers.models import Customer

pytestmark = [pytest.mark.browser]

VIEWPORTS = {
    "desktop": {"viewport": {"width": 1366, "height": 768}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
}


@pytest.fixture(params=sorted(VIEWPORTS))
def device(request):
    return request.param


@pytest.fixture
def rep_page(new_context, live_server, demo_data, sign_in, device):
    """rep1 signed in on a fresh profile of the viewport under test."""
    context = new_context(**VIEWPORTS[device])
    page = context.pages[0] if context.pages else context.new_page()
    sign_in(page, "rep1")
    return page


def _rep1() -> User:
    with scopes_disabled():
        return User.objects.get(username="rep1")


def _own_customer(name: str) -> Customer:
    rep1 = _rep1()
    with scopes_disabled():
        return Customer.objects.create(
            tenant_id=rep1.tenant_id, owner=rep1, created_by=rep1, name=name
        )


def _pooled_customer(name: str) -> Customer:
    from customers.pooling import default_pool

    rep1 = _rep1()
    with scopes_disabled():
        group = default_pool(rep1.tenant_id)
        group.daily_claim_limit = 0
        group.claim_mode = group.ClaimMode.SELF
        group.open_to_all = True
        group.save()
        return Customer.objects.create(
            tenant_id=rep1.tenant_id,
            owner=None,
            name=name,
            pool_group=group,
            pooled_at=timezone.now(),
            pool_reason="returned",
        )


def _mark_page(page) -> None:
    """A flag that a full page load would wipe: its presence later proves no reload."""
    page.evaluate("window.__tidepoolNoReload = true")


def _not_reloaded(page) -> bool:
    return page.evaluate("window.__tidepoolNoReload === true")


def _selected_tab(page) -> str:
    return page.locator("[data-tab-bar] [data-tab][aria-selected=true]").get_attribute("data-tab")


def test_tab_highlight_follows_the_loaded_tab_and_back_forward(rep_page, live_server, device):
    page = rep_page
    customer = _own_customer("标签浏览器客户")
    page.goto(f"{live_server.url}/customers/{customer.pk}/")
    assert _selected_tab(page) == "overview"
    _mark_page(page)

    page.click("[data-tab-bar] [data-tab=followups]")
    page.wait_for_selector("[data-tab-bar] [data-tab=followups][aria-selected=true]")
    page.wait_for_selector("#followup-form")
    assert _selected_tab(page) == "followups"
    assert page.locator("[data-tab-bar] a.active").count() == 1
    assert "tab=followups" in page.url

    page.click("[data-tab-bar] [data-tab=contacts]")
    page.wait_for_selector("[data-tab-bar] [data-tab=contacts][aria-selected=true]")
    assert _selected_tab(page) == "contacts"
    assert _not_reloaded(page)
    page.screenshot(path=f"/tmp/record-page-{device}-tabs.png")

    page.go_back()
    page.wait_for_selector("[data-tab-bar] [data-tab=followups][aria-selected=true]")
    assert _selected_tab(page) == "followups"
    assert "tab=followups" in page.url
    page.go_forward()
    page.wait_for_selector("[data-tab-bar] [data-tab=contacts][aria-selected=true]")
    assert _selected_tab(page) == "contacts"


def test_saving_a_follow_up_updates_the_header_without_a_reload(rep_page, live_server, device):
    page = rep_page
    customer = _own_customer("跟进浏览器客户")
    page.goto(f"{live_server.url}/customers/{customer.pk}/?tab=followups")
    assert page.locator("[data-testid=next-followup]").inner_text().strip() == "—"
    _mark_page(page)

    next_at = timezone.localtime() + datetime.timedelta(days=3)
    next_at = next_at.replace(hour=10, minute=30, second=0, microsecond=0)
    form = page.locator("#followup-form")
    kind = form.locator("select[name=kind]")
    if kind.count():
        kind.select_option(index=1)
    else:  # the follow-up types as chips (radios)
        form.locator("input[name=kind]").first.check()
    form.locator("[name=content]").fill("浏览器里写的跟进")
    form.locator("[name=next_followup_at]").fill(next_at.strftime("%Y-%m-%dT%H:%M"))
    form.locator("button[type=submit]").click()

    expected = next_at.strftime("%Y-%m-%d %H:%M")
    page.wait_for_function(
        "text => document.querySelector('[data-testid=next-followup]').innerText.trim() === text",
        arg=expected,
    )
    last = page.locator("[data-testid=last-followup]").inner_text()
    assert timezone.localtime().strftime("%Y-%m-%d") in last
    assert "浏览器里写的跟进" in page.locator("#tab-body").inner_text()
    assert _selected_tab(page) == "followups"
    assert _not_reloaded(page)
    page.screenshot(path=f"/tmp/record-page-{device}-followup.png", full_page=True)


def test_claim_from_the_page_names_and_links_the_customer(rep_page, live_server, device):
    page = rep_page
    customer = _pooled_customer(f"武汉宏图{device}")
    url = f"/customers/{customer.pk}/"
    page.goto(f"{live_server.url}{url}")
    assert page.locator("[data-testid=customer-owner]").inner_text().strip() != "张伟"
    _mark_page(page)

    page.click("[data-testid=claim]")
    link = page.locator(f'#messages a[href="{url}"]')
    link.wait_for()
    assert link.inner_text() == customer.name
    page.wait_for_function("() => !document.querySelector('[data-testid=claim]')")
    assert page.locator("[data-testid=customer-owner]").inner_text().strip() == "张伟"
    assert page.locator("[data-testid=recycle-forecast], [data-testid=pool-state]").count() <= 1
    assert _not_reloaded(page)
    page.screenshot(path=f"/tmp/record-page-{device}-claimed.png")
    with scopes_disabled():
        assert Customer.objects.get(pk=customer.pk).owner_id == _rep1().pk
