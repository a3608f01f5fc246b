"""The searchable user picker in a real browser (demo data): a rep adds a colleague as a
participant from the customer list's batch bar by typing part of her name, and an admin
picks a pool group's members, admins and departments by typing. Elements are found by their
names and data- attributes, never by layout. Every page is checked for CSP violations by the
conftest (Tom Select must work under the strict policy).

Screenshots for a person: /tmp/user-picker-batch.png, /tmp/user-picker-pool-group.png.
"""

from __future__ import annotations

import time

import pytest
from django_scopes import scopes_disabled

from crm.models import User
from customers.models import Customer
from pools.models import PoolGroup

pytestmark = [pytest.mark.browser]


def wait_until(check, timeout: float = 10.0):
    """Polls ``check()`` until it is true (the server answers after the browser's click)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def picker_of(page, scope: str, name: str):
    """The Tom Select control of ``<select name=…>`` inside ``scope`` and its text input."""
    wrapper = page.locator(f"{scope} select[name={name}][data-user-picker] + .ts-wrapper")
    return wrapper, wrapper.locator(".ts-control input")


def test_rep_adds_a_participant_from_the_batch_bar_by_typing_her_name(page, sign_in, live_server):
    with scopes_disabled():
        rep3 = User.objects.get(username="rep3")  # 陈静, 销售二部
    sign_in(page, "rep1")
    page.goto(f"{live_server.url}/customers/")

    form = "form#batch-form"
    # The select became a picker; the plain select stays in the form, hidden.
    wrapper, search = picker_of(page, form, "users")
    assert page.locator(f"{form} select[name=users]").get_attribute("class").count("tomselected")

    first = page.locator(f"{form} input[name=ids]").first
    customer_id = int(first.get_attribute("value"))
    first.check()
    page.locator(f"{form} details:has(button[name=action][value=participants]) > summary").click()
    assert wrapper.is_visible()

    # A click anywhere on the control (it sits inside the field's <label>) opens the list of
    # the tenant's people with their departments.
    wrapper.locator(".ts-control").click(position={"x": 200, "y": 10})
    wrapper.locator(".ts-dropdown").wait_for(state="visible")
    assert wrapper.locator(".ts-dropdown .option[data-value]").count() >= 5
    # Part of the department finds her too; part of her name narrows to her.
    search.fill("二部")
    option = wrapper.locator(f".ts-dropdown .option[data-value='{rep3.pk}']")
    option.wait_for(state="visible")
    assert "陈静" in option.inner_text() and "销售二部" in option.inner_text()
    search.fill("陈")
    option.wait_for(state="visible")
    option.click()
    # Chosen: a chip in the control, the hidden select follows.
    assert "陈静" in wrapper.locator(".item").first.inner_text()
    selected = page.locator(f"{form} select[name=users]").evaluate(
        "s => Array.from(s.selectedOptions).map(o => o.value)"
    )
    assert selected == [str(rep3.pk)]
    page.screenshot(path="/tmp/user-picker-batch.png")

    page.locator(f"{form} button[name=action][value=participants]").click()

    def added():
        with scopes_disabled():
            return Customer.objects.get(pk=customer_id).participants.filter(pk=rep3.pk).exists()

    assert wait_until(added), "陈静 was not added as a participant"


def test_admin_picks_pool_members_admins_and_departments_by_typing(page, sign_in, live_server):
    with scopes_disabled():
        group = PoolGroup.objects.filter(tenant__slug="demo", kind=PoolGroup.Kind.CUSTOMER).first()
        rep2 = User.objects.get(username="rep2")  # 刘洋, 销售一部
        manager = User.objects.get(username="manager1")  # 李经理, 销售部
        assert group is not None
    sign_in(page, "admin")
    page.goto(f"{live_server.url}/settings/pools/{group.pk}/")

    form = "form.pool-group-form"
    members_wrapper, members = picker_of(page, form, "users")
    members.click()
    members.fill("刘")
    members_wrapper.locator(f".ts-dropdown .option[data-value='{rep2.pk}']").click()
    members.press("Escape")

    admins_wrapper, admins = picker_of(page, form, "admins")
    admins.click()
    admins.fill("manager1")  # by username
    admins_wrapper.locator(f".ts-dropdown .option[data-value='{manager.pk}']").click()
    admins.press("Escape")

    departments_wrapper = page.locator(
        f"{form} select[name=departments][data-department-picker] + .ts-wrapper"
    )
    departments = departments_wrapper.locator(".ts-control input")
    departments.click()
    departments.fill("售后")
    department_option = departments_wrapper.locator(".ts-dropdown .option", has_text="售后部")
    department_option.first.click()
    departments.press("Escape")
    page.screenshot(path="/tmp/user-picker-pool-group.png", full_page=True)

    with page.expect_navigation():
        page.locator(f"{form} button[type=submit]").first.click()

    with scopes_disabled():
        group.refresh_from_db()
        member_ids = set(group.member_users.values_list("user_id", flat=True))
        assert rep2.pk in member_ids
        admin_ids = set(group.member_users.filter(is_admin=True).values_list("user_id", flat=True))
        assert manager.pk in admin_ids
        names = set(group.member_departments.values_list("department__name", flat=True))
        assert "售后部" in names


def test_participants_tab_loaded_by_htmx_gets_the_picker_once(page, sign_in, live_server):
    """The tab arrives by an htmx swap (htmx:load builds the picker), the add answers with a
    new tab body (built again), and going back through htmx's history leaves one control."""
    with scopes_disabled():
        rep1 = User.objects.get(username="rep1")
        rep2 = User.objects.get(username="rep2")  # 刘洋
        customer = (
            Customer.objects.filter(owner=rep1).exclude(participants=rep2).order_by("pk").first()
        )
        assert customer is not None
    sign_in(page, "rep1")
    page.goto(f"{live_server.url}/customers/{customer.pk}/")
    page.locator("a[data-tab=participants]").click()
    body = "#tab-body form:has(select[name=users])"
    wrapper, search = picker_of(page, body, "users")
    wrapper.wait_for(state="visible")
    search.fill("刘洋")
    wrapper.locator(f".ts-dropdown .option[data-value='{rep2.pk}']").click()
    # The form does not move when the picker loses focus: the click lands on the button.
    button = page.locator(f"{body} button[type=submit]")
    before = button.bounding_box()
    search.evaluate("input => input.blur()")
    assert button.bounding_box()["y"] == pytest.approx(before["y"], abs=1)
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        button.click()
    assert posted.value.status == 200

    def added():
        with scopes_disabled():
            return customer.participants.filter(pk=rep2.pk).exists()

    assert wait_until(added)
    # The swapped-in form has its own picker, exactly one.
    page.locator(f"{body} select[name=users] + .ts-wrapper").wait_for(state="visible")
    assert page.locator(f"{body} .ts-wrapper").count() == 1

    page.locator("a[data-tab=followups]").click()
    page.locator("a[data-tab=followups].active").wait_for()
    page.go_back()
    page.locator(f"{body} select[name=users] + .ts-wrapper").wait_for(state="visible")
    assert page.locator(f"{body} .ts-wrapper").count() == 1
    # The restored picker works: typing still finds people.
    _wrapper, search = picker_of(page, body, "users")
    search.fill("陈")
    assert wrapper.locator(".ts-dropdown .option[data-value]").first.is_visible()


def test_without_javascript_the_plain_select_still_works(new_context, live_server, demo_data):
    with scopes_disabled():
        group = PoolGroup.objects.filter(tenant__slug="demo", kind=PoolGroup.Kind.CUSTOMER).first()
    context = new_context(java_script_enabled=False)
    page = context.pages[0] if context.pages else context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "tidepool")
    with page.expect_navigation():
        page.click("form:has(input[name=password]) button[type=submit]")
    page.goto(f"{live_server.url}/settings/pools/{group.pk}/")
    members = page.locator("form.pool-group-form select[name=users][data-user-picker]")
    assert members.is_visible()
    assert page.locator(".ts-wrapper").count() == 0
    texts = members.locator("option").all_inner_texts()
    assert any(text == "陈静 · 销售二部" for text in texts), texts


def test_admin_assigns_a_pooled_lead_by_typing_a_colleagues_name(page, sign_in, live_server):
    """The lead pool's 分配 (pools.forms.actions.AssignForm, "Assign to")."""
    from leads.models import Lead

    with scopes_disabled():
        rep3 = User.objects.get(username="rep3")  # 陈静
    sign_in(page, "admin")
    page.goto(f"{live_server.url}/leads/pool/")
    box = page.locator("form input[name=ids][type=checkbox]").first
    lead_id = int(box.get_attribute("value"))
    box.check()
    pop = page.locator("details:has(select[name=users][data-user-picker])")
    pop.locator("summary").click()
    wrapper, search = picker_of(page, "details", "users")
    search.fill("陈静")
    wrapper.locator(f".ts-dropdown .option[data-value='{rep3.pk}']").click()
    with page.expect_navigation():
        pop.locator("button[type=submit]").click()

    with scopes_disabled():
        assert Lead.objects.get(pk=lead_id).owner_id == rep3.pk


def test_manager_transfers_a_customer_with_the_single_picker(page, sign_in, live_server):
    """The new owner (one person): typing part of the name, then a click, picks them."""
    with scopes_disabled():
        rep2 = User.objects.get(username="rep2")  # 刘洋, 销售一部
    sign_in(page, "manager1")
    page.goto(f"{live_server.url}/customers/?view=all")
    form = "form#batch-form"
    rows = page.locator(f"{form} input[name=ids]")
    customer_id = None
    with scopes_disabled():
        for i in range(rows.count()):
            pk = int(rows.nth(i).get_attribute("value"))
            if Customer.objects.get(pk=pk).owner_id != rep2.pk:
                customer_id = pk
                rows.nth(i).check()
                break
    assert customer_id is not None
    pop = page.locator(f"{form} details:has(button[name=action][value=transfer])")
    pop.locator("summary").click()
    wrapper, search = picker_of(page, form, "to_user")
    assert "single" in wrapper.get_attribute("class")
    search.fill("刘")
    wrapper.locator(f".ts-dropdown .option[data-value='{rep2.pk}']").click()
    assert page.locator(f"{form} select[name=to_user]").input_value() == str(rep2.pk)
    pop.locator("button[name=action][value=transfer]").click()

    def moved():
        with scopes_disabled():
            return Customer.objects.get(pk=customer_id).owner_id == rep2.pk

    assert wait_until(moved), "the customer did not move to 刘洋"
