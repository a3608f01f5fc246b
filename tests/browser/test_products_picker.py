"""The product picker and the product list in a real browser (products helper): typing
searches (htmx) by code, name or specification; the keyboard walks the results (↓ from the
search box, ↑ ↓, Enter chooses); on a phone (390 px) the list and the picker fit the screen;
no Content-Security-Policy violation (tests/browser/conftest.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django_scopes import scopes_disabled
from playwright.sync_api import expect

from crm.models import Tenant
from opportunities.models import Product, ProductCategory

pytestmark = [pytest.mark.browser, pytest.mark.urls("tests.opportunities.urls_picker_embed")]


def _catalogue() -> list[Product]:
    with scopes_disabled():
        tenant = Tenant.objects.get(slug="demo")
        category = ProductCategory.objects.create(tenant=tenant, name="浏览器测试分类")
        category.path = f"/{category.pk}/"
        category.save(update_fields=["path"])
        return [
            Product.objects.create(
                tenant=tenant,
                name=f"浏览器叉车{i}",
                code=f"BRW-{i}",
                spec=f"{i}吨",
                category=category,
                price=Decimal("1000") * i,
            )
            for i in (1, 2, 3)
        ]


def test_the_picker_searches_and_works_with_the_keyboard(page, sign_in, live_server):
    products = _catalogue()
    sign_in(page, "rep1")
    page.goto(f"{live_server.url}/products/picker/")
    search = page.locator("[data-pp-input]")
    search.fill("浏览器叉车")
    options = page.locator("[data-pp-option]")
    expect(options).to_have_count(3)
    search.fill("BRW-2")
    expect(options).to_have_count(1)
    assert options.first.get_attribute("data-product-id") == str(products[1].pk)
    search.fill("吨 浏览器")
    expect(options).to_have_count(3)
    # Leaving the search box (its change event) must not reload the results under the
    # keyboard: the focus would be lost with the replaced options.
    search.press("ArrowDown")
    focused = page.evaluate("document.activeElement.dataset.productId")
    assert focused == options.nth(0).get_attribute("data-product-id")
    page.keyboard.press("ArrowDown")
    second = options.nth(1).get_attribute("data-product-id")
    assert page.evaluate("document.activeElement.dataset.productId") == second
    assert options.nth(1).get_attribute("aria-selected") == "true"
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")  # back to the search box
    assert page.evaluate("document.activeElement.hasAttribute('data-pp-input')")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    with page.expect_navigation():
        page.keyboard.press("Enter")  # on its own page a choice opens the product
    assert page.url.endswith(f"/products/{second}/")


def test_product_list_and_picker_fit_a_phone(new_context, live_server, demo_data, sign_in):
    _catalogue()
    context = new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.pages[0] if context.pages else context.new_page()
    sign_in(page, "admin")
    for path in ("/products/", "/products/picker/?q=浏览器", "/products/categories/"):
        page.goto(f"{live_server.url}{path}")
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} overflows by {overflow}px"


def test_the_dialog_fills_the_line_that_opened_it(page, sign_in, live_server):
    """The embedding contract (product_picker_dialog.html): a row's button opens the dialog,
    the choice fills that row's select (option added), label and empty sale price (the
    customer's last sold price when there is one) and closes the dialog."""
    import datetime

    from crm.models import User
    from customers.models import Customer
    from opportunities.models import Opportunity, OpportunityStage
    from tests.opportunities.factories import make_opportunity

    products = _catalogue()
    with scopes_disabled():
        rep = User.objects.get(username="rep1", tenant__slug="demo")
        customer = Customer.objects.filter(tenant_id=rep.tenant_id, owner=rep).first()
        won = OpportunityStage.objects.get(tenant_id=rep.tenant_id, kind="won")
    deal = make_opportunity(
        rep, customer, lines=[{"product": products[0], "qty": 1, "unit_price": "888"}]
    )
    with scopes_disabled():
        Opportunity.objects.filter(pk=deal.pk).update(
            status="won", stage=won, closed_date=datetime.date(2026, 1, 5)
        )
    sign_in(page, "rep1")
    page.goto(f"{live_server.url}/test-picker-embed/?customer={customer.pk}")
    page.locator("#open-1").click()
    dialog = page.locator("dialog[data-product-picker-dialog]")
    search = dialog.locator("[data-pp-input]")
    search.wait_for()
    search.fill("BRW-1")
    options = dialog.locator("[data-pp-option]")
    expect(options).to_have_count(1)
    search.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    row = page.locator("#line-1")
    assert row.locator("select").input_value() == str(products[0].pk)
    assert "浏览器叉车1" in row.locator("span[data-product-field=label]").inner_text()
    # The sale price: the customer's last sold price (the won deal's), not the list price.
    assert row.locator("input").input_value() == "888.00"
    # The second row: its sale price is not empty, so it stays.
    page.locator("#open-2").click()
    search.fill("BRW-2")
    expect(options.first).to_have_attribute("data-product-id", str(products[1].pk))
    options.first.click()
    other = page.locator("#line-2")
    assert other.locator("select").input_value() == str(products[1].pk)
    assert other.locator("input").input_value() == "1"
    assert page.locator("#line-1 select").input_value() == str(products[0].pk)
