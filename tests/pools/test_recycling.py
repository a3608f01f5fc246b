"""Automatic recycling into the pool and its warnings, every rule and exemption with a frozen
``now=``; the forecast the customer page shows agrees with what recycling then does."""

from __future__ import annotations

import datetime

import pytest
from django.db.models import Q
from django.utils import timezone, translation
from django_scopes import scopes_disabled

from customers import pooling
from customers import subjects as customer_subject
from customers.models import Customer, CustomerParticipant, OwnershipEvent, PoolReason
from pools import activity_actions as actions
from pools import hooks, recycling, selectors
from pools.models import RecycleWarning
from tests.customers.factories import events, fresh, logs, make_customer, make_participant
from tests.customers.factories import notifications as notifications_of
from tests.pools.factories import DAY, fresh_user, levels, make_group, owned, set_rules

NOW = timezone.make_aware(datetime.datetime(2026, 6, 15, 10, 0))
HOUR = datetime.timedelta(hours=1)


@pytest.fixture
def group(world):
    """Recycles after 7 days without a follow-up or 30 days without a deal; warns 3 days ahead."""
    return make_group(
        world.tenant_a,
        "回收公海",
        open_to_all=True,
        recycle_no_followup_days=7,
        recycle_no_deal_days=30,
        warn_days=3,
    )


@pytest.fixture
def exemption():
    """A registered exemption hook ("has an open opportunity": here, names starting 机会)."""

    def has_opportunity() -> Q:
        return Q(name__startswith="机会")

    hooks.register_recycle_exemption(has_opportunity)
    try:
        yield has_opportunity
    finally:
        hooks.unregister_recycle_exemption(has_opportunity)


def _recycle(group, now=NOW) -> int:
    with scopes_disabled():
        group = selectors.groups_with_rules().get(pk=group.pk)
    with _scope(group):
        return recycling.recycle_group(group, now=now)


def _scope(group):
    from crm.tenancy import tenant_scope

    return tenant_scope(group.tenant_id)


def _warn(tenant, now=NOW) -> int:
    from crm.tenancy import tenant_scope

    with tenant_scope(tenant.pk):
        return recycling.warn_tenant(tenant.pk, now=now)


def _in_pool(*customers) -> list[bool]:
    return [fresh(c).pooled_at is not None for c in customers]


def _notifications(user):
    return [n.title for n in notifications_of(user)]


# ---------------------------------------------------------------- rules


def test_no_followup_rule_counts_from_the_later_of_followup_and_ownership(world, group):
    set_rules(group, recycle_no_deal_days=None)
    rep = world.rep_east
    never_followed = owned(group, rep, "十天没跟进", since=NOW - 10 * DAY)
    just_on_time = owned(group, rep, "正好七天", since=NOW - 7 * DAY)
    fresh_owner = owned(group, rep, "刚领取", since=NOW - 6 * DAY)
    followed = owned(group, rep, "最近跟进", since=NOW - 20 * DAY, last_followup_at=NOW - 3 * DAY)
    # An old follow-up from a former owner does not count against the new one.
    reclaimed = owned(group, rep, "重新领取", since=NOW - 3 * DAY, last_followup_at=NOW - 20 * DAY)
    stale = owned(group, rep, "跟进很久了", since=NOW - 40 * DAY, last_followup_at=NOW - 8 * DAY)
    assert _recycle(group) == 3
    assert _in_pool(never_followed, just_on_time, fresh_owner, followed, reclaimed, stale) == [
        True,
        True,
        False,
        False,
        False,
        True,
    ]


def test_no_deal_rule_recycles_owned_customers_without_a_deal(world, group):
    set_rules(group, recycle_no_followup_days=None)
    rep = world.rep_east
    no_deal = owned(group, rep, since=NOW - 31 * DAY, last_followup_at=NOW - DAY)
    dealt = owned(group, rep, since=NOW - 31 * DAY, deal_status=Customer.DealStatus.DEAL)
    young = owned(group, rep, since=NOW - 29 * DAY)
    assert _recycle(group) == 1
    assert _in_pool(no_deal, dealt, young) == [True, False, False]
    customer = fresh(no_deal)
    assert customer.pool_reason == PoolReason.RECYCLED_DEAL
    assert customer.pool_reason_days == 30


def test_level_rules_replace_the_groups_days(world, group):
    level_a, level_b, level_c, _d = levels(world.tenant_a)
    set_rules(group, recycle_no_deal_days=None)
    with scopes_disabled():
        from pools.models import PoolLevelRule

        PoolLevelRule.objects.create(
            tenant=world.tenant_a, group=group, level=level_a, no_followup_days=2
        )
        # Level B: empty days mean never recycle them for either trigger.
        PoolLevelRule.objects.create(tenant=world.tenant_a, group=group, level=level_b)
    rep = world.rep_east
    a_due = owned(group, rep, since=NOW - 3 * DAY, level=level_a)
    a_young = owned(group, rep, since=NOW - DAY, level=level_a)
    b_old = owned(group, rep, since=NOW - 300 * DAY, level=level_b)
    c_due = owned(group, rep, since=NOW - 8 * DAY, level=level_c)
    c_young = owned(group, rep, since=NOW - 5 * DAY, level=level_c)
    none_due = owned(group, rep, since=NOW - 8 * DAY)
    assert _recycle(group) == 3
    assert _in_pool(a_due, a_young, b_old, c_due, c_young, none_due) == [
        True,
        False,
        False,
        True,
        False,
        True,
    ]
    assert fresh(a_due).pool_reason_days == 2
    assert fresh(c_due).pool_reason_days == 7


def test_a_level_rule_with_only_one_trigger_never_uses_the_groups_other(world, group):
    level_a = levels(world.tenant_a)[0]
    with scopes_disabled():
        from pools.models import PoolLevelRule

        PoolLevelRule.objects.create(
            tenant=world.tenant_a, group=group, level=level_a, no_followup_days=60
        )
    # 40 days owned with recent follow-ups: the group's 30-day deal rule does not apply.
    customer = owned(
        group, world.rep_east, since=NOW - 40 * DAY, level=level_a, last_followup_at=NOW - DAY
    )
    assert _recycle(group) == 0
    assert _in_pool(customer) == [False]
    with scopes_disabled():
        assert customer_subject.customer_forecast(fresh(customer)).rule == "followup"


def test_signed_and_locked_customers_are_exempt(world, group):
    rep = world.rep_east
    signed = owned(group, rep, since=NOW - 90 * DAY, lifecycle=Customer.Lifecycle.SIGNED)
    locked = owned(group, rep, since=NOW - 90 * DAY, is_locked=True)
    plain = owned(group, rep, since=NOW - 90 * DAY)
    assert _recycle(group) == 1
    assert _in_pool(signed, locked, plain) == [False, False, True]
    set_rules(group, exempt_signed=False, exempt_locked=False)
    assert _recycle(group) == 2
    assert _in_pool(signed, locked) == [True, True]
    assert fresh(locked).is_locked is False


def test_registered_exemption_hook_keeps_customers_out_of_recycling(world, group, exemption):
    rep = world.rep_east
    kept = owned(group, rep, "机会客户", since=NOW - 90 * DAY)
    gone = owned(group, rep, "普通客户", since=NOW - 90 * DAY)
    with scopes_disabled():
        assert customer_subject.customer_forecast(fresh(kept)) is None
        assert customer_subject.customer_forecast(fresh(gone)) is not None
    assert _recycle(group) == 1
    assert _in_pool(kept, gone) == [False, True]
    # The switch turns the hook off for this group.
    set_rules(group, exempt_with_opportunity=False)
    assert _recycle(group) == 1
    assert _in_pool(kept) == [True]


def test_unregistered_hook_no_longer_exempts(world, group):
    # (The opportunities app registers its own hook: only this one's effect is asserted.)
    customer = owned(group, world.rep_east, "x")

    def hook():
        return Q(name="x")

    hooks.register_recycle_exemption(hook)
    with _scope(group):
        assert hooks.is_exempt(fresh(customer))
    hooks.unregister_recycle_exemption(hook)
    with _scope(group):
        assert not hooks.is_exempt(fresh(customer))


def test_disabled_group_recycles_nothing(world, group):
    set_rules(group, is_enabled=False)
    customer = owned(group, world.rep_east, since=NOW - 90 * DAY)
    assert _recycle(group) == 0
    with _scope(group):
        assert recycling.recycle_tenant(world.tenant_a.pk, now=NOW) == 0
    assert _in_pool(customer) == [False]
    with scopes_disabled():
        assert customer_subject.customer_forecast(fresh(customer)) is None


def test_group_without_rules_recycles_nothing(world, group):
    set_rules(group, recycle_no_followup_days=None, recycle_no_deal_days=None)
    customer = owned(group, world.rep_east, since=NOW - 900 * DAY)
    assert _recycle(group) == 0
    assert _in_pool(customer) == [False]


def test_deleted_and_pooled_customers_are_left_alone(world, group):
    binned = owned(group, world.rep_east, since=NOW - 90 * DAY, deleted_at=NOW - DAY)
    assert _recycle(group) == 0
    assert fresh(binned).owner_id == world.rep_east.pk


# ---------------------------------------------------------------- what recycling does


def test_recycled_customer_lies_in_the_pool_with_its_reason_and_one_event(world, group):
    customer = owned(group, world.rep_east, "回收客户", since=NOW - 10 * DAY)
    make_participant(customer, world.rep_east2, can_edit=True)
    assert _recycle(group) == 1
    customer = fresh(customer)
    assert customer.owner_id is None
    assert customer.pooled_at == NOW
    assert customer.previous_owner_id == world.rep_east.pk
    assert customer.pool_reason == PoolReason.RECYCLED_FOLLOWUP
    assert customer.pool_reason_days == 7
    assert customer.pool_group_id == group.pk
    assert customer.owned_since is None
    with scopes_disabled():
        assert not CustomerParticipant.objects.filter(customer=customer).exists()
    [event] = events(customer)
    assert event.kind == OwnershipEvent.Kind.RECYCLED
    assert (event.from_user_id, event.to_user_id, event.actor_id) == (world.rep_east.pk, None, None)
    assert event.pool_group_id == group.pk
    [log] = logs(customer, actions.POOL_RECYCLED)
    assert log.actor_id is None


def test_each_former_owner_gets_one_batched_notification(world, group):
    names = ["甲客户", "乙客户", "丙客户"]
    for name in names:
        owned(group, world.rep_east, name, since=NOW - 10 * DAY)
    # One by the deal rule: still one notification for the owner.
    owned(group, world.rep_east, "丁客户", since=NOW - 31 * DAY, last_followup_at=NOW - DAY)
    owned(group, world.rep_west, "戊客户", since=NOW - 10 * DAY)
    with translation.override("en"):
        assert _recycle(group) == 5
    [east] = _notifications(world.rep_east)
    assert east.startswith("4 customers returned to the pool: ")
    for name in [*names, "丁客户"]:
        assert name in east
    assert _notifications(world.rep_west) == ["1 customer returned to the pool: 戊客户"]
    assert _notifications(world.rep_east2) == []


def test_recycling_is_idempotent(world, group):
    customers = [owned(group, world.rep_east, since=NOW - 10 * DAY) for _ in range(3)]
    assert _recycle(group) == 3
    assert _recycle(group) == 0
    assert _recycle(group, now=NOW + DAY) == 0
    for customer in customers:
        assert [e.kind for e in events(customer)] == [OwnershipEvent.Kind.RECYCLED]
    assert len(_notifications(world.rep_east)) == 1


def test_recycling_works_in_batches(world, group, monkeypatch):
    monkeypatch.setattr(recycling, "BATCH", 2)
    customers = [owned(group, world.rep_east, since=NOW - 10 * DAY) for _ in range(5)]
    assert _recycle(group) == 5
    assert all(_in_pool(*customers))
    with scopes_disabled():
        assert (
            OwnershipEvent.objects.filter(
                customer__in=customers, kind=OwnershipEvent.Kind.RECYCLED
            ).count()
            == 5
        )
    # Still one notification for the owner, whatever the batch size.
    assert len(_notifications(world.rep_east)) == 1


def test_recycle_tenant_runs_every_group_of_that_tenant_only(world, group):
    other = make_group(world.tenant_a, "第二公海", recycle_no_followup_days=1)
    with scopes_disabled():
        from pools.services import default_group_for

        b_group = default_group_for(world.tenant_b.pk, "customer")
    set_rules(b_group, recycle_no_followup_days=1)
    first = owned(group, world.rep_east, since=NOW - 10 * DAY)
    second = owned(other, world.rep_east, since=NOW - 2 * DAY)
    neighbour = owned(b_group, world.rep_b, since=NOW - 10 * DAY)
    with _scope(group):
        assert recycling.recycle_tenant(world.tenant_a.pk, now=NOW) == 2
    assert _in_pool(first, second, neighbour) == [True, True, False]
    # One notification for the owner across the tenant's groups.
    assert len(_notifications(world.rep_east)) == 1


def test_legacy_customer_without_owned_since_follows_its_forecast(world, group):
    """An owned customer whose ownership start is unknown counts from its creation, in the
    forecast and in the recycling alike."""
    customer = make_customer(
        world.tenant_a, world.rep_east, pool_group=group, created_at=NOW - 10 * DAY
    )
    with scopes_disabled():
        forecast = customer_subject.customer_forecast(fresh(customer))
    assert forecast is not None and forecast.at == NOW - 3 * DAY
    assert _recycle(group) == 1
    assert _in_pool(customer) == [True]


# ---------------------------------------------------------------- forecast


def test_forecast_names_the_rule_and_days_left_and_recycling_agrees(world, group):
    followup = owned(group, world.rep_east, "跟进到期", since=NOW - 5 * DAY)
    deal = owned(
        group, world.rep_east, "成交到期", since=NOW - 29 * DAY, last_followup_at=NOW - HOUR
    )
    with scopes_disabled():
        f1 = customer_subject.customer_forecast(fresh(followup))
        f2 = customer_subject.customer_forecast(fresh(deal))
        batch = customer_subject.forecasts_for([fresh(followup), fresh(deal)])
    assert (f1.rule, f1.days, f1.at, f1.days_left(NOW)) == ("followup", 7, NOW + 2 * DAY, 2)
    assert (f2.rule, f2.days, f2.at, f2.days_left(NOW)) == ("deal", 30, NOW + DAY, 1)
    assert batch == {followup.pk: f1, deal.pk: f2}
    with translation.override("en"):
        assert f1.describe(NOW) == "Falls into the pool in 2 days (no follow-up for 7 days)"
        assert f2.describe(NOW + 2 * DAY).startswith("Falls into the pool at the next")
    # Just before each forecast nothing happens; at it the named rule recycles it.
    assert _recycle(group, now=f2.at - HOUR) == 0
    assert _recycle(group, now=f2.at) == 1
    assert fresh(deal).pool_reason == PoolReason.RECYCLED_DEAL
    assert _recycle(group, now=f1.at - HOUR) == 0
    assert _recycle(group, now=f1.at) == 1
    assert fresh(followup).pool_reason == PoolReason.RECYCLED_FOLLOWUP


def test_no_forecast_for_exempt_or_pooled_or_dealt_customers(world, group):
    set_rules(group, recycle_no_followup_days=None)
    signed = owned(group, world.rep_east, lifecycle=Customer.Lifecycle.SIGNED)
    dealt = owned(group, world.rep_east, deal_status=Customer.DealStatus.DEAL)
    with scopes_disabled():
        assert customer_subject.forecasts_for([fresh(signed), fresh(dealt)]) == {}


def test_due_for_recycling_lists_the_actors_soon_due_customers(world, group):
    soon = owned(group, world.rep_east, "两天后", since=NOW - 5 * DAY)
    sooner = owned(group, world.rep_east, "明天", since=NOW - 6 * DAY)
    overdue = owned(group, world.rep_east, "已到期", since=NOW - 9 * DAY)
    owned(group, world.rep_east, "还早", since=NOW - DAY)
    owned(group, world.rep_west, "别人的", since=NOW - 6 * DAY)
    with _scope(group):
        rows = selectors.due_for_recycling(
            kind="customer", actor=fresh_user(world.rep_east), now=NOW
        )
        wide = selectors.due_for_recycling(
            kind="customer", actor=fresh_user(world.rep_east), within_days=10, now=NOW
        )
    assert [c.pk for c in rows] == [overdue.pk, sooner.pk, soon.pk]
    assert [c.forecast.days_left(NOW) for c in rows] == [0, 1, 2]
    assert len(wide) == 4


# ---------------------------------------------------------------- warnings


def test_warnings_go_out_once_per_customer_and_recycle_date(world, group):
    soon = owned(group, world.rep_east, "快到期", since=NOW - 5 * DAY)
    owned(group, world.rep_east, "还早", since=NOW - DAY)
    owned(group, world.rep_east, "已到期", since=NOW - 10 * DAY)  # due now: recycled, not warned
    with translation.override("en"):
        assert _warn(world.tenant_a) == 1
    [title] = _notifications(world.rep_east)
    assert title == "1 customer falls into the pool soon (first in 2 days): 快到期"
    with scopes_disabled():
        assert list(
            RecycleWarning.objects.values_list("record_type__model", "record_id", "recycle_on")
        ) == [("customer", soon.pk, (NOW + 2 * DAY).date())]
    assert _warn(world.tenant_a) == 0
    assert _warn(world.tenant_a, now=NOW + DAY) == 0
    assert len(_notifications(world.rep_east)) == 1


def test_a_new_follow_up_moves_the_recycle_date_and_warns_again_later(world, group):
    customer = owned(group, world.rep_east, "续命客户", since=NOW - 5 * DAY)
    assert _warn(world.tenant_a) == 1
    with scopes_disabled():
        Customer.objects.filter(pk=customer.pk).update(last_followup_at=NOW + DAY)
    # New recycle date NOW + 8 days: nothing to say until it is within 3 days again.
    assert _warn(world.tenant_a, now=NOW + 2 * DAY) == 0
    assert _warn(world.tenant_a, now=NOW + 5 * DAY) == 1
    assert _warn(world.tenant_a, now=NOW + 6 * DAY) == 0
    with scopes_disabled():
        dates = sorted(
            RecycleWarning.objects.filter(record_id=customer.pk).values_list(
                "recycle_on", flat=True
            )
        )
    assert dates == [(NOW + 2 * DAY).date(), (NOW + 8 * DAY).date()]
    assert len(_notifications(world.rep_east)) == 2


def test_warnings_batch_per_owner_and_skip_exempt_and_warnless_groups(world, group, exemption):
    owned(group, world.rep_east, "一号", since=NOW - 5 * DAY)
    owned(group, world.rep_east, "二号", since=NOW - 6 * DAY)
    owned(group, world.rep_east, "机会客户", since=NOW - 6 * DAY)
    owned(group, world.rep_east, lifecycle=Customer.Lifecycle.SIGNED, since=NOW - 6 * DAY)
    quiet = make_group(world.tenant_a, "不提醒", recycle_no_followup_days=7, warn_days=0)
    owned(quiet, world.rep_west, since=NOW - 6 * DAY)
    with translation.override("en"):
        assert _warn(world.tenant_a) == 2
    [title] = _notifications(world.rep_east)
    assert title.startswith("2 customers fall into the pool soon (first in 1 days): ")
    assert _notifications(world.rep_west) == []


def test_former_owner_waits_out_the_cooldown_after_a_recycle(world, group, scoped):
    from crm.exceptions import ServiceError

    set_rules(group, cooldown_days=2)
    customer = owned(group, world.rep_east, since=timezone.now() - 10 * DAY)
    assert _recycle(group, now=timezone.now()) == 1
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        pooling.customer_claim(actor=world.rep_east, customers=[customer])
    assert exc.value.code == "cooldown"
    with scoped(world.rep_west):
        pooling.customer_claim(actor=world.rep_west, customers=[customer])
    assert fresh(customer).owner_id == world.rep_west.pk
