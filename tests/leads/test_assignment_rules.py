"""The assignment rules' settings services (lead.manage): rule_save, rule_delete, rule_move,
what they write and every refusal with its exact code."""

from __future__ import annotations

import pytest
from django_scopes import scopes_disabled

from crm.exceptions import NotFoundError, PermissionRefusedError, ServiceError
from crm.models import ActivityLog, Option, OptionKind
from crm.tenancy import tenant_scope
from leads import assignment
from leads.models import AssignmentRule, AssignmentRuleUser, LeadEvent
from pools.models import PoolGroup
from tests.factories import make_user
from tests.leads.factories import make_campaign, make_lead, make_lead_pool, make_rule


def _save(actor, data=None, rule=None, users=None):
    with tenant_scope(actor.tenant_id):
        return assignment.rule_save(actor=actor, data=data or {}, rule=rule, users=users)


def _members(rule) -> list[str]:
    with scopes_disabled():
        return [
            m.user.username
            for m in AssignmentRuleUser.objects.filter(rule=rule)
            .select_related("user")
            .order_by("position")
        ]


def _fresh(rule) -> AssignmentRule:
    with scopes_disabled():
        return AssignmentRule.objects.get(pk=rule.pk)


def _option(tenant, kind=OptionKind.CUSTOMER_SOURCE) -> Option:
    with scopes_disabled():
        return Option.objects.filter(tenant=tenant, kind=kind).first()


def _refused(code, actor, **kwargs):
    # A row of another tenant is "missing" (NotFoundError), never a refusal.
    with pytest.raises(NotFoundError if code == "not_found" else ServiceError) as info:
        _save(actor, **kwargs)
    assert info.value.code == code
    return str(info.value.message)


# ---------------------------------------------------------------- rule_save


def test_rule_save_creates_a_rule_last_with_users_in_turn_order(world):
    make_rule(world.tenant_a, [world.rep_east], "已有")
    source = _option(world.tenant_a)
    campaign = make_campaign(world.tenant_a, "秋季")
    pool = make_lead_pool(world.tenant_a, "华东线索池")
    rule = _save(
        world.manager_sales,
        {
            "name": "  华东网络  ",
            "source": source,
            "campaign": campaign,
            "province": " 浙江 ",
            "city": "杭州",
            "pool_group": pool,
            "on_import": False,
            "daily_limit": 5,
            "holding_limit": "20",
        },
        users=[world.rep_west, world.rep_east, world.rep_west],
    )
    rule = _fresh(rule)
    assert (rule.name, rule.province, rule.city) == ("华东网络", "浙江", "杭州")
    assert (rule.source_id, rule.campaign_id, rule.pool_group_id) == (
        source.pk,
        campaign.pk,
        pool.pk,
    )
    assert (rule.on_create, rule.on_import, rule.daily_limit, rule.holding_limit) == (
        True,
        False,
        5,
        20,
    )
    assert rule.sort_order == 1
    assert _members(rule) == ["rep_west", "rep_east"]  # repeats keep their first place
    with scopes_disabled():
        log = ActivityLog.objects.get(action="assignment_rule.saved", object_id=rule.pk)
    assert log.actor_id == world.manager_sales.pk
    assert log.changes["users"] == ["", "rep_west、rep_east"]


def test_rule_save_changes_users_and_keeps_a_valid_cursor(world):
    rule = make_rule(world.tenant_a, [world.rep_east, world.rep_east2, world.rep_west], "轮")
    with scopes_disabled():
        AssignmentRule.objects.filter(pk=rule.pk).update(cursor=3)
    _save(world.admin_a, {"daily_limit": 2}, rule=_fresh(rule), users=[world.rep_west])
    rule = _fresh(rule)
    assert _members(rule) == ["rep_west"]
    assert rule.cursor == 0
    assert rule.daily_limit == 2
    # users=None keeps them.
    _save(world.admin_a, {"name": "改名"}, rule=rule)
    assert _members(rule) == ["rep_west"]
    assert _fresh(rule).name == "改名"


def test_rule_save_clears_conditions(world):
    rule = make_rule(world.tenant_a, [world.rep_east], source=_option(world.tenant_a))
    _save(world.admin_a, {"source": None, "province": ""}, rule=rule)
    assert _fresh(rule).source_id is None


def test_rule_save_refused_without_lead_manage(world):
    with pytest.raises(PermissionRefusedError) as info:
        _save(world.rep_east, {"name": "越权"}, users=[world.rep_east])
    assert info.value.code == "permission"
    with scopes_disabled():
        assert not AssignmentRule.objects.filter(name="越权").exists()


def test_rule_save_refused_without_users(world):
    message = _refused("no_users", world.admin_a, data={"name": "空"}, users=[])
    assert "user" in message.lower() or "用户" in message
    _refused("no_users", world.admin_a, data={"name": "空"})
    rule = make_rule(world.tenant_a, [world.rep_east])
    _refused("no_users", world.admin_a, data={}, rule=rule, users=[])


def test_rule_save_refused_for_another_tenants_user(world):
    _refused("not_found", world.admin_a, data={"name": "混"}, users=[world.rep_east, world.rep_b])


def test_rule_save_refused_for_a_deactivated_user(world):
    gone = make_user(world.tenant_a, "gone", is_active=False, name="离职者")
    message = _refused("inactive", world.admin_a, data={"name": "含离职"}, users=[gone])
    assert "离职者" in message


def test_rule_save_refused_for_a_duplicate_or_empty_name(world):
    make_rule(world.tenant_a, [world.rep_east], "重名")
    _refused("duplicate", world.admin_a, data={"name": " 重名 "}, users=[world.rep_east])
    _refused("required", world.admin_a, data={"name": "  "}, users=[world.rep_east])
    _refused("required", world.admin_a, data={}, users=[world.rep_east])
    _refused("too_long", world.admin_a, data={"name": "长" * 51}, users=[world.rep_east])
    # The same name in another tenant is fine.
    make_rule(world.tenant_b, [world.rep_b], "乙的规则")
    assert _save(world.admin_a, {"name": "乙的规则"}, users=[world.rep_east]).pk


def test_rule_save_refused_for_options_of_the_wrong_list_or_tenant(world):
    users = [world.rep_east]
    level = _option(world.tenant_a, OptionKind.CUSTOMER_LEVEL)
    _refused("option", world.admin_a, data={"name": "级别", "source": level}, users=users)
    b_source = _option(world.tenant_b)
    _refused("not_found", world.admin_a, data={"name": "乙来源", "source": b_source}, users=users)


def test_rule_save_refused_for_another_tenants_campaign_or_pool(world):
    users = [world.rep_east]
    b_campaign = make_campaign(world.tenant_b, "乙活动")
    _refused("not_found", world.admin_a, data={"name": "乙", "campaign": b_campaign}, users=users)
    b_pool = make_lead_pool(world.tenant_b)
    _refused("not_found", world.admin_a, data={"name": "乙", "pool_group": b_pool}, users=users)


def test_rule_save_refused_for_a_customer_pool(world):
    with scopes_disabled():
        customer_pool = PoolGroup.objects.create(tenant=world.tenant_a, name="客户公海X")
    _refused(
        "pool_group",
        world.admin_a,
        data={"name": "客户池", "pool_group": customer_pool},
        users=[world.rep_east],
    )


@pytest.mark.parametrize("value", [-1, "abc", "-3"])
def test_rule_save_refused_for_a_bad_limit(world, value):
    _refused(
        "limit", world.admin_a, data={"name": "限", "daily_limit": value}, users=[world.rep_east]
    )
    _refused(
        "limit", world.admin_a, data={"name": "限", "holding_limit": value}, users=[world.rep_east]
    )


def test_rule_save_refused_for_another_tenants_rule(world):
    b_rule = make_rule(world.tenant_b, [world.rep_b], "乙规则")
    _refused("not_found", world.admin_a, data={"name": "抢"}, rule=b_rule, users=[world.rep_east])
    assert _fresh(b_rule).name == "乙规则"


# ---------------------------------------------------------------- rule_delete, rule_move


def test_rule_delete_keeps_the_assigned_leads_and_their_events(world):
    rule = make_rule(world.tenant_a, [world.rep_east], "删")
    lead = make_lead(world.tenant_a, None)
    with tenant_scope(world.tenant_a.pk):
        assignment.auto_assign(leads=[lead], trigger="create")
        assignment.rule_delete(actor=world.admin_a, rule=rule)
    with scopes_disabled():
        assert not AssignmentRule.objects.filter(pk=rule.pk).exists()
        event = LeadEvent.objects.get(lead=lead)
        assert event.kind == LeadEvent.Kind.AUTO_ASSIGNED and event.rule_id is None
        assert ActivityLog.objects.filter(action="assignment_rule.deleted").count() == 1
    lead.refresh_from_db()
    assert lead.owner_id == world.rep_east.pk


def test_rule_delete_refused_without_permission_or_for_another_tenant(world):
    rule = make_rule(world.tenant_a, [world.rep_east])
    b_rule = make_rule(world.tenant_b, [world.rep_b])
    with tenant_scope(world.tenant_a.pk):
        with pytest.raises(PermissionRefusedError):
            assignment.rule_delete(actor=world.rep_east, rule=rule)
        with pytest.raises(NotFoundError) as info:
            assignment.rule_delete(actor=world.admin_a, rule=b_rule)
    assert info.value.code == "not_found"
    with scopes_disabled():
        assert AssignmentRule.objects.filter(pk__in=[rule.pk, b_rule.pk]).count() == 2


def test_rule_move_swaps_neighbours_and_stops_at_the_ends(world):
    rules = [make_rule(world.tenant_a, [world.rep_east], n, sort_order=0) for n in "甲乙丙"]

    def order():
        with scopes_disabled():
            return list(
                AssignmentRule.objects.filter(tenant=world.tenant_a)
                .order_by("sort_order", "pk")
                .values_list("name", flat=True)
            )

    with tenant_scope(world.tenant_a.pk):
        assignment.rule_move(actor=world.admin_a, rule=rules[2], offset=-1)
        assert order() == ["甲", "丙", "乙"]
        assignment.rule_move(actor=world.admin_a, rule=_fresh(rules[0]), offset=-1)
        assert order() == ["甲", "丙", "乙"]
        assignment.rule_move(actor=world.admin_a, rule=_fresh(rules[0]), offset=1)
        assert order() == ["丙", "甲", "乙"]
        with pytest.raises(PermissionRefusedError):
            assignment.rule_move(actor=world.rep_east, rule=rules[1], offset=-1)
        b_rule = make_rule(world.tenant_b, [world.rep_b])
        with pytest.raises(NotFoundError) as info:
            assignment.rule_move(actor=world.admin_a, rule=b_rule, offset=1)
    assert info.value.code == "not_found"
    assert order() == ["丙", "甲", "乙"]
