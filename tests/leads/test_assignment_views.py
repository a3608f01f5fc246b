"""The assignment rule settings pages (lead.manage): list with today's counts in a fixed
number of queries, create and edit with users in turn order, delete, move up/down; 403 for
a rep, login required, 422 with the reason on bad input."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation
from django.utils.html import escape
from django_scopes import scopes_disabled

from crm.models import Option, OptionKind
from crm.tenancy import tenant_scope
from leads import assignment
from leads.models import AssignmentRule, AssignmentRuleUser
from tests.factories import make_user
from tests.leads.factories import make_lead, make_lead_pool, make_rule


def in_page(msgid: str) -> str:
    with translation.override("zh-hans"):
        return escape(translation.gettext(msgid))


def _members(rule) -> list[str]:
    with scopes_disabled():
        return list(
            AssignmentRuleUser.objects.filter(rule=rule)
            .order_by("position")
            .values_list("user__username", flat=True)
        )


def _form(chosen, **overrides) -> dict:
    data = {
        "name": "华东新线索",
        "is_enabled": "on",
        "source": "",
        "campaign": "",
        "province": "",
        "city": "",
        "pool_group": "",
        "on_create": "on",
        "on_import": "on",
        "on_return": "on",
        "periodic": "on",
        "daily_limit": "0",
        "holding_limit": "0",
        "users": [str(u.pk) for u in chosen] + ["", ""],
    }
    for key, value in overrides.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


@pytest.mark.parametrize("name", ["leads:rule-list", "leads:rule-create"])
def test_rule_pages_answer_200_for_a_lead_manager(world, login, name):
    response = login(world.manager_sales).get(reverse(name))
    assert response.status_code == 200
    assert b"<html" in response.content


@pytest.mark.parametrize("persona", ["rep_east", "service_a"])
def test_rule_pages_and_actions_forbidden_without_lead_manage(world, login, persona):
    rule = make_rule(world.tenant_a, [world.rep_east], "原样")
    client = login(getattr(world, persona))
    for name in ("leads:rule-list", "leads:rule-create"):
        assert client.get(reverse(name)).status_code == 403
    assert client.get(reverse("leads:rule-edit", args=[rule.pk])).status_code == 403
    assert (
        client.post(reverse("leads:rule-edit", args=[rule.pk]), _form([world.rep_east])).status_code
        == 403
    )
    assert client.post(reverse("leads:rule-delete", args=[rule.pk])).status_code == 403
    assert (
        client.post(reverse("leads:rule-move", args=[rule.pk]), {"direction": "up"}).status_code
        == 403
    )
    with scopes_disabled():
        assert AssignmentRule.objects.get(pk=rule.pk).name == "原样"


def test_rule_pages_need_a_login(world, client):
    response = client.get(reverse("leads:rule-list"))
    assert response.status_code == 302 and "login" in response["Location"]


def test_rule_create_keeps_the_turn_order_of_the_page(world, login):
    client = login(world.manager_sales)
    with scopes_disabled():
        source = Option.objects.filter(
            tenant=world.tenant_a, kind=OptionKind.CUSTOMER_SOURCE
        ).first()
    pool = make_lead_pool(world.tenant_a, "线索池甲")
    response = client.post(
        reverse("leads:rule-create"),
        _form(
            [world.rep_west, world.rep_east],
            source=str(source.pk),
            pool_group=str(pool.pk),
            province="浙江省",
            periodic=None,
            daily_limit="10",
        ),
    )
    assert response.status_code == 302 and response["Location"] == reverse("leads:rule-list")
    with scopes_disabled():
        rule = AssignmentRule.objects.get(tenant=world.tenant_a, name="华东新线索")
    assert _members(rule) == ["rep_west", "rep_east"]
    assert (rule.source_id, rule.pool_group_id, rule.province) == (source.pk, pool.pk, "浙江省")
    assert (rule.periodic, rule.on_create, rule.daily_limit) == (False, True, 10)


def test_rule_edit_shows_the_users_in_order_and_changes_them(world, login):
    rule = make_rule(world.tenant_a, [world.rep_west, world.rep_east], "编辑我")
    client = login(world.admin_a)
    url = reverse("leads:rule-edit", args=[rule.pk])
    html = client.get(url).content.decode()
    west = html.index(f'<option value="{world.rep_west.pk}" selected ')
    east = html.index(f'<option value="{world.rep_east.pk}" selected ')
    assert west < east
    response = client.post(url, _form([world.rep_east2, world.rep_west], name="编辑我"))
    assert response.status_code == 302
    assert _members(rule) == ["rep_east2", "rep_west"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"users": ["", ""]}, "Choose at least one user to hand the leads to."),
        ({"name": ""}, None),
        ({"daily_limit": "-1"}, None),
        ({"users": ["999999"]}, "Choose valid users."),
    ],
)
def test_rule_form_errors_are_422_and_save_nothing(world, login, overrides, message):
    client = login(world.admin_a)
    response = client.post(reverse("leads:rule-create"), _form([world.rep_east], **overrides))
    assert response.status_code == 422
    if message:
        assert in_page(message) in response.content.decode()
    with scopes_disabled():
        assert not AssignmentRule.objects.filter(tenant=world.tenant_a).exists()


def test_rule_form_refuses_another_tenants_user_and_a_duplicate_name(world, login):
    make_rule(world.tenant_a, [world.rep_east], "已有规则")
    client = login(world.admin_a)
    response = client.post(reverse("leads:rule-create"), _form([world.rep_b], name="新"))
    assert response.status_code == 422
    assert in_page("Choose valid users.") in response.content.decode()
    response = client.post(reverse("leads:rule-create"), _form([world.rep_east], name="已有规则"))
    assert response.status_code == 422
    assert in_page("An assignment rule with this name exists already.") in response.content.decode()


def test_rule_form_says_why_a_deactivated_member_must_go(world, login):
    gone = make_user(world.tenant_a, "gone", department=world.east, name="离职小王")
    rule = make_rule(world.tenant_a, [gone, world.rep_east], "有人离职")
    type(gone).objects.filter(pk=gone.pk).update(is_active=False)
    client = login(world.admin_a)
    url = reverse("leads:rule-edit", args=[rule.pk])
    assert "离职小王" in client.get(url).content.decode()
    response = client.post(url, _form([gone, world.rep_east], name="有人离职"))
    assert response.status_code == 422
    assert "离职小王" in response.content.decode()
    assert client.post(url, _form([world.rep_east], name="有人离职")).status_code == 302
    assert _members(rule) == ["rep_east"]


def test_rule_list_shows_order_users_and_assigned_today_in_fixed_queries(
    world, login, django_assert_num_queries
):
    first = make_rule(world.tenant_a, [world.rep_east, world.rep_west], "第一条", sort_order=0)
    make_rule(world.tenant_a, [world.rep_east2], "第二条", sort_order=1)
    make_rule(world.tenant_b, [world.rep_b], "乙的规则")
    leads = [make_lead(world.tenant_a, None) for _ in range(3)]
    with tenant_scope(world.tenant_a.pk):
        assignment.auto_assign(leads=leads, trigger="create")
    client = login(world.manager_sales)
    response = client.get(reverse("leads:rule-list"))
    html = response.content.decode()
    assert html.index("第一条") < html.index("第二条")
    assert "乙的规则" not in html
    row = html.split(f'data-rule="{first.pk}"', 1)[1].split("</tr>", 1)[0]
    assert re.search(r'<td class="num small assigned-today"[^>]*>3</td>', row)
    assert "rep_east" in row and "rep_west" in row
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("leads:rule-list"))
    for i in range(8):
        make_rule(world.tenant_a, [world.rep_east, world.rep_west], f"更多{i}", sort_order=5 + i)
    with django_assert_num_queries(len(few.captured_queries)):
        client.get(reverse("leads:rule-list"))


def test_rule_move_through_the_page_and_htmx(world, login):
    a = make_rule(world.tenant_a, [world.rep_east], "甲", sort_order=0)
    b = make_rule(world.tenant_a, [world.rep_east], "乙", sort_order=1)
    client = login(world.admin_a)
    response = client.post(reverse("leads:rule-move", args=[b.pk]), {"direction": "up"})
    assert response.status_code == 302
    with scopes_disabled():
        assert list(
            AssignmentRule.objects.order_by("sort_order").values_list("name", flat=True)
        ) == [
            "乙",
            "甲",
        ]
    response = client.post(
        reverse("leads:rule-move", args=[b.pk]), {"direction": "down"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="rules"' in html and "<html" not in html
    assert html.index(f'data-rule="{a.pk}"') < html.index(f'data-rule="{b.pk}"')


def test_rule_delete_through_the_page(world, login):
    rule = make_rule(world.tenant_a, [world.rep_east], "删掉")
    client = login(world.admin_a)
    assert client.get(reverse("leads:rule-delete", args=[rule.pk])).status_code == 405
    response = client.post(reverse("leads:rule-delete", args=[rule.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("leads:rule-list")
    with scopes_disabled():
        assert not AssignmentRule.objects.filter(pk=rule.pk).exists()


def test_rule_form_offers_only_this_tenants_choices(world, login):
    make_lead_pool(world.tenant_b, "乙的线索池")
    html = login(world.admin_a).get(reverse("leads:rule-create")).content.decode()
    assert "乙的线索池" not in html
    # By name: a user's option carries the picker's data- attributes after its value, and a
    # bare id could be another select's option.
    assert world.rep_b.get_full_name() not in html
    east = re.escape(world.rep_east.get_full_name())
    assert re.search(rf'<option value="{world.rep_east.pk}"[^>]*>\s*{east}', html)


def test_another_tenants_rule_and_campaign_are_404_and_unchanged(world, login):
    """The URL matrix's counterpart for what it does not snapshot: B's rules and campaigns
    stay exactly as they were."""
    from leads.models import Campaign
    from tests.leads.factories import make_campaign

    rule = make_rule(world.tenant_b, [world.rep_b], "乙规则", sort_order=0)
    make_rule(world.tenant_b, [world.rep_b], "乙规则二", sort_order=1)
    campaign = make_campaign(world.tenant_b, "乙活动")

    def state():
        with scopes_disabled():
            return (
                list(AssignmentRule.objects.order_by("pk").values_list("pk", "name", "sort_order")),
                list(AssignmentRuleUser.objects.order_by("pk").values_list("rule_id", "user_id")),
                list(Campaign.objects.order_by("pk").values_list("pk", "name", "cost")),
            )

    before = state()
    client = login(world.admin_a)
    posts = [
        (reverse("leads:rule-edit", args=[rule.pk]), _form([world.rep_east], name="抢")),
        (reverse("leads:rule-delete", args=[rule.pk]), {}),
        (reverse("leads:rule-move", args=[rule.pk]), {"direction": "down"}),
        (reverse("leads:campaign-edit", args=[campaign.pk]), {"name": "抢", "cost": "1"}),
        (reverse("leads:campaign-delete", args=[campaign.pk]), {}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 404
    assert client.get(reverse("leads:rule-edit", args=[rule.pk])).status_code == 404
    assert client.get(reverse("leads:campaign-edit", args=[campaign.pk])).status_code == 404
    assert state() == before
