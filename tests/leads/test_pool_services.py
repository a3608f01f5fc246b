"""The lead pool's services (leads.pooling over pools.services): claim, assign, return, move,
groups of kind ``lead`` — what each does and every refusal by its exact code — and the wall
between customer pools and lead pools."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from django_scopes import scopes_disabled

from crm.exceptions import PermissionRefusedError, ServiceError
from crm.models import Option, OptionKind
from crm.services import tenant_create
from customers import pooling as customer_pooling
from customers.models import Customer, OwnershipEvent, PoolReason
from leads import pooling
from leads.models import Lead, LeadEvent
from pools import activity_actions as actions
from pools import selectors, services
from pools.models import PoolGroup
from tests.customers.factories import logs, make_customer
from tests.factories import make_role, make_user
from tests.leads.factories import make_lead, make_lead_pool, make_pooled_lead
from tests.pools.factories import fresh_user, make_group, owned, pooled, return_reason

DAY = datetime.timedelta(days=1)


@pytest.fixture
def east_leads(world):
    """华东线索池: the east department are members, rep_east2 is its pool admin."""
    return make_group(
        world.tenant_a,
        "华东线索池",
        kind=PoolGroup.Kind.LEAD,
        departments=[world.east],
        admins=[world.rep_east2],
    )


def _fresh(lead: Lead) -> Lead:
    with scopes_disabled():
        return Lead.objects.get(pk=lead.pk)


def _events(lead: Lead, kind: str | None = None) -> list[LeadEvent]:
    with scopes_disabled():
        qs = LeadEvent.objects.filter(lead=lead)
        if kind:
            qs = qs.filter(kind=kind)
        return list(qs.order_by("id"))


def _logs(lead: Lead, action: str):
    return logs(lead, action)


def _code(call) -> str:
    with pytest.raises(ServiceError) as exc_info:
        call()
    return exc_info.value.code


# ---------------------------------------------------------------- groups of kind lead


def test_default_lead_pool_is_created_on_first_use_open_to_all(world, scoped):
    with scoped(world.admin_a):
        lead_default = services.default_group_for(world.tenant_a.pk, "lead")
        customer_default = services.default_group_for(world.tenant_a.pk, "customer")
        assert services.default_group_for(world.tenant_a.pk, kind="lead") == lead_default
    assert lead_default.kind == PoolGroup.Kind.LEAD and lead_default.is_default
    assert lead_default.open_to_all and lead_default.name == "默认线索池"
    assert customer_default.kind == PoolGroup.Kind.CUSTOMER and customer_default != lead_default
    with scoped(world.admin_a):
        assert selectors.default_group(world.tenant_a.pk, "lead") == lead_default
        assert selectors.default_group(world.tenant_a.pk, "customer") == customer_default


def test_new_tenant_starts_with_its_public_pool_and_gets_its_lead_pool_on_first_use(db):
    with scopes_disabled():
        tenant = tenant_create(name="新公司", slug="new-co")
        assert [g.kind for g in PoolGroup.objects.filter(tenant=tenant)] == ["customer"]
        group = services.default_group_for(tenant.pk, "lead")
        assert PoolGroup.objects.filter(tenant=tenant, kind="lead").get() == group


def test_member_and_admin_ids_are_per_kind(world, scoped, east_leads):
    customer_pool = make_group(world.tenant_a, "华东公海", departments=[world.east])
    with scoped(world.rep_east):
        assert selectors.member_group_ids(fresh_user(world.rep_east), "lead") == [east_leads.pk]
        ids = selectors.member_group_ids(fresh_user(world.rep_east), "customer")
        assert customer_pool.pk in ids and east_leads.pk not in ids
        assert selectors.admin_group_ids(fresh_user(world.rep_east2), "lead") == [east_leads.pk]
        assert selectors.admin_group_ids(fresh_user(world.rep_east2), "customer") == []
        assert [g.pk for g in selectors.visible_groups(fresh_user(world.rep_east), "lead")] == [
            east_leads.pk
        ]
        assert east_leads.pk not in [
            g.pk for g in selectors.visible_groups(fresh_user(world.rep_east), "customer")
        ]
        # lead.manage holders manage every lead pool.
        assert selectors.member_group_ids(fresh_user(world.manager_sales), "lead") is None


def test_pool_manage_alone_does_not_manage_lead_pools(world, scoped, east_leads):
    role = make_role(world.tenant_a, "公海管理员", "own", ["pool.manage"])
    keeper = make_user(world.tenant_a, "keeper", role=role, department=world.west)
    with scoped(keeper):
        assert selectors.member_group_ids(fresh_user(keeper), "customer") is None
        assert selectors.admin_group_ids(fresh_user(keeper), "lead") == []
        assert not selectors.is_group_admin(fresh_user(keeper), east_leads.pk, "lead")
        with pytest.raises(PermissionRefusedError):
            services.pool_group_save(actor=keeper, data={"name": "越权线索池"}, kind="lead")


def test_pool_group_save_creates_a_lead_pool_with_lead_rules_only(world, scoped):
    with scoped(world.manager_sales):
        group = services.pool_group_save(
            actor=world.manager_sales,
            kind="lead",
            data={
                "name": "展会线索池",
                "daily_claim_limit": 5,
                "recycle_no_followup_days": 7,
                "recycle_no_deal_days": 30,  # not a lead rule: dropped
                "hidden_fields": ["contact_phones", "address"],
            },
            departments=[world.east],
            admins=[world.rep_east2],
        )
    assert group.kind == PoolGroup.Kind.LEAD
    assert group.daily_claim_limit == 5 and group.recycle_no_followup_days == 7
    assert group.recycle_no_deal_days is None
    assert group.hidden_fields == ["address", "contact_phones"]
    with scoped(world.rep_east):
        assert selectors.member_group_ids(fresh_user(world.rep_east), "lead") == [group.pk]


def test_pool_group_save_refusals_for_lead_pools(world, scoped, east_leads):
    with scopes_disabled():
        level = Option.objects.filter(tenant=world.tenant_a, kind=OptionKind.CUSTOMER_LEVEL)[0]
    with scoped(world.manager_sales):
        actor = world.manager_sales
        assert (
            _code(
                lambda: services.pool_group_save(
                    actor=actor, kind="lead", data={"name": "带级别"}, level_rules=[(level, 3, 4)]
                )
            )
            == "option"
        )
        assert (
            _code(
                lambda: services.pool_group_save(
                    actor=actor, kind="lead", data={"name": "乱藏", "hidden_fields": ["bank"]}
                )
            )
            == "field"
        )
        # A group keeps its kind.
        assert (
            _code(
                lambda: services.pool_group_save(
                    actor=actor, group=east_leads, kind="customer", data={"name": "改成公海"}
                )
            )
            == "kind"
        )
    with scoped(world.rep_east), pytest.raises(PermissionRefusedError):
        services.pool_group_save(actor=world.rep_east, kind="lead", data={"name": "代表建的"})


def test_deleting_a_lead_pool_with_leads_is_refused_in_lead_words(world, scoped, east_leads):
    make_pooled_lead(east_leads)
    with scoped(world.manager_sales), pytest.raises(ServiceError) as exc_info:
        services.pool_group_delete(actor=world.manager_sales, group=east_leads)
    assert exc_info.value.code == "not_empty"
    assert "线索" in str(exc_info.value.message)


def test_deleting_an_empty_lead_pool(world, scoped):
    group = make_lead_pool(world.tenant_a, "空线索池")
    with scoped(world.manager_sales):
        services.pool_group_delete(actor=world.manager_sales, group=group)
        assert not PoolGroup.objects.filter(pk=group.pk).exists()


# ---------------------------------------------------------------- claim


def test_claim_takes_the_lead_with_an_event_and_an_activity_entry(world, scoped, east_leads):
    lead = make_pooled_lead(east_leads, previous_owner=world.rep_east2)
    with scoped(world.rep_east):
        result = pooling.lead_claim(actor=world.rep_east, leads=[lead.pk])
    assert [x.pk for x in result.done] == [lead.pk] and result.lost == []
    lead = _fresh(lead)
    assert lead.owner_id == world.rep_east.pk
    assert lead.pooled_at is None and lead.pool_reason == "" and lead.owned_since is not None
    assert lead.pool_group_id == east_leads.pk  # its group's recycling rules apply now
    [event] = _events(lead, LeadEvent.Kind.CLAIMED)
    assert event.to_user_id == world.rep_east.pk and event.pool_group_id == east_leads.pk
    assert len(_logs(lead, actions.POOL_CLAIMED)) == 1
    with scopes_disabled():
        assert not OwnershipEvent.objects.filter(kind="claimed").exists()


def test_claim_reports_a_lead_someone_else_got_first(world, scoped, east_leads):
    lead = make_pooled_lead(east_leads)
    other = make_pooled_lead(east_leads)
    with scoped(world.rep_east2):
        pooling.lead_claim(actor=world.rep_east2, leads=[lead])
    with scoped(world.rep_east):
        result = pooling.lead_claim(actor=world.rep_east, leads=[lead, other])
    assert [x.pk for x in result.done] == [other.pk]
    assert [x.pk for x in result.lost] == [lead.pk]
    # SECURITY: rep_east does not see rep_east2's lead: counted, never named.
    assert str(lead) not in result.lost_message
    assert result.lost_message == "1 条线索不存在或已被他人领取。"


def test_assign_reports_a_lead_someone_else_got_without_naming_it(world, scoped, east_leads):
    """SECURITY: the pool admin rep_east2 sees only their own leads: a lead rep_east claimed
    meanwhile is counted, never named."""
    lead = make_pooled_lead(east_leads)
    free = make_pooled_lead(east_leads)
    with scoped(world.rep_east):
        pooling.lead_claim(actor=world.rep_east, leads=[lead])
    with scoped(world.rep_east2):
        result = pooling.lead_assign(
            actor=world.rep_east2, leads=[lead, free], users=[world.rep_east]
        )
    assert [x.pk for x in result.done] == [free.pk] and [x.pk for x in result.lost] == [lead.pk]
    assert str(lead) not in result.lost_message
    assert result.lost_message == "1 条线索不存在或已被他人领取。"


def test_move_refusal_does_not_name_a_lead_the_admin_may_not_see(world, scoped, east_leads):
    other = make_group(
        world.tenant_a,
        "第二线索池",
        kind=PoolGroup.Kind.LEAD,
        departments=[world.east],
        admins=[world.rep_east2],
    )
    lead = make_pooled_lead(east_leads)
    with scoped(world.rep_east):
        pooling.lead_claim(actor=world.rep_east, leads=[lead])
    with scoped(world.rep_east2), pytest.raises(ServiceError) as exc:
        pooling.lead_move(actor=world.rep_east2, leads=[lead], group=other)
    assert exc.value.code == "taken"
    assert str(lead) not in str(exc.value.message)
    assert "1 条线索不存在或已被他人领取。" in str(exc.value.message)


def test_claim_refused_when_not_a_member(world, scoped, east_leads):
    lead = make_pooled_lead(east_leads)
    with scoped(world.rep_west):
        assert _code(lambda: pooling.lead_claim(actor=world.rep_west, leads=[lead])) == (
            "not_visible"
        )
    assert _fresh(lead).owner_id is None


def test_claim_refused_for_another_tenants_lead_as_invisible(world, scoped):
    b_pool = make_lead_pool(world.tenant_b, "乙线索池")
    lead = make_pooled_lead(b_pool)
    with scoped(world.admin_a):
        assert _code(lambda: pooling.lead_claim(actor=world.admin_a, leads=[lead.pk])) == (
            "not_visible"
        )
    assert _fresh(lead).owner_id is None


def test_claim_refused_in_admin_only_claim_mode_but_admins_claim(world, scoped, east_leads):
    east_leads.claim_mode = PoolGroup.ClaimMode.ADMIN
    with scopes_disabled():
        east_leads.save()
    lead = make_pooled_lead(east_leads)
    with scoped(world.rep_east):
        assert _code(lambda: pooling.lead_claim(actor=world.rep_east, leads=[lead])) == (
            "admin_only"
        )
    with scoped(world.rep_east2):
        pooling.lead_claim(actor=world.rep_east2, leads=[lead])
    assert _fresh(lead).owner_id == world.rep_east2.pk


def test_claim_refused_past_the_daily_limit_counting_lead_claims_only(world, scoped):
    group = make_lead_pool(world.tenant_a, "限量线索池", daily_claim_limit=2)
    leads = [make_pooled_lead(group) for _ in range(3)]
    # Customers claimed today do not count towards a lead pool's limit.
    customer_pool = make_group(world.tenant_a, "公海", open_to_all=True)
    customers = [pooled(customer_pool) for _ in range(2)]
    with scoped(world.rep_east):
        customer_pooling.customer_claim(actor=world.rep_east, customers=customers)
        pooling.lead_claim(actor=world.rep_east, leads=leads[:2])
        with pytest.raises(ServiceError) as exc_info:
            pooling.lead_claim(actor=world.rep_east, leads=[leads[2]])
    assert exc_info.value.code == "daily_limit"
    assert "线索" in str(exc_info.value.message)
    assert _fresh(leads[2]).owner_id is None


def test_claim_refused_past_the_holding_limit_of_open_leads(world, scoped):
    group = make_lead_pool(world.tenant_a, "限持线索池", holding_limit=2)
    make_lead(world.tenant_a, world.rep_east)
    # Closed and converted leads are done with; customers are another matter.
    make_lead(world.tenant_a, world.rep_east, status=Lead.Status.CLOSED)
    make_lead(world.tenant_a, world.rep_east, status=Lead.Status.CONVERTED)
    make_customer(world.tenant_a, world.rep_east)
    first, second = make_pooled_lead(group), make_pooled_lead(group)
    with scoped(world.rep_east):
        pooling.lead_claim(actor=world.rep_east, leads=[first])
        assert _code(lambda: pooling.lead_claim(actor=world.rep_east, leads=[second])) == (
            "holding_limit"
        )
    assert _fresh(second).owner_id is None


def test_claim_refused_during_the_cool_down_of_the_former_owner(world, scoped):
    group = make_lead_pool(world.tenant_a, "冷却线索池", cooldown_days=3)
    lead = make_pooled_lead(group, previous_owner=world.rep_east, pooled_at=timezone.now() - DAY)
    with scoped(world.rep_east):
        assert _code(lambda: pooling.lead_claim(actor=world.rep_east, leads=[lead])) == ("cooldown")
    with scoped(world.rep_west):
        pooling.lead_claim(actor=world.rep_west, leads=[lead])
    assert _fresh(lead).owner_id == world.rep_west.pk


def test_claim_refused_for_an_inactive_user(world, scoped, east_leads):
    lead = make_pooled_lead(east_leads)
    with scopes_disabled():
        world.rep_east.is_active = False
        world.rep_east.save()
    with scoped(world.rep_east), pytest.raises(PermissionRefusedError):
        pooling.lead_claim(actor=world.rep_east, leads=[lead])


def test_claim_refused_without_any_lead(world, scoped):
    with scoped(world.rep_east):
        assert _code(lambda: pooling.lead_claim(actor=world.rep_east, leads=[])) == "empty"


# ---------------------------------------------------------------- assign


def test_assign_spreads_leads_evenly_with_events_and_notifications(world, scoped, east_leads):
    leads = [make_pooled_lead(east_leads) for _ in range(4)]
    with scoped(world.rep_east2):
        result = pooling.lead_assign(
            actor=world.rep_east2, leads=leads, users=[world.rep_east, world.rep_west]
        )
    assert len(result.done) == 4
    owners = [_fresh(lead).owner_id for lead in leads]
    assert sorted(owners) == sorted([world.rep_east.pk] * 2 + [world.rep_west.pk] * 2)
    for lead in leads:
        [event] = _events(lead, LeadEvent.Kind.ASSIGNED)
        assert event.actor_id == world.rep_east2.pk and event.pool_group_id == east_leads.pk
        assert len(_logs(lead, actions.POOL_ASSIGNED)) == 1
    from crm.models import Notification

    with scopes_disabled():
        assert Notification.objects.filter(recipient=world.rep_west).count() == 1


def test_assign_refused_to_a_plain_member(world, scoped, east_leads):
    lead = make_pooled_lead(east_leads)
    with scoped(world.rep_east):
        assert (
            _code(
                lambda: pooling.lead_assign(
                    actor=world.rep_east, leads=[lead], users=[world.rep_west]
                )
            )
            == "not_visible"
        )


def test_assign_refused_to_an_inactive_user(world, scoped, east_leads):
    lead = make_pooled_lead(east_leads)
    gone = make_user(world.tenant_a, "gone", department=world.east, is_active=False)
    with scoped(world.rep_east2):
        assert (
            _code(lambda: pooling.lead_assign(actor=world.rep_east2, leads=[lead], users=[gone]))
            == "inactive"
        )


def test_assign_refused_past_the_receivers_holding_limit(world, scoped):
    group = make_lead_pool(world.tenant_a, "限持线索池", holding_limit=1)
    make_lead(world.tenant_a, world.rep_west)
    lead = make_pooled_lead(group)
    with scoped(world.manager_sales), pytest.raises(ServiceError) as exc_info:
        pooling.lead_assign(actor=world.manager_sales, leads=[lead], users=[world.rep_west])
    assert exc_info.value.code == "holding_limit"
    assert "rep_west" in str(exc_info.value.message)


# ---------------------------------------------------------------- return


def test_return_puts_the_lead_into_its_pool_with_reason_event_and_activity(
    world, scoped, east_leads, monkeypatch
):
    from leads import assignment

    calls = []
    monkeypatch.setattr(
        assignment, "auto_assign", lambda **kw: calls.append(kw) or {}, raising=True
    )
    lead = make_lead(world.tenant_a, world.rep_east, pool_group=east_leads)
    reason = return_reason(world.tenant_a)
    with scoped(world.rep_east):
        returned = pooling.lead_return(
            actor=world.rep_east, leads=[lead], reason=reason, note="号码空号"
        )
    lead = _fresh(lead)
    assert lead.owner_id is None and lead.pooled_at is not None
    assert lead.pool_group_id == east_leads.pk
    assert lead.previous_owner_id == world.rep_east.pk
    assert lead.pool_reason == PoolReason.RETURNED
    assert lead.pool_note == "联系不上：号码空号"
    assert lead.owned_since is None
    [event] = _events(lead, LeadEvent.Kind.RETURNED)
    assert event.from_user_id == world.rep_east.pk and event.note == "联系不上：号码空号"
    assert len(_logs(lead, actions.POOL_RETURNED)) == 1
    # The assignment rules for returned leads get their turn.
    assert [c["trigger"] for c in calls] == ["return"]
    assert [x.pk for x in calls[0]["leads"]] == [x.pk for x in returned] == [lead.pk]
    assert calls[0]["actor"] == world.rep_east


def test_return_without_a_group_goes_into_the_default_lead_pool(world, scoped):
    lead = make_lead(world.tenant_a, world.rep_east)
    with scoped(world.rep_east):
        pooling.lead_return(
            actor=world.rep_east, leads=[lead], reason=return_reason(world.tenant_a)
        )
        default = services.default_group_for(world.tenant_a.pk, "lead")
    assert _fresh(lead).pool_group_id == default.pk


def test_return_into_a_chosen_lead_pool_where_allowed(world, scoped, east_leads):
    home = make_lead_pool(world.tenant_a, "原线索池", allow_return_elsewhere=True)
    closed_home = make_lead_pool(world.tenant_a, "封闭线索池")
    reason = return_reason(world.tenant_a)
    lead = make_lead(world.tenant_a, world.rep_east, pool_group=home)
    stuck = make_lead(world.tenant_a, world.rep_east, pool_group=closed_home)
    with scoped(world.rep_east):
        pooling.lead_return(actor=world.rep_east, leads=[lead], reason=reason, group=east_leads)
        assert (
            _code(
                lambda: pooling.lead_return(
                    actor=world.rep_east, leads=[stuck], reason=reason, group=east_leads
                )
            )
            == "other_group"
        )
    assert _fresh(lead).pool_group_id == east_leads.pk
    assert _fresh(stuck).owner_id == world.rep_east.pk


def test_return_refusals(world, scoped, east_leads):
    reason = return_reason(world.tenant_a)
    mine = make_lead(world.tenant_a, world.rep_east)
    theirs = make_lead(world.tenant_a, world.rep_west)
    converted = make_lead(world.tenant_a, world.rep_east, status=Lead.Status.CONVERTED)
    pooled_lead = make_pooled_lead(east_leads)
    b_lead = make_lead(world.tenant_b, world.rep_b)
    with scopes_disabled():
        wrong_option = Option.objects.filter(
            tenant=world.tenant_a, kind=OptionKind.CUSTOMER_SOURCE
        )[0]
    actor = world.rep_east

    def back(leads, **kw):
        kw.setdefault("reason", reason)
        return lambda: pooling.lead_return(actor=actor, leads=leads, **kw)

    with scoped(actor):
        assert _code(back([mine], reason=None)) == "reason"
        assert _code(back([mine], reason=wrong_option)) == "option"
        assert _code(back([theirs])) == "not_visible"
        assert _code(back([b_lead.pk])) == "not_visible"
        assert _code(back([converted])) == "converted"
        assert _code(back([pooled_lead])) == "in_pool"
        assert _code(back([])) == "empty"
    assert _fresh(mine).owner_id == world.rep_east.pk
    assert _fresh(converted).owner_id == world.rep_east.pk


def test_return_by_a_manager_of_the_owner(world, scoped):
    lead = make_lead(world.tenant_a, world.rep_west)
    with scoped(world.manager_sales):
        pooling.lead_return(
            actor=world.manager_sales, leads=[lead], reason=return_reason(world.tenant_a)
        )
    assert _fresh(lead).owner_id is None


def test_return_refused_for_a_colleague_who_only_sees_the_lead(world, scoped, east_leads):
    """rep_east2 sees a lead of rep_east only if in scope; a pooled-then-claimed lead of
    another rep is not theirs to return."""
    lead = make_lead(world.tenant_a, world.rep_east)
    with scoped(world.rep_east2):
        assert (
            _code(
                lambda: pooling.lead_return(
                    actor=world.rep_east2, leads=[lead], reason=return_reason(world.tenant_a)
                )
            )
            == "not_visible"
        )


# ---------------------------------------------------------------- move


def test_move_by_an_admin_of_both_pools_writes_moved_events(world, scoped, east_leads):
    other = make_lead_pool(world.tenant_a, "第二线索池")
    lead = make_pooled_lead(east_leads)
    with scoped(world.manager_sales):
        moved = pooling.lead_move(actor=world.manager_sales, leads=[lead], group=other)
    assert [x.pk for x in moved] == [lead.pk]
    assert _fresh(lead).pool_group_id == other.pk and _fresh(lead).owner_id is None
    [event] = _events(lead, LeadEvent.Kind.MOVED)
    assert event.pool_group_id == other.pk and event.note == "华东线索池"
    assert len(_logs(lead, actions.POOL_MOVED)) == 1


def test_move_refused_to_a_non_admin_of_the_target(world, scoped, east_leads):
    other = make_lead_pool(world.tenant_a, "第二线索池")
    lead = make_pooled_lead(east_leads)
    with scoped(world.rep_east2), pytest.raises(PermissionRefusedError):
        pooling.lead_move(actor=world.rep_east2, leads=[lead], group=other)


def test_move_refused_for_a_lead_no_longer_in_the_pool(world, scoped, east_leads):
    other = make_lead_pool(world.tenant_a, "第二线索池")
    lead = make_lead(world.tenant_a, world.rep_east, pool_group=east_leads)
    with scoped(world.manager_sales):
        assert (
            _code(lambda: pooling.lead_move(actor=world.manager_sales, leads=[lead], group=other))
            == "taken"
        )


# ---------------------------------------------------------------- the wall between kinds


def test_a_lead_never_goes_into_a_customer_pool(world, scoped, east_leads):
    customer_pool = make_group(world.tenant_a, "华东公海", open_to_all=True)
    lead = make_lead(world.tenant_a, world.rep_east)
    pooled_lead = make_pooled_lead(east_leads)
    reason = return_reason(world.tenant_a)
    with scoped(world.admin_a):
        assert (
            _code(
                lambda: pooling.lead_return(
                    actor=world.admin_a, leads=[lead], reason=reason, group=customer_pool
                )
            )
            == "kind"
        )
        assert (
            _code(
                lambda: pooling.lead_move(
                    actor=world.admin_a, leads=[pooled_lead], group=customer_pool
                )
            )
            == "kind"
        )
    assert _fresh(lead).owner_id == world.rep_east.pk
    assert _fresh(pooled_lead).pool_group_id == east_leads.pk


def test_a_customer_never_goes_into_a_lead_pool(world, scoped, east_leads):
    customer_pool = make_group(world.tenant_a, "华东公海", open_to_all=True)
    customer = owned(customer_pool, world.rep_east)
    waiting = pooled(customer_pool)
    reason = return_reason(world.tenant_a)
    with scoped(world.admin_a):
        assert (
            _code(
                lambda: customer_pooling.customer_return(
                    actor=world.admin_a, customers=[customer], reason=reason, group=east_leads
                )
            )
            == "kind"
        )
        assert (
            _code(
                lambda: customer_pooling.customer_move(
                    actor=world.admin_a, customers=[waiting], group=east_leads
                )
            )
            == "kind"
        )
        assert (
            _code(
                lambda: customer_pooling.customer_pool_initialize(
                    actor=world.admin_a, group=east_leads
                )
            )
            == "kind"
        )
    with scopes_disabled():
        assert Customer.objects.get(pk=customer.pk).owner_id == world.rep_east.pk
        assert Customer.objects.get(pk=waiting.pk).pool_group_id == customer_pool.pk


def test_rows_of_one_kind_lying_in_a_group_of_the_other_are_never_claimed(world, scoped):
    """Defence in depth: even a row that a bug put into the wrong kind of group is refused
    as invisible, whoever asks."""
    customer_pool = make_group(world.tenant_a, "华东公海", open_to_all=True)
    lead_pool = make_lead_pool(world.tenant_a, "线索池")
    stray_lead = make_pooled_lead(customer_pool)
    stray_customer = pooled(lead_pool)
    with scoped(world.admin_a):
        assert (
            _code(lambda: pooling.lead_claim(actor=world.admin_a, leads=[stray_lead]))
            == "not_visible"
        )
        assert (
            _code(
                lambda: customer_pooling.customer_claim(
                    actor=world.admin_a, customers=[stray_customer]
                )
            )
            == "not_visible"
        )


def test_customer_pool_reads_never_list_lead_pools(world, scoped, east_leads):
    lead = make_pooled_lead(east_leads)
    with scoped(world.admin_a):
        admin = fresh_user(world.admin_a)
        assert east_leads.pk not in [g.pk for g in selectors.visible_groups(admin, "customer")]
        assert east_leads.pk not in [g.pk for g in services.return_targets(admin, kind="customer")]
        assert list(selectors.pool_base(actor=admin, kind="customer")) == []
        assert [x.pk for x in selectors.pool_base(actor=admin, kind="lead")] == [lead.pk]
        assert [g.pk for g in services.return_targets(admin, kind="lead")] == [east_leads.pk]


def test_hidden_fields_of_a_pooled_lead(world, scoped, east_leads):
    lead = make_pooled_lead(east_leads, mobile="13911112222")
    with scoped(world.rep_east):
        lead = Lead.objects.select_related("pool_group").get(pk=lead.pk)
        assert pooling.lead_hidden_fields(actor=fresh_user(world.rep_east), lead=lead) == {
            "contact_phones",
            "contact_emails",
        }
        assert pooling.lead_hidden_fields(actor=fresh_user(world.rep_east2), lead=lead) == set()
        assert pooling.lead_hidden_fields(actor=fresh_user(world.manager_sales), lead=lead) == set()
        pooling.lead_claim(actor=world.rep_east, leads=[lead])
        lead = Lead.objects.select_related("pool_group").get(pk=lead.pk)
        assert pooling.lead_hidden_fields(actor=fresh_user(world.rep_east), lead=lead) == set()


def test_lead_may_return_and_return_targets_for_the_page(world, scoped, east_leads):
    lead = make_lead(world.tenant_a, world.rep_east, pool_group=east_leads)
    converted = make_lead(world.tenant_a, world.rep_east, status=Lead.Status.CONVERTED)
    with scoped(world.rep_east):
        lead = Lead.objects.select_related("pool_group").get(pk=lead.pk)
        assert pooling.lead_may_return(actor=world.rep_east, lead=lead)
        assert not pooling.lead_may_return(actor=world.rep_east, lead=_fresh(converted))
        assert not pooling.lead_may_return(actor=world.rep_west, lead=lead)
        targets = pooling.lead_return_targets(actor=fresh_user(world.rep_east), lead=lead)
        assert [g.pk for g in targets] == [east_leads.pk]
        assert list(pooling.lead_return_reasons(world.tenant_a.pk))


def test_customers_are_never_created_or_imported_into_a_lead_pool(world, scoped, east_leads):
    from customers import services as customer_services
    from customers.importing import CustomerImporter

    with scoped(world.admin_a):
        assert (
            _code(
                lambda: customer_services.customer_create(
                    actor=world.admin_a,
                    data={"name": "误入线索池"},
                    owner=None,
                    pool_group=east_leads,
                )
            )
            == "kind"
        )
        assert (
            _code(
                lambda: CustomerImporter().clean_options(
                    world.admin_a, {"target": "pool", "pool_group": east_leads.pk}
                )
            )
            == "target"
        )
    with scopes_disabled():
        assert not Customer.objects.filter(name="误入线索池").exists()
