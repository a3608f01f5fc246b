"""The Content-Security-Policy in a real browser (issue 15 "Headers").

Every browser test fails on a CSP violation (tests/browser/conftest.py); these tests show that
the watch really sees one, that the policy refuses inline code, and that the
behaviours moved out of inline attributes into static/js/tidepool.js still work: confirm
dialogs (data-confirm), the import form's targets, the department tree's indentation, htmx.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from django_scopes import scopes_disabled

from crm.models import Department, Tenant, User
from leads.models import AssignmentRule
from tests.leads.factories import make_rule

pytestmark = [pytest.mark.browser]


def test_the_watch_sees_a_violation_and_the_policy_refuses_inline_style(
    page, sign_in, csp_violations
):
    sign_in(page, "admin")
    assert csp_violations == []  # signing in and the workbench: nothing refused
    # Inline code slipped into the page is refused, and reported.
    with page.expect_console_message(lambda m: "style-src" in m.text):
        page.evaluate(
            "() => document.body.insertAdjacentHTML('beforeend', "
            '\'<p id="injected" style="color: rgb(255, 0, 0)">x</p>\')'
        )
    color = page.evaluate("() => getComputedStyle(document.getElementById('injected')).color")
    assert color != "rgb(255, 0, 0)"
    assert any("style-src" in v for v in csp_violations)
    csp_violations.clear()  # seen on purpose: the teardown check must not fail this test


def test_confirm_dialog_guards_the_delete_buttons(page, sign_in, live_server):
    with scopes_disabled():
        demo = Tenant.objects.get(slug="demo")
        rule = make_rule(demo, [User.objects.get(username="rep1")], "浏览器里的规则")
    sign_in(page, "admin")
    page.goto(live_server.url + reverse("leads:rule-edit", args=[rule.pk]))
    delete = page.locator("form[action$='/delete/'] button[data-confirm]")
    question = delete.get_attribute("data-confirm")
    assert question

    # Cancelled: nothing is posted.
    asked = []

    def dismiss(dialog):
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    # A form's submit event fires synchronously within the click: none may fire.
    page.evaluate(
        "() => { window.submitted = false;"
        " document.addEventListener('submit', () => { window.submitted = true; }, true); }"
    )
    delete.click()
    assert asked == [question]
    assert page.evaluate("() => window.submitted") is False
    with scopes_disabled():
        assert AssignmentRule.objects.filter(pk=rule.pk).exists()

    # Accepted: the form is posted and the rule is gone.
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        delete.click()
    with scopes_disabled():
        assert not AssignmentRule.objects.filter(pk=rule.pk).exists()


def test_import_targets_and_department_tree_without_inline_code(page, sign_in, live_server):
    sign_in(page, "admin")
    page.goto(live_server.url + reverse("customers:import-start"))
    pool_box = page.locator(".import-target[data-target=pool]")
    users_box = page.locator(".import-target[data-target=users]")
    page.check("input[name=target][value=users]")
    assert users_box.is_visible() and not pool_box.is_visible()
    page.check("input[name=target][value=pool]")
    assert pool_box.is_visible() and not users_box.is_visible()

    page.goto(live_server.url + reverse("crm:department-list"))
    indents = page.locator("[data-testid=department-tree] .tree-indent")
    widths = {
        int(indents.nth(i).get_attribute("data-depth")): indents.nth(i).bounding_box()["width"]
        for i in range(indents.count())
    }
    assert widths[0] == 0
    assert all(width == depth * 20 for depth, width in widths.items()), widths
    assert max(widths) >= 1  # the demo tree has sub-departments


def test_platform_admin_raises_no_violation(page, live_server):
    """The Django admin (jQuery, its widgets' scripts) runs under the same policy."""
    with scopes_disabled():
        User.objects.create_superuser("operator", password="tidepool")
        department = Department.objects.filter(tenant__slug="demo").first()
    page.goto(live_server.url + reverse("admin:login"))
    page.fill("input[name=username]", "operator")
    page.fill("input[name=password]", "tidepool")
    with page.expect_navigation():
        page.click("input[type=submit]")
    assert page.url.endswith(reverse("admin:index"))
    for url in [
        reverse("admin:crm_tenant_changelist"),
        reverse("admin:crm_tenant_add"),
        reverse("admin:crm_department_change", args=[department.pk]),
        reverse("admin:crm_user_changelist") + "?q=rep",
    ]:
        page.goto(live_server.url + url)
        page.wait_for_load_state("load")
    # The changelist's select-all box works (admin/js/actions.js).
    page.goto(live_server.url + reverse("admin:crm_user_changelist"))
    page.check("#action-toggle")
    assert page.locator("input.action-select:checked").count() >= 1
