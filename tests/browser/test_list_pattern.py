"""The list pattern in a browser (issue 16): the batch bar appears only when rows are ticked
and counts them; the quick-filter chips and sortable headers filter and order the list; on a
390 px phone the lists of customers, leads and both pools are cards with no horizontal
overflow and no cell squeezed below two characters."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser]

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True}

# Elements of a list narrower than two characters of their own font, or a short text broken
# over lines ("领/取"): the selectors are the list's cells, chips, badges and buttons.
SQUEEZED = """(root) => {
  const out = [];
  for (const el of root.querySelectorAll(
      'td, th, .chip-sm, .chip-filter, .badge, .btn, .tag, .page-size a, .page-size b'
      )) {
    const box = el.getBoundingClientRect();
    const text = (el.innerText || '').trim();
    if (!text || box.width === 0 || box.height === 0) continue;
    const style = getComputedStyle(el);
    const size = parseFloat(style.fontSize);
    const what = `${el.tagName}.${el.className} "${text}"`;
    if (box.width < 2 * size) out.push(`${what} ${box.width}px wide`);
    const line = parseFloat(style.lineHeight) || size * 1.5;
    if (text.length <= 6 && !text.includes('\\n') && box.height > 2.2 * line
        && !el.matches('td, th')) {
      out.push(`${el.tagName}.${el.className} "${text}" wraps (${box.height}px high)`);
    }
  }
  return out;
}"""

WIDER_THAN_SCREEN = """() => [...document.querySelectorAll('.content *')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
  .map(e => e.tagName + '.' + e.className).slice(0, 8)"""


def _page(new_context, **options):
    context = new_context(**options)
    return context.pages[0] if context.pages else context.new_page()


def test_the_batch_bar_appears_when_rows_are_ticked(new_context, live_server, demo_data, sign_in):
    page = _page(new_context)
    sign_in(page, "manager1")
    page.goto(f"{live_server.url}/customers/?view=team")
    bar = page.locator("[data-batch-bar]")
    assert not bar.is_visible()  # nothing ticked: no bar
    boxes = page.locator("#batch-form input[name=ids]")
    assert boxes.count() >= 2
    boxes.nth(0).check()
    assert bar.is_visible()
    assert bar.locator("[data-batch-count]").inner_text() == "1"
    boxes.nth(1).check()
    assert bar.locator("[data-batch-count]").inner_text() == "2"
    assert "已选" in bar.inner_text() and "转移" in bar.inner_text()
    page.screenshot(path="/tmp/list-batch-bar.png")
    # 取消 unticks everything and the bar goes away.
    bar.locator("[data-batch-clear]").click()
    assert not bar.is_visible()
    # Select all ticks the page.
    page.locator("[data-check-all]").check()
    assert bar.locator("[data-batch-count]").inner_text() == str(boxes.count())


def test_chips_sort_headers_and_page_size(new_context, live_server, demo_data, sign_in):
    page = _page(new_context)
    sign_in(page, "rep1")
    page.goto(f"{live_server.url}/customers/")
    # The search box is on screen; the advanced panel is closed.
    assert page.locator("[data-list-search] input[name=q]").is_visible()
    assert page.locator("details[data-advanced]").get_attribute("open") is None
    page.click("[data-chip=due_today]")
    assert "due=today" in page.url
    assert page.locator("[data-chip=due_today]").get_attribute("aria-current") == "true"
    # 今日待跟进 runs by the time of day: the next follow-up header is the one sorted, ascending.
    sorted_header = page.locator("th[aria-sort]")
    assert sorted_header.count() == 1 and sorted_header.get_attribute("aria-sort") == "ascending"
    times = page.locator("td[data-next-followup]").all_inner_texts()
    assert times == sorted(times)
    # The chip again takes the filter off.
    page.click("[data-chip=due_today]")
    assert "due=" not in page.url
    # A header sorts by its column.
    page.click("th.sortable a:has-text('客户')")
    assert "sort=name" in page.url
    # 50 a page.
    page.click("[data-page-size] a:has-text('50')")
    assert "per=50" in page.url
    assert "第 1" in page.locator("[data-page-position]").inner_text()
    page.screenshot(path="/tmp/list-desktop.png", full_page=True)


@pytest.mark.parametrize(
    ("username", "path", "name"),
    [
        ("rep1", "/customers/?view=mine", "customers"),
        ("rep1", "/leads/", "leads"),
        ("manager1", "/pools/", "customer-pool"),
        ("manager1", "/leads/pool/", "lead-pool"),
    ],
)
def test_phone_lists_are_cards_without_overflow(
    new_context, live_server, demo_data, sign_in, username, path, name
):
    page = _page(new_context, **PHONE)
    sign_in(page, username)
    page.goto(f"{live_server.url}{path}")
    rows = page.locator(".list-table tbody tr")
    assert rows.count() >= 1
    assert page.locator(".list-table thead").is_hidden()
    wide = page.evaluate(WIDER_THAN_SCREEN)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1, wide
    squeezed = page.locator(".content").evaluate(SQUEEZED)
    assert not squeezed, squeezed
    # The batch bar does not take the first screen: nothing is ticked.
    assert not page.locator("[data-batch-bar]").first.is_visible()
    page.screenshot(path=f"/tmp/list-390-{name}.png", full_page=True)


@pytest.mark.parametrize("viewport", [None, PHONE], ids=["desktop", "phone"])
def test_the_return_modal_of_the_list_refuses_an_empty_reason_in_chinese(
    new_context, live_server, demo_data, sign_in, viewport
):
    from django_scopes import scopes_disabled

    from customers.models import Customer

    page = _page(new_context, **(viewport or {}))
    sign_in(page, "rep1")
    page.goto(f"{live_server.url}/customers/?view=mine")
    box = page.locator("#batch-form input[name=ids]").first
    pk = int(box.get_attribute("value"))
    box.check()
    page.click("[data-testid=batch-return]")
    dialog = page.locator("#batch-return-modal")
    assert dialog.is_visible()
    dialog.locator("[data-testid=modal-submit]").click()
    # The server's error, in Chinese, under the field; no browser bubble, no page change.
    error = dialog.locator("[data-testid=modal-error]")
    error.wait_for()
    assert "请选择退回公海的原因" in error.inner_text()
    assert page.url.endswith("/customers/?view=mine") and dialog.is_visible()
    with scopes_disabled():
        assert Customer.objects.get(pk=pk).pooled_at is None
    # With a reason the ticked row goes to the pool and the list says so by name.
    dialog.locator("select[name=reason]").select_option(index=1)
    with page.expect_navigation():
        dialog.locator("[data-testid=modal-submit]").click()
    with scopes_disabled():
        customer = Customer.objects.get(pk=pk)
    assert customer.pooled_at is not None
    assert customer.name in page.locator("#messages").inner_text()
    assert not page.locator(f"#batch-form input[name=ids][value='{pk}']").count()
