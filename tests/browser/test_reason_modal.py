"""Issue 16 §2–3 in a real browser (demo data, rep1, chromium) at 1366 px and on a 390×844 phone:

* 退回公海 opens a modal <dialog>; submitted without a reason, the server answers with the
  Chinese error under the field (请选择退回公海的原因。), no browser bubble, no navigation; with a
  reason the customer goes back to the pool, the dialog closes and the header changes in place;
* on the phone a bottom bar (打电话 · 写跟进 · 更多) with a tel: link to the primary contact, the
  page's last content not hidden under it; 更多 opens the same modal; no bar on the desktop;
* the follow-up form's quick picks fill the next follow-up time (Asia/Shanghai, the server's zone).

Screenshots land in /tmp (reason-modal-<device>-*.png).
"""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from django_scopes import scopes_disabled

from crm.models import User
from customers.models import Contact, Customer

pytestmark = [pytest.mark.browser]

VIEWPORTS = {
    "desktop": {"viewport": {"width": 1366, "height": 768}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
}
PHONE = "13700001111"


@pytest.fixture(params=sorted(VIEWPORTS))
def device(request):
    return request.param


@pytest.fixture
def rep_page(new_context, live_server, demo_data, sign_in, device):
    context = new_context(**VIEWPORTS[device])
    page = context.pages[0] if context.pages else context.new_page()
    sign_in(page, "rep1")
    return page


def _customer(name: str) -> Customer:
    """A customer of rep1 in the default public pool's group, with a primary contact."""
    from customers.pooling import default_pool

    with scopes_disabled():
        rep1 = User.objects.get(username="rep1")
        group = default_pool(rep1.tenant_id)
        customer = Customer.objects.create(
            tenant_id=rep1.tenant_id,
            owner=rep1,
            created_by=rep1,
            name=name,
            pool_group=group,
            owned_since=timezone.now(),
        )
        Contact.objects.create(
            tenant_id=rep1.tenant_id, customer=customer, name="王经理", mobile=PHONE
        )
        return customer


def _mark_page(page) -> None:
    page.evaluate("window.__tidepoolNoReload = true")


def _not_reloaded(page) -> bool:
    return page.evaluate("window.__tidepoolNoReload === true")


def test_return_modal_refuses_an_empty_reason_inline_then_returns(rep_page, live_server, device):
    page = rep_page
    customer = _customer(f"弹窗退回{device}")
    url = f"{live_server.url}/customers/{customer.pk}/"
    page.goto(url)
    _mark_page(page)
    dialog = page.locator("#return-modal")
    assert not dialog.is_visible()

    if device == "phone":  # through the bottom bar's 更多 menu
        page.click("[data-testid=record-bar-more]")
        page.click(".record-bar-menu [data-dialog-open=return-modal]")
    else:
        page.click("[data-testid=return]")
    dialog.wait_for(state="visible")
    assert dialog.evaluate("d => d.open && d.matches(':modal')")

    # No reason: the browser asks nothing (novalidate), the server answers 422 with the error.
    assert dialog.locator("form").get_attribute("novalidate") is not None
    dialog.locator("[data-testid=modal-submit]").click()
    error = dialog.locator("[data-testid=modal-error]")
    error.wait_for()
    assert error.inner_text().strip() == "请选择退回公海的原因。"
    assert error.get_attribute("role") == "alert"
    assert dialog.evaluate("d => d.open")
    assert page.url == url and _not_reloaded(page)
    page.screenshot(path=f"/tmp/reason-modal-{device}-error.png")
    with scopes_disabled():
        assert Customer.objects.get(pk=customer.pk).owner_id is not None

    # A reason: returned, the dialog gone, the header in the pool, no reload.
    dialog.locator("select[name=reason]").select_option(index=1)
    dialog.locator("[data-testid=modal-submit]").click()
    page.locator("[data-testid=pool-state]").wait_for()
    page.wait_for_function("() => !document.querySelector('dialog[open]')")
    assert page.locator(f'#messages a[href="/customers/{customer.pk}/"]').count() == 1
    assert page.url == url and _not_reloaded(page)
    page.screenshot(path=f"/tmp/reason-modal-{device}-returned.png")
    with scopes_disabled():
        after = Customer.objects.get(pk=customer.pk)
    assert after.owner_id is None and after.pooled_at is not None


def test_phone_bottom_bar_calls_the_primary_contact(rep_page, live_server, device):
    page = rep_page
    customer = _customer(f"底栏{device}")
    page.goto(f"{live_server.url}/customers/{customer.pk}/")
    bar = page.locator("[data-testid=record-bar]")
    if device == "desktop":
        assert not bar.is_visible()
        return
    assert bar.is_visible()
    box = bar.bounding_box()
    assert box["y"] + box["height"] == pytest.approx(844, abs=1) and box["width"] <= 390
    call = bar.locator("a[data-testid=record-bar-call]")
    assert call.get_attribute("href") == f"tel:{PHONE}"
    assert bar.locator("[data-testid=record-bar-followup]").is_visible()
    # The page's end scrolls clear of the bar.
    padding = page.evaluate("parseFloat(getComputedStyle(document.body).paddingBottom)")
    assert padding >= box["height"]
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=f"/tmp/reason-modal-{device}-bar.png", full_page=True)

    # 写跟进 from another tab: the follow-ups tab at its form.
    bar.locator("[data-testid=record-bar-followup]").click()
    page.locator("#followup-form").wait_for()
    assert "tab=followups" in page.url


def test_quick_picks_fill_the_next_follow_up_time(rep_page, live_server, device):
    page = rep_page
    customer = _customer(f"快捷{device}")
    page.goto(f"{live_server.url}/customers/{customer.pk}/?tab=followups")
    field = page.locator("#id_next_followup_at")
    now = timezone.localtime()  # TIME_ZONE, Asia/Shanghai
    tomorrow = (now + datetime.timedelta(days=1)).strftime("%Y-%m-%dT09:00")
    monday = now + datetime.timedelta(days=(7 - now.weekday()) or 7)
    in_3 = (now + datetime.timedelta(days=3)).strftime("%Y-%m-%dT09:00")

    page.click("[data-quick-pick=tomorrow-am]")
    assert field.input_value() == tomorrow
    page.click("[data-quick-pick=next-monday]")
    assert field.input_value() == monday.strftime("%Y-%m-%dT09:00")
    assert page.locator("[data-quick-pick=next-monday]").get_attribute("aria-pressed") == "true"
    page.click("[data-quick-pick=in-3-days]")
    assert field.input_value() == in_3
    page.click("[data-quick-pick=today-pm]")
    value = field.input_value()
    if now.hour < 14:
        assert value == now.strftime("%Y-%m-%dT14:00")
    else:
        later = datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M")
        wanted = now.replace(tzinfo=None) + datetime.timedelta(hours=2)
        assert (
            datetime.timedelta(0)
            <= later - wanted.replace(second=0, microsecond=0)
            <= (datetime.timedelta(minutes=16))
        )
    # The type chips: one tap picks a type.
    chips = page.locator("#followup-form .chip-group label")
    chips.nth(1).click()
    assert page.locator("#followup-form input[name=kind]").nth(1).is_checked()
    page.locator("#followup-form").screenshot(path=f"/tmp/reason-modal-{device}-followup.png")
