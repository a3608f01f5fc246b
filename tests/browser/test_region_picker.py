"""The 省 / 市 / 区 picker in a real browser (demo data, rep1): on the new customer form,
choosing 湖北省 fills the cities from the bundled table (static/js/regions.js, no inline code),
武汉市 fills its districts, and the customer saves with 湖北省 / 武汉市 / 江岸区. The three
selects sit in one row at 1280 px and stack at 390 px.

Screenshots: /tmp/region-picker-1280.png, /tmp/region-picker-390.png.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django_scopes import scopes_disabled

from customers.models import Customer

pytestmark = [pytest.mark.browser]

NAME = "武汉江岸区域测试客户"


def _boxes(page):
    return [
        page.locator(f"select[name={name}]").bounding_box()
        for name in ("province", "city", "district")
    ]


def test_rep_picks_province_city_district_and_saves(page, sign_in, live_server):
    sign_in(page, "rep1")
    page.goto(f"{live_server.url}/customers/add/")
    city = page.locator("select[name=city]")
    district = page.locator("select[name=district]")
    # Nothing chosen yet: no city or district to choose.
    assert city.locator("option").count() == 1 and district.locator("option").count() == 1

    page.fill("#id_name", NAME)
    page.select_option("select[name=province]", "湖北省")
    city.locator("option[value='武汉市']").wait_for(state="attached")
    assert city.locator("option").nth(1).get_attribute("value") == "武汉市"
    assert city.locator("option[value='长沙市']").count() == 0
    page.select_option("select[name=city]", "武汉市")
    district.locator("option[value='江岸区']").wait_for(state="attached")
    page.select_option("select[name=district]", "江岸区")

    # One row on a desktop: the three selects share a top edge, left to right.
    province_box, city_box, district_box = _boxes(page)
    assert abs(province_box["y"] - city_box["y"]) < 2 and abs(city_box["y"] - district_box["y"]) < 2
    assert province_box["x"] < city_box["x"] < district_box["x"]
    page.screenshot(path="/tmp/region-picker-1280.png", full_page=True)

    # Changing the province again empties the city and the district (never a stale pair).
    page.select_option("select[name=province]", "湖南省")
    city.locator("option[value='长沙市']").wait_for(state="attached")
    assert city.input_value() == "" and district.locator("option").count() == 1
    page.select_option("select[name=province]", "湖北省")
    city.locator("option[value='武汉市']").wait_for(state="attached")
    page.select_option("select[name=city]", "武汉市")
    district.locator("option[value='江岸区']").wait_for(state="attached")
    page.select_option("select[name=district]", "江岸区")

    with page.expect_navigation():
        page.click("form.customer-form button[type=submit]")
    assert re.fullmatch(r"/customers/\d+/", urlsplit(page.url).path), page.url
    with scopes_disabled():
        customer = Customer.objects.get(name=NAME)
    assert (customer.province, customer.city, customer.district) == ("湖北省", "武汉市", "江岸区")
    assert customer.owner.username == "rep1"

    # The edit form shows the saved place, chosen.
    page.goto(f"{live_server.url}/customers/{customer.pk}/edit/")
    assert page.locator("select[name=province]").input_value() == "湖北省"
    assert page.locator("select[name=city]").input_value() == "武汉市"
    assert page.locator("select[name=district]").input_value() == "江岸区"


def test_the_picker_stacks_on_a_phone(new_context, live_server, demo_data, sign_in):
    context = new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.pages[0] if context.pages else context.new_page()
    sign_in(page, "rep1")
    page.goto(f"{live_server.url}/customers/add/")
    province_box, city_box, district_box = _boxes(page)
    assert province_box["y"] < city_box["y"] < district_box["y"]
    assert city_box["width"] > 200
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    page.locator(".region-picker").scroll_into_view_if_needed()
    page.screenshot(path="/tmp/region-picker-390.png")
