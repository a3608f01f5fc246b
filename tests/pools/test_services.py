"""Pool services: groups, claim, assign, return, move, initialise, and who sees the pool —
each for what it does and for every refusal, asserted by its exact code."""

from __future__ import annotations

import datetime

import pytest
from django.http import Http404
from django.utils import timezone
from django_scopes import scopes_disabled

from crm.exceptions import NotFoundError, PermissionRefusedError, ServiceError
from crm.models import OptionKind
from crm.services import tenant_create
from crm.visibility import get_visible_or_404, visible_to
from customers import pooling
from customers import services as customer_services
from customers.models import (
    Customer,
    CustomerParticipant,
    CustomerUserObjectPermission,
    OwnershipEvent,
    PoolReason,
)
from pools import activity_actions as actions
from pools import selectors, services
from pools.models import PoolGroup, PoolGroupUser, PoolLevelRule
from tests.customers.factories import (
    events,
    exists,
    fresh,
    logs,
    make_customer,
    make_participant,
    notifications,
    option,
)
from tests.factories import make_user
from tests.pools.factories import (
    DAY,
    claimed_events,
    fresh_user,
    levels,
    make_group,
    owned,
    pooled,
    return_reason,
    set_rules,
)


@pytest.fixture
def east_pool(world):
    """华东公海: the east department are members, rep_east2 is its pool admin."""
    return make_group(
        world.tenant_a, "华东公海", departments=[world.east], admins=[world.rep_east2]
    )


def _codes(exc_info) -> str:
    return exc_info.value.code


def _pks(customers) -> list[int]:
    return sorted(c.pk for c in customers)


def _owner_ids(customers) -> list[int | None]:
    return [fresh(c).owner_id for c in customers]


# ---------------------------------------------------------------- groups


def test_tenant_create_makes_one_open_default_group(db):
    with scopes_disabled():
        tenant = tenant_create(name="新公司", slug="new-co")
        groups = list(PoolGroup.objects.filter(tenant=tenant))
    assert len(groups) == 1
    assert groups[0].is_default and groups[0].open_to_all and groups[0].is_enabled
    with scopes_disabled():
        assert services.default_group_for(tenant.pk, "customer") == groups[0]  # idempotent
        assert PoolGroup.objects.filter(tenant=tenant).count() == 1


def test_world_tenants_have_their_own_default_group(world):
    with scopes_disabled():
        a = services.default_group_for(world.tenant_a.pk, "customer")
        b = services.default_group_for(world.tenant_b.pk, "customer")
    assert a.tenant_id == world.tenant_a.pk and b.tenant_id == world.tenant_b.pk
    assert a.pk != b.pk


def test_customer_create_without_owner_lies_in_the_default_pool(world, scoped):
    with scoped(world.admin_a):
        customer = customer_services.customer_create(
            actor=world.admin_a, data={"name": "无主客户"}, owner=None
        )
        default = services.default_group_for(world.tenant_a.pk, "customer")
    customer = fresh(customer)
    assert customer.owner_id is None
    assert customer.pool_group_id == default.pk
    assert customer.pooled_at is not None
    assert customer.pool_reason == PoolReason.CREATED
    [event] = events(customer)
    assert event.kind == OwnershipEvent.Kind.CREATED and event.pool_group_id == default.pk


def test_pool_group_save_creates_group_with_members_admins_and_level_rules(world, scoped):
    level_a, level_b, *_ = levels(world.tenant_a)
    with scoped(world.admin_a):
        group = services.pool_group_save(
            kind="customer",
            actor=world.admin_a,
            data={
                "name": "  销售公海 ",
                "daily_claim_limit": 5,
                "hidden_fields": ["remark", "contact_phones"],
                "is_default": True,  # not a settable field: ignored
            },
            departments=[world.sales],
            users=[world.rep_east],
            admins=[world.manager_sales],
            level_rules=[(level_a, 10, None), (level_b, 0, 30)],
        )
    with scopes_disabled():
        group = PoolGroup.objects.get(pk=group.pk)
        members = sorted(
            PoolGroupUser.objects.filter(group=group).values_list("user_id", "is_admin")
        )
        rules = sorted(
            PoolLevelRule.objects.filter(group=group).values_list(
                "level_id", "no_followup_days", "no_deal_days"
            )
        )
        depts = list(group.member_departments.values_list("department_id", flat=True))
    assert group.name == "销售公海"
    assert group.daily_claim_limit == 5
    assert not group.is_default
    assert group.hidden_fields == ["contact_phones", "remark"]
    assert members == sorted([(world.rep_east.pk, False), (world.manager_sales.pk, True)])
    assert rules == sorted([(level_a.pk, 10, None), (level_b.pk, None, 30)])
    assert depts == [world.sales.pk]
    assert [log.action for log in logs(group)] == [actions.POOL_GROUP_CREATED]


def test_pool_group_save_refused_for_non_managers(world, scoped):
    with scoped(world.rep_east), pytest.raises(PermissionRefusedError):
        services.pool_group_save(kind="customer", actor=world.rep_east, data={"name": "我的公海"})


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"name": "  "}, "required"),
        ({}, "required"),
        ({"name": "华东公海"}, "duplicate"),
        ({"name": "新的", "hidden_fields": ["password"]}, "field"),
    ],
)
def test_pool_group_save_refuses_bad_data(world, scoped, east_pool, data, code):
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.pool_group_save(kind="customer", actor=world.admin_a, data=data)
    assert _codes(exc) == code


def test_pool_group_save_refuses_an_option_that_is_not_a_level(world, scoped):
    source = option(world.tenant_a, OptionKind.CUSTOMER_SOURCE)
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.pool_group_save(
            kind="customer",
            actor=world.admin_a,
            data={"name": "新的"},
            level_rules=[(source, 3, None)],
        )
    assert _codes(exc) == "option"


def test_pool_group_save_refuses_members_of_another_tenant(world, scoped):
    with scoped(world.admin_a), pytest.raises(NotFoundError) as exc:
        services.pool_group_save(
            kind="customer", actor=world.admin_a, data={"name": "新的"}, users=[world.rep_b]
        )
    assert _codes(exc) == "not_found"


def test_default_group_cannot_be_disabled_or_deleted(world, scoped):
    with scoped(world.admin_a):
        default = services.default_group_for(world.tenant_a.pk, "customer")
        with pytest.raises(ServiceError) as exc:
            services.pool_group_save(actor=world.admin_a, group=default, data={"is_enabled": False})
        assert _codes(exc) == "default"
        with pytest.raises(ServiceError) as exc:
            services.pool_group_delete(actor=world.admin_a, group=default)
        assert _codes(exc) == "default"
    assert fresh(default).is_enabled


def test_group_with_customers_cannot_be_deleted(world, scoped, east_pool):
    customer = owned(east_pool, world.rep_east)
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.pool_group_delete(actor=world.admin_a, group=east_pool)
    assert _codes(exc) == "not_empty"
    assert exists(east_pool) and fresh(customer).pool_group_id == east_pool.pk


def test_group_with_only_binned_customers_cannot_be_deleted(world, scoped, east_pool):
    pooled(east_pool, deleted_at=timezone.now())
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.pool_group_delete(actor=world.admin_a, group=east_pool)
    assert _codes(exc) == "not_empty"


def test_empty_group_is_deleted_by_a_manager_only(world, scoped, east_pool):
    with scoped(world.rep_east), pytest.raises(PermissionRefusedError):
        services.pool_group_delete(actor=world.rep_east, group=east_pool)
    with scoped(world.admin_a):
        services.pool_group_delete(actor=world.admin_a, group=east_pool)
    assert not exists(east_pool)


# ---------------------------------------------------------------- claim


def test_claim_single_takes_the_customer_out_of_the_pool(world, scoped, east_pool):
    customer = pooled(east_pool, "华东重工", previous_owner=world.rep_west)
    before = timezone.now()
    with scoped(world.rep_east):
        result = pooling.customer_claim(actor=world.rep_east, customers=[customer.pk])
    assert _pks(result.done) == [customer.pk] and result.lost == []
    assert result.lost_message == ""
    customer = fresh(customer)
    assert customer.owner_id == world.rep_east.pk
    assert customer.pooled_at is None
    assert customer.pool_reason == "" and customer.pool_note == ""
    assert customer.owned_since >= before
    assert customer.pool_group_id == east_pool.pk  # it keeps its group: its rules apply now
    [event] = events(customer)
    assert event.kind == OwnershipEvent.Kind.CLAIMED
    assert event.pool_group_id == east_pool.pk
    assert (event.from_user_id, event.to_user_id, event.actor_id) == (
        None,
        world.rep_east.pk,
        world.rep_east.pk,
    )
    [log] = logs(customer, actions.POOL_CLAIMED)
    assert log.actor_id == world.rep_east.pk and log.note == "华东公海"


def test_claim_batch_takes_every_customer(world, scoped, east_pool):
    customers = [pooled(east_pool) for _ in range(3)]
    with scoped(world.rep_east):
        result = pooling.customer_claim(actor=world.rep_east, customers=customers)
    assert _pks(result.done) == _pks(customers)
    assert _owner_ids(customers) == [world.rep_east.pk] * 3
    assert len(claimed_events(c.pk for c in customers)) == 3


def test_claim_of_nothing_is_refused(world, scoped, east_pool):
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        pooling.customer_claim(actor=world.rep_east, customers=[])
    assert _codes(exc) == "empty"


def test_claim_reports_the_customers_someone_else_got_without_naming_them(world, scoped, east_pool):
    """SECURITY: a rep whose scope is their own records may not learn the name of a customer
    a colleague took first: the count says what happened, the name stays out."""
    free = pooled(east_pool, "还在公海")
    gone = pooled(east_pool, "被抢走的")
    with scoped(world.rep_east2):
        pooling.customer_claim(actor=world.rep_east2, customers=[gone])
    with scoped(world.rep_east):
        result = pooling.customer_claim(actor=world.rep_east, customers=[free, gone])
    assert _pks(result.done) == [free.pk]
    assert _pks(result.lost) == [gone.pk]
    assert not result.lost_visible
    assert result.lost_message == "1 个客户不存在或已被他人领取。"
    assert "被抢走的" not in result.lost_message
    assert fresh(gone).owner_id == world.rep_east2.pk
    assert len(claimed_events([gone.pk])) == 1


def test_claim_names_the_lost_customers_the_claimer_still_sees(world, scoped):
    """A manager whose data scope covers the new owner sees the customer: it is named."""
    group = make_group(
        world.tenant_a, "经理的公海", departments=[world.east], users=[world.manager_sales]
    )
    free = pooled(group, "还在公海")
    gone = pooled(group, "被抢走的")
    with scoped(world.rep_east2):
        pooling.customer_claim(actor=world.rep_east2, customers=[gone])
    with scoped(world.manager_sales):
        result = pooling.customer_claim(actor=world.manager_sales, customers=[free, gone])
    assert _pks(result.lost) == [gone.pk] and result.lost_visible
    assert "被抢走的" in result.lost_message and "1" in result.lost_message


def test_claim_refused_when_daily_limit_reached(world, scoped, east_pool):
    set_rules(east_pool, daily_claim_limit=2)
    other = make_group(world.tenant_a, "别的公海", departments=[world.east])
    first, second, third = (pooled(east_pool) for _ in range(3))
    elsewhere = pooled(other)
    with scoped(world.rep_east):
        pooling.customer_claim(actor=world.rep_east, customers=[first, second])
        with pytest.raises(ServiceError) as exc:
            pooling.customer_claim(actor=world.rep_east, customers=[third])
        assert _codes(exc) == "daily_limit"
        # The limit is per group: another group's pool is still open.
        pooling.customer_claim(actor=world.rep_east, customers=[elsewhere])
        # Another rep has their own count.
        pooling.customer_claim(actor=world.rep_east2, customers=[third])
    assert fresh(third).owner_id == world.rep_east2.pk


def test_daily_limit_counts_only_todays_claims(world, scoped, east_pool):
    set_rules(east_pool, daily_claim_limit=1)
    first, second = pooled(east_pool), pooled(east_pool)
    with scoped(world.rep_east):
        pooling.customer_claim(actor=world.rep_east, customers=[first])
        with pytest.raises(ServiceError) as exc:
            pooling.customer_claim(actor=world.rep_east, customers=[second])
        assert _codes(exc) == "daily_limit"
        OwnershipEvent.objects.filter(customer=first).update(created_at=timezone.now() - 2 * DAY)
        pooling.customer_claim(actor=world.rep_east, customers=[second])
    assert fresh(second).owner_id == world.rep_east.pk


def test_daily_limit_refuses_a_batch_that_would_cross_it(world, scoped, east_pool):
    set_rules(east_pool, daily_claim_limit=2)
    customers = [pooled(east_pool) for _ in range(3)]
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        pooling.customer_claim(actor=world.rep_east, customers=customers)
    assert _codes(exc) == "daily_limit"
    assert _owner_ids(customers) == [None] * 3
    assert claimed_events(c.pk for c in customers) == []


def test_claim_refused_when_holding_limit_reached_signed_not_counted(world, scoped, east_pool):
    set_rules(east_pool, holding_limit=2)
    owned(east_pool, world.rep_east)
    owned(east_pool, world.rep_east, lifecycle=Customer.Lifecycle.SIGNED)
    first, second = pooled(east_pool), pooled(east_pool)
    with scoped(world.rep_east):
        pooling.customer_claim(actor=world.rep_east, customers=[first])  # 1 + 1 = 2
        with pytest.raises(ServiceError) as exc:
            pooling.customer_claim(actor=world.rep_east, customers=[second])
    assert _codes(exc) == "holding_limit"
    assert fresh(second).owner_id is None


def test_claim_refused_when_holding_limit_reached_signed_counted(world, scoped, east_pool):
    set_rules(east_pool, holding_limit=2, holding_counts_signed=True)
    owned(east_pool, world.rep_east)
    owned(east_pool, world.rep_east, lifecycle=Customer.Lifecycle.SIGNED)
    customer = pooled(east_pool)
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        pooling.customer_claim(actor=world.rep_east, customers=[customer])
    assert _codes(exc) == "holding_limit"
    assert fresh(customer).owner_id is None


def test_claim_refused_during_cooldown_for_the_former_owner(world, scoped, east_pool):
    set_rules(east_pool, cooldown_days=7)
    recent = pooled(
        east_pool, "刚退回的", previous_owner=world.rep_east, at=timezone.now() - 2 * DAY
    )
    old = pooled(east_pool, "早退回的", previous_owner=world.rep_east, at=timezone.now() - 8 * DAY)
    with scoped(world.rep_east):
        with pytest.raises(ServiceError) as exc:
            pooling.customer_claim(actor=world.rep_east, customers=[recent, old])
        assert _codes(exc) == "cooldown"
        assert "刚退回的" in exc.value.message and "早退回的" not in exc.value.message
        assert _owner_ids([recent, old]) == [None, None]  # all or nothing
        pooling.customer_claim(actor=world.rep_east, customers=[old])
    with scoped(world.rep_east2):
        pooling.customer_claim(actor=world.rep_east2, customers=[recent])
    assert _owner_ids([recent, old]) == [world.rep_east2.pk, world.rep_east.pk]


def test_claim_mode_admin_refuses_members_but_lets_admins_claim(world, scoped, east_pool):
    set_rules(east_pool, claim_mode=PoolGroup.ClaimMode.ADMIN)
    customer = pooled(east_pool)
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        pooling.customer_claim(actor=world.rep_east, customers=[customer])
    assert _codes(exc) == "admin_only"
    assert fresh(customer).owner_id is None
    with scoped(world.rep_east2):  # the group's pool admin
        pooling.customer_claim(actor=world.rep_east2, customers=[customer])
    assert fresh(customer).owner_id == world.rep_east2.pk


def test_claim_refused_for_non_members_as_not_visible(world, scoped, east_pool):
    customer = pooled(east_pool)
    with scoped(world.rep_west), pytest.raises(ServiceError) as exc:
        pooling.customer_claim(actor=world.rep_west, customers=[customer])
    assert _codes(exc) == "not_visible"
    assert fresh(customer).owner_id is None
    assert claimed_events([customer.pk]) == []


def test_claim_batch_with_one_invisible_row_changes_nothing(world, scoped, east_pool):
    mine = pooled(east_pool)
    west = make_group(world.tenant_a, "华西公海", departments=[world.west])
    theirs = pooled(west)
    owned_customer = owned(east_pool, world.rep_east2)  # not in any pool, but taken
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        pooling.customer_claim(actor=world.rep_east, customers=[mine, theirs, owned_customer])
    assert _codes(exc) == "not_visible"
    assert _owner_ids([mine, theirs]) == [None, None]


def test_claim_refused_for_a_disabled_group(world, scoped, east_pool):
    set_rules(east_pool, is_enabled=False)
    customer = pooled(east_pool)
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        pooling.customer_claim(actor=world.rep_east, customers=[customer])
    assert _codes(exc) == "not_visible"


def test_claim_across_tenants_is_not_visible(world, scoped, east_pool):
    a_customer = pooled(east_pool)
    with scopes_disabled():
        b_group = services.default_group_for(world.tenant_b.pk, "customer")
    b_customer = pooled(b_group)
    with scoped(world.rep_b), pytest.raises(ServiceError) as exc:
        pooling.customer_claim(actor=world.rep_b, customers=[a_customer])
    assert _codes(exc) == "not_visible"
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        pooling.customer_claim(actor=world.rep_east, customers=[b_customer])
    assert _codes(exc) == "not_visible"
    assert _owner_ids([a_customer, b_customer]) == [None, None]


def test_claim_refused_for_a_deactivated_user(world, scoped, east_pool):
    customer = pooled(east_pool)
    world.rep_east.is_active = False
    with scoped(world.rep_east), pytest.raises(PermissionRefusedError):
        pooling.customer_claim(actor=world.rep_east, customers=[customer])


# ---------------------------------------------------------------- assign


@pytest.fixture
def reps(world):
    return [world.rep_east, world.rep_east2, world.rep_west]


def test_assign_even_distribution_deals_customers_out_in_turn(world, scoped, east_pool, reps):
    customers = [pooled(east_pool) for _ in range(7)]
    with scoped(world.rep_east2):
        result = pooling.customer_assign(
            actor=world.rep_east2, customers=customers, users=reps, note="新人开单"
        )
    assert _pks(result.done) == _pks(customers) and result.lost == []
    by_pk = sorted(customers, key=lambda c: c.pk)
    targets = sorted(reps, key=lambda u: u.pk)
    expected = {c.pk: targets[i % 3].pk for i, c in enumerate(by_pk)}
    assert {c.pk: fresh(c).owner_id for c in customers} == expected
    counts = sorted(list(expected.values()).count(u.pk) for u in reps)
    assert counts == [2, 2, 3]
    with scopes_disabled():
        kinds = set(
            OwnershipEvent.objects.filter(customer__in=customers).values_list(
                "kind", "pool_group_id", "actor_id", "note"
            )
        )
    assert kinds == {(OwnershipEvent.Kind.ASSIGNED, east_pool.pk, world.rep_east2.pk, "新人开单")}
    assert all(fresh(c).pooled_at is None for c in customers)
    assert len(logs(by_pk[0], actions.POOL_ASSIGNED)) == 1
    # Each receiver other than the actor is told once for their share.
    assert len(notifications(world.rep_east)) == 1
    assert len(notifications(world.rep_west)) == 1


def test_assign_random_distribution_gives_every_customer_to_one_target(
    world, scoped, east_pool, reps
):
    customers = [pooled(east_pool) for _ in range(12)]
    with scoped(world.admin_a):
        result = pooling.customer_assign(
            actor=world.admin_a, customers=customers, users=reps, distribution="random"
        )
    assert _pks(result.done) == _pks(customers)
    owners = _owner_ids(customers)
    assert set(owners) <= {u.pk for u in reps}
    assert len(claimed_events()) == 0
    with scopes_disabled():
        assert (
            OwnershipEvent.objects.filter(
                customer__in=customers, kind=OwnershipEvent.Kind.ASSIGNED
            ).count()
            == 12
        )


def test_assign_refuses_an_unknown_distribution(world, scoped, east_pool, reps):
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        pooling.customer_assign(
            actor=world.admin_a, customers=[pooled(east_pool)], users=reps, distribution="x"
        )
    assert _codes(exc) == "distribution"


def test_assign_refused_when_a_target_would_exceed_holding_limit(world, scoped, east_pool, reps):
    set_rules(east_pool, holding_limit=2)
    owned(east_pool, world.rep_west)
    owned(east_pool, world.rep_west)
    customers = [pooled(east_pool) for _ in range(3)]
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        pooling.customer_assign(actor=world.admin_a, customers=customers, users=reps)
    assert _codes(exc) == "holding_limit"
    assert "rep_west" in exc.value.message
    assert _owner_ids(customers) == [None] * 3


def test_assign_refused_to_a_deactivated_user(world, scoped, east_pool):
    leaver = make_user(world.tenant_a, "leaver", department=world.east, is_active=False)
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        pooling.customer_assign(actor=world.admin_a, customers=[pooled(east_pool)], users=[leaver])
    assert _codes(exc) == "inactive"


def test_assign_refused_to_nobody_or_a_user_of_another_tenant(world, scoped, east_pool):
    customer = pooled(east_pool)
    with scoped(world.admin_a):
        with pytest.raises(ServiceError) as exc:
            pooling.customer_assign(actor=world.admin_a, customers=[customer], users=[])
        assert _codes(exc) == "no_user"
        with pytest.raises(NotFoundError) as exc:
            pooling.customer_assign(actor=world.admin_a, customers=[customer], users=[world.rep_b])
        assert _codes(exc) == "not_found"
    assert fresh(customer).owner_id is None


def test_assign_refused_for_plain_members_as_not_visible(world, scoped, east_pool):
    customer = pooled(east_pool)
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        pooling.customer_assign(actor=world.rep_east, customers=[customer], users=[world.rep_east])
    assert _codes(exc) == "not_visible"


def test_assign_reports_lost_rows_without_naming_what_the_admin_may_not_see(
    world, scoped, east_pool
):
    free = pooled(east_pool, "可分配")
    gone = pooled(east_pool, "已被领取")
    with scoped(world.rep_east):
        pooling.customer_claim(actor=world.rep_east, customers=[gone])
    with scoped(world.rep_east2):
        result = pooling.customer_assign(
            actor=world.rep_east2, customers=[free, gone], users=[world.rep_west]
        )
    assert _pks(result.done) == [free.pk] and _pks(result.lost) == [gone.pk]
    # rep_east2 administers the pool but sees only their own records: no name.
    assert "已被领取" not in result.lost_message
    assert result.lost_message == "1 个客户不存在或已被他人领取。"
    assert _owner_ids([free, gone]) == [world.rep_west.pk, world.rep_east.pk]


def test_move_refusal_does_not_name_a_customer_the_admin_may_not_see(world, scoped, east_pool):
    target = make_group(
        world.tenant_a, "目标公海", departments=[world.east], admins=[world.rep_east2]
    )
    gone = pooled(east_pool, "已被领取")
    with scoped(world.rep_east):
        pooling.customer_claim(actor=world.rep_east, customers=[gone])
    with scoped(world.rep_east2), pytest.raises(ServiceError) as exc:
        pooling.customer_move(actor=world.rep_east2, customers=[gone], group=target)
    assert _codes(exc) == "taken"
    assert "已被领取" not in str(exc.value.message)
    assert fresh(gone).pool_group_id == east_pool.pk


# ---------------------------------------------------------------- return


def test_return_with_reason_and_note_clears_the_team(world, scoped, east_pool):
    customer = owned(east_pool, world.rep_east, "退回客户", is_locked=True)
    make_participant(customer, world.rep_east2, can_edit=True)
    reason = return_reason(world.tenant_a)
    with scoped(world.rep_east):
        pooling.customer_return(
            actor=world.rep_east, customers=[customer], reason=reason, note=" 打了三次没人接 "
        )
    customer = fresh(customer)
    assert customer.owner_id is None
    assert customer.pooled_at is not None
    assert customer.previous_owner_id == world.rep_east.pk
    assert customer.pool_reason == PoolReason.RETURNED
    assert customer.pool_note == "联系不上：打了三次没人接"
    assert customer.pool_group_id == east_pool.pk
    assert customer.owned_since is None
    assert customer.is_locked is False
    with scopes_disabled():
        assert not CustomerParticipant.objects.filter(customer=customer).exists()
        assert not CustomerUserObjectPermission.objects.filter(content_object=customer).exists()
    [event] = events(customer)
    assert event.kind == OwnershipEvent.Kind.RETURNED
    assert (event.from_user_id, event.to_user_id) == (world.rep_east.pk, None)
    assert event.note == "联系不上：打了三次没人接"
    assert event.pool_group_id == east_pool.pk
    [log] = logs(customer, actions.POOL_RETURNED)
    assert log.changes == {"owner": ["rep_east", ""]}


def test_return_into_the_default_group_when_the_customer_has_none(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east)
    with scoped(world.rep_east):
        pooling.customer_return(
            actor=world.rep_east, customers=[customer], reason=return_reason(world.tenant_a)
        )
        default = services.default_group_for(world.tenant_a.pk, "customer")
    assert fresh(customer).pool_group_id == default.pk
    assert fresh(customer).pooled_at is not None


def test_return_refused_without_a_reason_or_with_a_wrong_option(world, scoped, east_pool):
    customer = owned(east_pool, world.rep_east)
    with scoped(world.rep_east):
        with pytest.raises(ServiceError) as exc:
            pooling.customer_return(actor=world.rep_east, customers=[customer], reason=None)
        assert _codes(exc) == "reason"
        level = option(world.tenant_a, OptionKind.CUSTOMER_LEVEL)
        with pytest.raises(ServiceError) as exc:
            pooling.customer_return(actor=world.rep_east, customers=[customer], reason=level)
        assert _codes(exc) == "option"
    assert fresh(customer).owner_id == world.rep_east.pk


def test_return_refused_for_a_customer_already_in_the_pool(world, scoped, east_pool):
    customer = pooled(east_pool)
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        pooling.customer_return(
            actor=world.rep_east, customers=[customer], reason=return_reason(world.tenant_a)
        )
    assert _codes(exc) == "in_pool"


def test_return_into_another_group_refused_unless_allowed(world, scoped, east_pool):
    other = make_group(world.tenant_a, "全公司公海", open_to_all=True)
    customer = owned(east_pool, world.rep_east)
    reason = return_reason(world.tenant_a)
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        pooling.customer_return(
            actor=world.rep_east, customers=[customer], reason=reason, group=other
        )
    assert _codes(exc) == "other_group"
    assert fresh(customer).owner_id == world.rep_east.pk
    set_rules(east_pool, allow_return_elsewhere=True)
    with scoped(world.rep_east):
        pooling.customer_return(
            actor=fresh_user(world.rep_east), customers=[customer], reason=reason, group=other
        )
    customer = fresh(customer)
    assert customer.pool_group_id == other.pk and customer.pooled_at is not None
    assert events(customer)[-1].pool_group_id == other.pk


def test_return_into_another_group_allowed_for_an_admin_of_the_target(world, scoped, east_pool):
    other = make_group(world.tenant_a, "重点公海", admins=[world.rep_east])
    customer = owned(east_pool, world.rep_east)
    with scoped(world.rep_east):
        pooling.customer_return(
            actor=world.rep_east,
            customers=[customer],
            reason=return_reason(world.tenant_a),
            group=other,
        )
    assert fresh(customer).pool_group_id == other.pk


def test_return_refused_into_a_disabled_group(world, scoped, east_pool):
    other = make_group(world.tenant_a, "停用公海", is_enabled=False, admins=[world.rep_east])
    customer = owned(east_pool, world.rep_east)
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        pooling.customer_return(
            actor=world.rep_east,
            customers=[customer],
            reason=return_reason(world.tenant_a),
            group=other,
        )
    assert _codes(exc) == "disabled"


def test_manager_returns_a_subordinates_customer(world, scoped, east_pool):
    customer = owned(east_pool, world.rep_east)
    with scoped(world.manager_sales):
        pooling.customer_return(
            actor=world.manager_sales, customers=[customer], reason=return_reason(world.tenant_a)
        )
    customer = fresh(customer)
    assert customer.owner_id is None and customer.previous_owner_id == world.rep_east.pk
    assert events(customer)[-1].actor_id == world.manager_sales.pk


def test_manager_may_not_return_a_locked_subordinates_customer(world, scoped, east_pool):
    customer = owned(east_pool, world.rep_east, is_locked=True)
    with scoped(world.manager_sales), pytest.raises(ServiceError) as exc:
        pooling.customer_return(
            actor=world.manager_sales, customers=[customer], reason=return_reason(world.tenant_a)
        )
    assert _codes(exc) == "not_editable"


def test_rep_may_not_return_someone_elses_customer(world, scoped, east_pool):
    participated = owned(east_pool, world.rep_east)
    make_participant(participated, world.rep_east2, can_edit=True)
    hidden = owned(east_pool, world.rep_west)
    reason = return_reason(world.tenant_a)
    with scoped(world.rep_east2):
        with pytest.raises(ServiceError) as exc:
            pooling.customer_return(actor=world.rep_east2, customers=[participated], reason=reason)
        assert _codes(exc) == "not_editable"
        with pytest.raises(ServiceError) as exc:
            pooling.customer_return(actor=world.rep_east2, customers=[hidden], reason=reason)
        assert _codes(exc) == "not_visible"
    assert _owner_ids([participated, hidden]) == [world.rep_east.pk, world.rep_west.pk]


def test_return_batch_is_all_or_nothing(world, scoped, east_pool):
    mine = owned(east_pool, world.rep_east)
    theirs = owned(east_pool, world.rep_west)
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        pooling.customer_return(
            actor=world.rep_east, customers=[mine, theirs], reason=return_reason(world.tenant_a)
        )
    assert _codes(exc) == "not_visible"
    assert fresh(mine).owner_id == world.rep_east.pk
    assert events(mine) == []


# ---------------------------------------------------------------- move


def test_move_by_an_admin_of_both_groups(world, scoped, east_pool):
    target = make_group(world.tenant_a, "华西公海", admins=[world.rep_east2])
    customer = pooled(east_pool)
    with scoped(world.rep_east2):
        moved = pooling.customer_move(actor=world.rep_east2, customers=[customer], group=target)
    assert _pks(moved) == [customer.pk]
    customer = fresh(customer)
    assert customer.pool_group_id == target.pk and customer.pooled_at is not None
    [event] = events(customer)
    assert event.kind == OwnershipEvent.Kind.MOVED
    assert event.pool_group_id == target.pk and event.note == "华东公海"
    [log] = logs(customer, actions.POOL_MOVED)
    assert log.changes == {"pool_group": ["华东公海", "华西公海"]}


def test_move_refused_without_admin_rights_on_the_target(world, scoped, east_pool):
    target = make_group(world.tenant_a, "华西公海")
    customer = pooled(east_pool)
    with scoped(world.rep_east2), pytest.raises(PermissionRefusedError):
        pooling.customer_move(actor=world.rep_east2, customers=[customer], group=target)
    assert fresh(customer).pool_group_id == east_pool.pk


def test_move_refused_without_admin_rights_on_the_source(world, scoped, east_pool):
    target = make_group(world.tenant_a, "华西公海", admins=[world.rep_west])
    customer = pooled(east_pool)
    with scoped(world.rep_west), pytest.raises(ServiceError) as exc:
        pooling.customer_move(actor=world.rep_west, customers=[customer], group=target)
    assert _codes(exc) == "not_visible"


def test_move_refused_for_customers_no_longer_in_the_pool(world, scoped, east_pool):
    target = make_group(world.tenant_a, "华西公海")
    customer = owned(east_pool, world.rep_east)
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        pooling.customer_move(actor=world.admin_a, customers=[customer], group=target)
    assert _codes(exc) == "taken"


# ---------------------------------------------------------------- initialise


def test_initialize_puts_groupless_customers_into_the_group(world, scoped, east_pool):
    old = timezone.now() - 40 * DAY
    legacy_owned = make_customer(world.tenant_a, world.rep_east, "老客户", created_at=old)
    legacy_free = make_customer(world.tenant_a, None, "无主老客户")
    grouped = owned(east_pool, world.rep_east)
    with scoped(world.rep_east), pytest.raises(PermissionRefusedError):
        pooling.customer_pool_initialize(actor=world.rep_east)
    with scoped(world.admin_a):
        counts = pooling.customer_pool_initialize(actor=world.admin_a)
        default = services.default_group_for(world.tenant_a.pk, "customer")
    assert counts == (1, 1)
    legacy_owned, legacy_free = fresh(legacy_owned), fresh(legacy_free)
    assert legacy_owned.pool_group_id == default.pk
    assert legacy_owned.pooled_at is None and legacy_owned.owner_id == world.rep_east.pk
    assert legacy_owned.owned_since == old
    assert events(legacy_owned) == []
    assert legacy_free.pool_group_id == default.pk
    assert legacy_free.pooled_at is not None
    assert legacy_free.pool_reason == PoolReason.INITIALIZED
    [event] = events(legacy_free)
    assert event.kind == OwnershipEvent.Kind.MOVED and event.pool_group_id == default.pk
    assert fresh(grouped).pool_group_id == east_pool.pk  # untouched
    assert logs(legacy_free, actions.POOL_INITIALIZED)
    with scoped(world.admin_a):
        assert pooling.customer_pool_initialize(actor=world.admin_a) == (0, 0)  # nothing left


def test_initialize_into_a_chosen_group(world, scoped, east_pool):
    legacy = make_customer(world.tenant_a, None)
    with scoped(world.admin_a):
        pooling.customer_pool_initialize(actor=world.admin_a, group=east_pool)
    assert fresh(legacy).pool_group_id == east_pool.pk


# ---------------------------------------------------------------- visibility


def _sees(user, customer) -> bool:
    user = fresh_user(user)
    with scopes_disabled():
        return visible_to(user, Customer.objects.filter(pk=customer.pk)).exists()


def test_pool_customers_visible_to_group_members_only(world, east_pool):
    customer = pooled(east_pool)
    assert _sees(world.rep_east, customer)  # member through the department
    assert _sees(world.rep_east2, customer)  # admin
    assert not _sees(world.rep_west, customer)
    assert not _sees(world.service_a, customer)
    assert _sees(world.manager_sales, customer)  # pool.manage
    assert _sees(world.admin_a, customer)
    assert not _sees(world.rep_b, customer)
    assert not _sees(world.admin_b, customer)


def test_parent_department_direct_user_and_open_to_all_membership(world):
    by_parent = pooled(make_group(world.tenant_a, "销售公海", departments=[world.sales]))
    by_user = pooled(make_group(world.tenant_a, "个人公海", users=[world.service_a]))
    for_all = pooled(make_group(world.tenant_a, "全员公海", open_to_all=True))
    assert _sees(world.rep_east, by_parent) and _sees(world.rep_west, by_parent)
    assert not _sees(world.service_a, by_parent)
    assert _sees(world.service_a, by_user) and not _sees(world.rep_east, by_user)
    for user in (world.rep_east, world.rep_west, world.service_a):
        assert _sees(user, for_all)
    assert not _sees(world.rep_b, for_all)


def test_a_disabled_group_hides_its_pool_from_members(world):
    customer = pooled(make_group(world.tenant_a, "停用", open_to_all=True, is_enabled=False))
    assert not _sees(world.rep_east, customer)


def test_get_visible_or_404_for_pool_customers(world, scoped, east_pool):
    customer = pooled(east_pool)
    with scoped(world.rep_east):
        assert get_visible_or_404(world.rep_east, Customer.objects, pk=customer.pk) == customer
    with scoped(world.rep_west), pytest.raises(Http404):
        get_visible_or_404(world.rep_west, Customer.objects, pk=customer.pk)
    with scoped(world.rep_b), pytest.raises(Http404):
        get_visible_or_404(world.rep_b, Customer.objects, pk=customer.pk)


def test_pool_base_lists_the_pools_a_user_may_open(world, scoped, east_pool):
    mine = pooled(east_pool)
    west = make_group(world.tenant_a, "华西公海", departments=[world.west])
    theirs = pooled(west)
    owned(east_pool, world.rep_east)
    with scoped(world.rep_east):
        assert list(selectors.pool_base(kind="customer", actor=world.rep_east)) == [mine]
        assert list(selectors.pool_base(kind="customer", actor=world.rep_east, group=west)) == []
    with scoped(world.manager_sales):
        assert set(selectors.pool_base(kind="customer", actor=world.manager_sales)) == {
            mine,
            theirs,
        }
        assert list(
            selectors.pool_base(kind="customer", actor=world.manager_sales, group=west)
        ) == [theirs]
    with scoped(world.rep_east):
        assert [g.pk for g in selectors.visible_groups(fresh_user(world.rep_east), "customer")] == [
            services.default_group_for(world.tenant_a.pk, "customer").pk,
            east_pool.pk,
        ]


def test_member_and_admin_group_ids(world, scoped, east_pool):
    with scoped(world.rep_east):
        default = services.default_group_for(world.tenant_a.pk, "customer")
        assert selectors.member_group_ids(fresh_user(world.rep_east), "customer") == sorted(
            [default.pk, east_pool.pk]
        )
        assert selectors.admin_group_ids(fresh_user(world.rep_east), "customer") == []
        assert selectors.admin_group_ids(fresh_user(world.rep_east2), "customer") == [east_pool.pk]
        assert selectors.member_group_ids(fresh_user(world.rep_west), "customer") == [default.pk]
        assert selectors.member_group_ids(fresh_user(world.manager_sales), "customer") is None
        assert selectors.admin_group_ids(fresh_user(world.manager_sales), "customer") is None


def test_hidden_fields_for_members_admins_and_owners(world, scoped, east_pool):
    customer = pooled(east_pool)
    with scoped(world.rep_east):
        customer = Customer.objects.select_related("pool_group").get(pk=customer.pk)
        assert selectors.hidden_fields_for(fresh_user(world.rep_east), customer) == {
            "contact_phones",
            "contact_emails",
        }
        assert selectors.hidden_fields_for(fresh_user(world.rep_east2), customer) == frozenset()
        assert selectors.hidden_fields_for(fresh_user(world.admin_a), customer) == frozenset()
        pooling.customer_claim(actor=world.rep_east, customers=[customer])
        customer = Customer.objects.get(pk=customer.pk)
        assert selectors.hidden_fields_for(fresh_user(world.rep_east), customer) == frozenset()


def test_hidden_fields_follow_the_groups_setting(world, scoped):
    group = make_group(world.tenant_a, "严格公海", open_to_all=True, hidden_fields=["remark"])
    customer = pooled(group)
    with scoped(world.rep_east):
        customer = Customer.objects.get(pk=customer.pk)
        assert selectors.hidden_fields_for(world.rep_east, customer) == {"remark"}


def test_return_then_claim_by_another_rep_shows_cooldown_only_to_the_former_owner(
    world, scoped, east_pool
):
    set_rules(east_pool, cooldown_days=3)
    customer = owned(east_pool, world.rep_east)
    with scoped(world.rep_east):
        pooling.customer_return(
            actor=world.rep_east, customers=[customer], reason=return_reason(world.tenant_a)
        )
        with pytest.raises(ServiceError) as exc:
            pooling.customer_claim(actor=world.rep_east, customers=[customer])
        assert _codes(exc) == "cooldown"
    with scoped(world.rep_east2):
        pooling.customer_claim(actor=world.rep_east2, customers=[customer])
    assert [e.kind for e in events(customer)] == [
        OwnershipEvent.Kind.RETURNED,
        OwnershipEvent.Kind.CLAIMED,
    ]
    assert fresh(customer).previous_owner_id == world.rep_east.pk


def test_dates_are_counted_in_the_tenants_local_day(world):
    # today_start is local midnight: a claim just before it belongs to yesterday.
    now = timezone.now()
    start = services.today_start(now)
    assert start <= now < start + datetime.timedelta(days=1)
    assert timezone.localtime(start).hour == 0


def test_return_from_a_disabled_group_goes_into_the_default_pool(world, scoped, east_pool):
    customer = owned(east_pool, world.rep_east)
    set_rules(east_pool, is_enabled=False)
    with scoped(world.rep_east):
        pooling.customer_return(
            actor=world.rep_east, customers=[customer], reason=return_reason(world.tenant_a)
        )
        default = services.default_group_for(world.tenant_a.pk, "customer")
    customer = fresh(customer)
    assert customer.pool_group_id == default.pk and customer.pooled_at is not None
    # …where the members can see and claim it again.
    with scoped(world.rep_east2):
        pooling.customer_claim(actor=world.rep_east2, customers=[customer])
    assert fresh(customer).owner_id == world.rep_east2.pk
