"""Opportunities in the public pool's recycling (opportunities/pooling.py): an open
opportunity keeps its customer out of recycling, and the rule "no new opportunity in N days"
(悟空's rule type 2, per group and per customer level) recycles the others, with the same
forecast on the customer page as what recycling then does."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from django_scopes import scopes_disabled

from crm.tenancy import tenant_scope
from customers import subjects as customer_subject
from customers.models import Customer
from opportunities.models import Opportunity, OpportunityStage, StageKind
from pools import recycling, selectors
from pools.models import PoolLevelRule
from tests.customers.factories import fresh
from tests.pools.factories import DAY, levels, make_group, owned, set_rules

pytestmark = pytest.mark.django_db

NOW = timezone.make_aware(datetime.datetime(2026, 6, 15, 10, 0))


def _opportunity(customer: Customer, *, created: datetime.datetime, status=StageKind.OPEN):
    """An opportunity row written straight to the table, created at ``created``."""
    with scopes_disabled():
        stage = (
            OpportunityStage.objects.filter(tenant_id=customer.tenant_id, kind=status)
            .order_by("sort")
            .first()
        )
        return Opportunity.objects.create(
            tenant_id=customer.tenant_id,
            customer=customer,
            owner_id=customer.owner_id,
            name="商机",
            expected_close_date=created.date(),
            stage=stage,
            status=status,
            probability=stage.probability,
            created_at=created,
        )


def _recycle(group, now=NOW) -> int:
    with scopes_disabled():
        group = selectors.groups_with_rules().get(pk=group.pk)
    with tenant_scope(group.tenant_id):
        return recycling.recycle_group(group, now=now)


def _in_pool(*customers) -> list[bool]:
    return [fresh(c).pooled_at is not None for c in customers]


def _forecast(customer):
    with tenant_scope(customer.tenant_id):
        return customer_subject.customer_forecast(fresh(customer))


@pytest.fixture
def group(world):
    """Recycles after 30 days without a new opportunity, nothing else."""
    return make_group(world.tenant_a, "商机公海", open_to_all=True, recycle_no_opportunity_days=30)


def test_no_new_opportunity_rule_counts_from_the_later_of_ownership_and_newest(world, group):
    rep = world.rep_east
    # Won and lost opportunities count as "new" when they were created recently; only the
    # open ones exempt (turned off here to see the rule alone).
    set_rules(group, exempt_with_opportunity=False)
    never = owned(group, rep, "从没商机", since=NOW - 31 * DAY)
    young = owned(group, rep, "刚领取", since=NOW - 29 * DAY)
    recent = owned(group, rep, "最近有商机", since=NOW - 90 * DAY)
    _opportunity(recent, created=NOW - 10 * DAY, status=StageKind.LOST)
    old = owned(group, rep, "商机很久了", since=NOW - 90 * DAY)
    _opportunity(old, created=NOW - 40 * DAY, status=StageKind.WON)
    # An old opportunity of a former owner does not count against the new owner.
    reclaimed = owned(group, rep, "重新领取", since=NOW - 5 * DAY)
    _opportunity(reclaimed, created=NOW - 60 * DAY, status=StageKind.LOST)
    forecast = _forecast(old)
    assert forecast.rule == "opportunity" and forecast.days_left(NOW) == 0
    assert "商机" in forecast.reason or "opportunit" in forecast.reason
    assert _forecast(recent).at == NOW - 10 * DAY + 30 * DAY
    assert _recycle(group) == 2
    assert _in_pool(never, young, recent, old, reclaimed) == [True, False, False, True, False]
    customer = fresh(old)
    assert customer.pool_reason_days == 30
    assert customer.pool_reason == "recycled_oppty"  # 「无新建商机」, not 「未成交」
    assert customer.owner_id is None


def test_an_open_opportunity_exempts_its_customer(world, group):
    rep = world.rep_east
    set_rules(group, recycle_no_followup_days=7)
    with_open = owned(group, rep, "有进行中商机", since=NOW - 90 * DAY)
    _opportunity(with_open, created=NOW - 80 * DAY)
    with_won = owned(group, rep, "只有赢单", since=NOW - 90 * DAY)
    _opportunity(with_won, created=NOW - 80 * DAY, status=StageKind.WON)
    assert _forecast(with_open) is None
    assert _forecast(with_won) is not None
    assert _recycle(group) == 1
    assert _in_pool(with_open, with_won) == [False, True]
    # The group's switch turns the exemption off.
    set_rules(group, exempt_with_opportunity=False)
    assert _recycle(group) == 1
    assert _in_pool(with_open) == [True]


def test_level_rules_replace_the_groups_opportunity_days(world, group):
    level_a, level_b, *_rest = levels(world.tenant_a)
    with scopes_disabled():
        PoolLevelRule.objects.create(
            tenant=world.tenant_a, group=group, level=level_a, no_opportunity_days=60
        )
        # A level rule without opportunity days: never recycled for it.
        PoolLevelRule.objects.create(
            tenant=world.tenant_a, group=group, level=level_b, no_followup_days=100
        )
    rep = world.rep_east
    a = owned(group, rep, "A级", since=NOW - 45 * DAY, level=level_a)
    a_old = owned(group, rep, "A级老", since=NOW - 61 * DAY, level=level_a)
    b = owned(group, rep, "B级", since=NOW - 45 * DAY, level=level_b)
    plain = owned(group, rep, "无级别", since=NOW - 45 * DAY)
    assert _recycle(group) == 2
    assert _in_pool(a, a_old, b, plain) == [False, True, False, True]


def test_a_forecast_page_of_customers_reads_the_dates_in_one_query(
    world, group, django_assert_num_queries
):
    rep = world.rep_east
    customers = [owned(group, rep, f"客户{i}", since=NOW - 20 * DAY) for i in range(5)]
    for customer in customers[:2]:
        _opportunity(customer, created=NOW - 5 * DAY, status=StageKind.LOST)
    with tenant_scope(world.tenant_a.pk), scopes_disabled():
        rows = [fresh(c) for c in customers]
    # groups, their level rules, the exemption, the newest opportunities.
    with tenant_scope(world.tenant_a.pk), django_assert_num_queries(4):
        forecasts = customer_subject.forecasts_for(rows)
    assert forecasts[customers[0].pk].at == NOW - 5 * DAY + 30 * DAY
    assert forecasts[customers[4].pk].at == NOW - 20 * DAY + 30 * DAY


def test_warnings_name_the_opportunity_rule(world, group):
    set_rules(group, warn_days=3, exempt_with_opportunity=False)
    customer = owned(group, world.rep_east, "快到期", since=NOW - 28 * DAY)
    with tenant_scope(world.tenant_a.pk):
        assert recycling.warn_tenant(world.tenant_a.pk, now=NOW) == 1
    assert _in_pool(customer) == [False]


def test_the_group_form_and_service_take_the_opportunity_days(world, scoped):
    from pools.forms.groups import GroupForm, LevelRuleFormSet
    from pools.services import pool_group_save

    level_a = levels(world.tenant_a)[0]
    with scoped(world.admin_a):
        form = GroupForm(tenant_id=world.tenant_a.pk, kind="customer")
        assert "recycle_no_opportunity_days" in form.fields
        group = pool_group_save(
            actor=world.admin_a,
            kind="customer",
            data={"name": "表单公海", "recycle_no_opportunity_days": 45},
            level_rules=[(level_a, None, None, 90)],
        )
        formset = LevelRuleFormSet(tenant_id=world.tenant_a.pk, group=group)
        first = next(f for f in formset.forms if f.initial["level"] == level_a.pk)
        assert first.initial["no_opportunity_days"] == 90
        lead_form = GroupForm(tenant_id=world.tenant_a.pk, kind="lead")
        assert "recycle_no_opportunity_days" not in lead_form.fields
    with scopes_disabled():
        group.refresh_from_db()
        assert group.recycle_no_opportunity_days == 45 and group.recycles
        assert PoolLevelRule.objects.get(group=group).no_opportunity_days == 90
