"""User journeys in a real browser: sign in, switch language, sign out; the tenant wall as a
browser sees it; the workbench on a phone.

Screenshots land in /tmp (workbench-375*.png, workbench-1280.png, settings-users-1280.png,
login-375.png, 404-other-tenant.png) for a person to look at; the tests assert on the layout,
not on pixels.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django_scopes import scopes_disabled

from crm.models import Department, Tenant, User

pytestmark = [pytest.mark.browser]

REP1_NAME = "张伟"


def path_of(page) -> str:
    return urlsplit(page.url).path


def test_rep_signs_in_switches_to_english_and_signs_out(page, sign_in):
    sign_in(page, "rep1")

    # The workbench, in the default language (asserted by <html lang>, not by wording).
    assert path_of(page) == "/"
    greeting = page.locator("[data-testid=workbench-greeting]")
    assert REP1_NAME in greeting.inner_text()
    assert page.get_attribute("html", "lang") == "zh-hans"

    # The user menu is a <details>: open it, then pick English in the language <select>,
    # whose change submits the form (set_language) and reloads the page.
    page.click("header.topbar details.user-menu > summary")
    select = page.locator("#language-select")
    select.wait_for(state="visible")
    with page.expect_navigation():
        select.select_option("en")

    assert path_of(page) == "/"
    assert page.get_attribute("html", "lang") == "en"
    assert "Workbench" in page.title()
    assert REP1_NAME in page.locator("[data-testid=workbench-greeting]").inner_text()

    # Sign out (a POST form in the same menu) lands on the login page.
    page.click("header.topbar details.user-menu > summary")
    logout = page.locator("[data-testid=logout]")
    logout.wait_for(state="visible")
    with page.expect_navigation():
        logout.click()
    assert path_of(page) == "/accounts/login/"
    assert page.locator("input[name=username]").is_visible()
    assert page.locator("input[name=password]").is_visible()

    # Signed out for real: the workbench sends us back to the login page.
    page.goto(page.url.replace("/accounts/login/", "/"))
    assert path_of(page) == "/accounts/login/"


def test_other_tenant_admin_gets_404_for_demo_records(page, sign_in, live_server):
    with scopes_disabled():
        demo = Tenant.objects.get(slug="demo")
        rep1 = User.objects.get(username="rep1")
        assert rep1.tenant_id == demo.pk
        demo_departments = list(
            Department.objects.filter(tenant=demo).order_by("pk").values_list("pk", flat=True)
        )
        own_department = (
            Department.objects.filter(tenant__slug="other").values_list("pk", flat=True).first()
        )
    assert demo_departments

    sign_in(page, "other_admin")
    assert path_of(page) == "/"

    # The admin can open their own records (so the 404s below are the wall, not a failure).
    response = page.goto(f"{live_server.url}/settings/departments/{own_department}/")
    assert response.status == 200

    urls = [
        f"/settings/users/{rep1.pk}/",
        *(f"/settings/departments/{pk}/" for pk in demo_departments),
    ]
    for url in urls:
        response = page.goto(f"{live_server.url}{url}")
        assert response is not None
        assert response.status == 404, url
        body = page.content()
        assert REP1_NAME not in body, url
        assert "13800000003" not in body, url  # rep1's mobile
        assert page.locator(".error-code").inner_text().strip() == "404"
    page.screenshot(path="/tmp/404-other-tenant.png")

    # And the user list shows none of the demo tenant's people.
    response = page.goto(f"{live_server.url}/settings/users/")
    assert response.status == 200
    assert REP1_NAME not in page.content()


def test_workbench_fits_a_phone(new_context, live_server, demo_data, sign_in):
    context = new_context(
        viewport={"width": 375, "height": 812},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    page = context.pages[0] if context.pages else context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375 + 1
    page.screenshot(path="/tmp/login-375.png")
    sign_in(page, "rep1")
    assert path_of(page) == "/"

    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= 375 + 1, f"horizontal overflow: scrollWidth={scroll_width}"

    # The sidebar is off-screen until the hamburger opens it.
    workbench_link = page.locator(".sidebar nav a[data-nav=workbench]")
    assert not _in_viewport(page, ".sidebar")
    hamburger = page.locator("label.hamburger")
    assert hamburger.is_visible()
    hamburger.click()
    workbench_link.wait_for(state="visible")
    page.wait_for_function(
        "() => document.querySelector('.sidebar').getBoundingClientRect().left >= 0"
    )
    assert workbench_link.is_visible()
    assert _in_viewport(page, ".sidebar nav a[data-nav=workbench]")
    page.screenshot(path="/tmp/workbench-375-menu.png")

    # Close it again (the backdrop) and take the phone screenshot.
    page.click(".nav-backdrop", position={"x": 360, "y": 400})
    page.wait_for_function(
        "() => document.querySelector('.sidebar').getBoundingClientRect().right <= 0"
    )
    page.screenshot(path="/tmp/workbench-375.png", full_page=True)

    # The user menu fits the screen too when open.
    page.click("header.topbar details.user-menu > summary")
    page.locator("#language-select").wait_for(state="visible")
    box = page.locator("header.topbar details.user-menu[open] > .menu-body").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 375 + 1, box
    page.screenshot(path="/tmp/workbench-375-usermenu.png")


def test_desktop_screenshots(page, sign_in, live_server, new_context):
    sign_in(page, "rep1")
    assert page.locator(".sidebar nav a[data-nav=workbench]").is_visible()
    assert not page.locator("label.hamburger").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    page.screenshot(path="/tmp/workbench-1280.png", full_page=True)

    admin_context = new_context()
    admin_page = admin_context.pages[0] if admin_context.pages else admin_context.new_page()
    sign_in(admin_page, "admin")
    response = admin_page.goto(f"{live_server.url}/settings/users/")
    assert response.status == 200
    assert REP1_NAME in admin_page.content()
    assert admin_page.evaluate("document.documentElement.scrollWidth") <= 1280
    admin_page.screenshot(path="/tmp/settings-users-1280.png", full_page=True)


def _in_viewport(page, selector: str) -> bool:
    return page.evaluate(
        """(sel) => { const r = document.querySelector(sel).getBoundingClientRect();
                      return r.right > 0 && r.left < window.innerWidth; }""",
        selector,
    )
