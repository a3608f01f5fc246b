"""Recycling of leads (pools.recycling with lead pools): open leads lying with an owner for
the pool's days without a follow-up go back into it, with a RECYCLED lead event, an activity
entry and one notification per former owner; closed and converted leads stay; a second run
finds nothing to do. The customer pools' rules never touch leads, nor the reverse. The
warnings before recycling go out for leads as for customers: once per lead and recycle date,
within the pool's warning days, never for leads that will not be recycled."""

from __future__ import annotations

import datetime

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django_scopes import scopes_disabled

from crm.tenancy import tenant_scope
from customers.models import OwnershipEvent, PoolReason
from leads import pooling
from leads.models import Lead, LeadEvent
from pools import activity_actions as actions
from pools import recycling, selectors
from pools.models import RecycleWarning
from tests.customers.factories import logs, notifications
from tests.leads.factories import make_lead, make_lead_pool
from tests.pools.factories import DAY, fresh_user, make_group, owned

NOW = timezone.make_aware(datetime.datetime(2026, 6, 15, 10, 0))


@pytest.fixture
def lead_pool(world):
    return make_lead_pool(world.tenant_a, "回收线索池", recycle_no_followup_days=7)


def _owned_lead(group, owner, *, since, **fields) -> Lead:
    fields.setdefault("created_at", since)
    return make_lead(group.tenant, owner, pool_group=group, owned_since=since, **fields)


def _fresh(lead) -> Lead:
    with scopes_disabled():
        return Lead.objects.get(pk=lead.pk)


def _events(lead, kind=None) -> list[LeadEvent]:
    with scopes_disabled():
        qs = LeadEvent.objects.filter(lead=lead).order_by("id")
        return list(qs.filter(kind=kind) if kind else qs)


def _recycle_group(group, now=NOW) -> int:
    with scopes_disabled():
        group = selectors.groups_with_rules().get(pk=group.pk)
    with tenant_scope(group.tenant_id):
        return recycling.recycle_group(group, now=now)


def _recycle_tenant(tenant, now=NOW) -> int:
    with tenant_scope(tenant.pk):
        return recycling.recycle_tenant(tenant.pk, now=now)


def _warn(tenant, now=NOW) -> int:
    with tenant_scope(tenant.pk):
        return recycling.warn_tenant(tenant.pk, now=now)


def _warnings() -> list[tuple]:
    """(customer id, lead id, recycle date, owner) of every warning, in order."""
    with scopes_disabled():
        rows = RecycleWarning.objects.order_by("id").values_list(
            "record_type__model", "record_id", "recycle_on", "owner_id"
        )
        return [
            (pk if model == "customer" else None, pk if model == "lead" else None, day, owner)
            for model, pk, day, owner in rows
        ]


def test_a_lead_without_follow_up_for_n_days_goes_back_into_its_pool(world, lead_pool):
    lead = _owned_lead(lead_pool, world.rep_east, since=NOW - 8 * DAY)
    assert _recycle_tenant(world.tenant_a) == 1
    lead = _fresh(lead)
    assert lead.owner_id is None and lead.pooled_at == NOW
    assert lead.pool_group_id == lead_pool.pk
    assert lead.previous_owner_id == world.rep_east.pk
    assert lead.pool_reason == PoolReason.RECYCLED_FOLLOWUP and lead.pool_reason_days == 7
    assert lead.owned_since is None
    [event] = _events(lead)
    assert event.kind == LeadEvent.Kind.RECYCLED and event.actor_id is None
    assert event.from_user_id == world.rep_east.pk and event.pool_group_id == lead_pool.pk
    assert len(logs(lead, actions.POOL_RECYCLED)) == 1
    [note] = notifications(world.rep_east)
    assert "线索" in note.title and str(lead) in note.title
    assert note.link == "/leads/pool/"


def test_recent_follow_up_or_ownership_keeps_the_lead(world, lead_pool):
    followed = _owned_lead(
        lead_pool, world.rep_east, since=NOW - 20 * DAY, last_followup_at=NOW - 2 * DAY
    )
    fresh_claim = _owned_lead(lead_pool, world.rep_east, since=NOW - 3 * DAY)
    old_followup = _owned_lead(
        lead_pool, world.rep_east, since=NOW - 20 * DAY, last_followup_at=NOW - 9 * DAY
    )
    assert _recycle_group(lead_pool) == 1
    assert _fresh(followed).owner_id == world.rep_east.pk
    assert _fresh(fresh_claim).owner_id == world.rep_east.pk
    assert _fresh(old_followup).owner_id is None


def test_closed_and_converted_leads_are_never_recycled(world, lead_pool):
    closed = _owned_lead(lead_pool, world.rep_east, since=NOW - 30 * DAY, status=Lead.Status.CLOSED)
    converted = _owned_lead(
        lead_pool, world.rep_east, since=NOW - 30 * DAY, status=Lead.Status.CONVERTED
    )
    contacted = _owned_lead(
        lead_pool, world.rep_east, since=NOW - 30 * DAY, status=Lead.Status.CONTACTED
    )
    assert _recycle_group(lead_pool) == 1
    assert _fresh(closed).owner_id == world.rep_east.pk
    assert _fresh(converted).owner_id == world.rep_east.pk
    assert _fresh(contacted).owner_id is None
    assert _events(closed) == [] and _events(converted) == []


def test_running_twice_recycles_once(world, lead_pool):
    leads = [_owned_lead(lead_pool, world.rep_east, since=NOW - 10 * DAY) for _ in range(3)]
    assert _recycle_tenant(world.tenant_a) == 3
    assert _recycle_tenant(world.tenant_a) == 0
    for lead in leads:
        assert [e.kind for e in _events(lead)] == [LeadEvent.Kind.RECYCLED]
    assert len(notifications(world.rep_east)) == 1


def test_recycling_in_batches(world, lead_pool, monkeypatch):
    monkeypatch.setattr(recycling, "BATCH", 2)
    leads = [_owned_lead(lead_pool, world.rep_east, since=NOW - 10 * DAY) for _ in range(5)]
    assert _recycle_group(lead_pool) == 5
    assert all(_fresh(lead).owner_id is None for lead in leads)
    assert len(notifications(world.rep_east)) == 1


def test_a_lead_pool_without_days_recycles_nothing(world):
    group = make_lead_pool(world.tenant_a, "不回收线索池")
    lead = _owned_lead(group, world.rep_east, since=NOW - 365 * DAY)
    assert _recycle_tenant(world.tenant_a) == 0
    assert _fresh(lead).owner_id == world.rep_east.pk


def test_a_disabled_lead_pool_recycles_nothing(world):
    group = make_lead_pool(
        world.tenant_a, "停用线索池", recycle_no_followup_days=7, is_enabled=False
    )
    lead = _owned_lead(group, world.rep_east, since=NOW - 30 * DAY)
    assert _recycle_tenant(world.tenant_a) == 0
    assert _fresh(lead).owner_id == world.rep_east.pk


def test_customers_and_leads_are_recycled_each_by_their_own_pool(world, lead_pool):
    customer_pool = make_group(
        world.tenant_a, "回收公海", open_to_all=True, recycle_no_followup_days=7
    )
    customer = owned(customer_pool, world.rep_east, since=NOW - 10 * DAY)
    lead = _owned_lead(lead_pool, world.rep_east, since=NOW - 10 * DAY)
    b_pool = make_lead_pool(world.tenant_b, "乙线索池", recycle_no_followup_days=1)
    b_lead = _owned_lead(b_pool, world.rep_b, since=NOW - 10 * DAY)
    assert _recycle_tenant(world.tenant_a) == 2
    with scopes_disabled():
        [customer_event] = OwnershipEvent.objects.filter(customer=customer)
        assert customer_event.pool_group_id == customer_pool.pk
        assert not OwnershipEvent.objects.filter(pool_group=lead_pool).exists()
    assert _fresh(lead).pool_group_id == lead_pool.pk
    # One notification per kind, each in its own words and with its own link.
    titles = sorted((n.link, n.title) for n in notifications(world.rep_east))
    assert [link for link, _t in titles] == ["/leads/pool/", "/pools/"]
    assert customer.name in titles[1][1] and str(lead) in titles[0][1]
    # Another tenant's run is its own.
    assert _fresh(b_lead).owner_id == world.rep_b.pk


def test_lead_forecast_says_when_it_falls_into_the_pool(world, lead_pool):
    lead = _owned_lead(lead_pool, world.rep_east, since=NOW - 5 * DAY)
    with tenant_scope(world.tenant_a.pk):
        forecast = pooling.lead_forecast(_fresh(lead))
    assert forecast.at == NOW + 2 * DAY and forecast.rule == "followup" and forecast.days == 7
    closed = _owned_lead(lead_pool, world.rep_east, since=NOW, status=Lead.Status.CLOSED)
    with tenant_scope(world.tenant_a.pk):
        assert pooling.lead_forecast(_fresh(closed)) is None


def test_lead_forecast_describes_the_lead_pool_and_the_rule(world, lead_pool):
    lead = _owned_lead(lead_pool, world.rep_east, since=NOW - 5 * DAY)
    with tenant_scope(world.tenant_a.pk):
        forecast = pooling.lead_forecast(_fresh(lead))
    with translation.override("en"):
        assert (
            forecast.describe(NOW) == "Falls into the lead pool in 2 days: no follow-up for 7 days"
        )
        assert forecast.describe(NOW + 2 * DAY) == (
            "Falls into the lead pool at the next recycling run: no follow-up for 7 days"
        )
    with translation.override("zh-hans"):
        assert forecast.describe(NOW) == "2 天后进入线索池：7 天未跟进"


# ---------------------------------------------------------------- warnings


@pytest.fixture
def warned_pool(world):
    """Recycles open leads after 7 days without a follow-up; warns 3 days ahead."""
    return make_lead_pool(world.tenant_a, "提醒线索池", recycle_no_followup_days=7, warn_days=3)


def test_lead_warnings_go_out_once_per_lead_and_recycle_date(world, warned_pool):
    soon = _owned_lead(warned_pool, world.rep_east, since=NOW - 5 * DAY, company="快到期公司")
    _owned_lead(warned_pool, world.rep_east, since=NOW - DAY)  # 6 days left: not yet
    _owned_lead(warned_pool, world.rep_east, since=NOW - 10 * DAY)  # due now: recycled instead
    with translation.override("en"):
        assert _warn(world.tenant_a) == 1
    [note] = notifications(world.rep_east)
    assert note.title == (f"1 lead falls into the lead pool soon (first in 2 days): {_fresh(soon)}")
    assert note.link == "/leads/"
    assert _warnings() == [(None, soon.pk, (NOW + 2 * DAY).date(), world.rep_east.pk)]
    # Twice the same day, or the next day: nothing new to say.
    assert _warn(world.tenant_a) == 0
    assert _warn(world.tenant_a, now=NOW + DAY) == 0
    assert len(notifications(world.rep_east)) == 1
    assert len(_warnings()) == 1


def test_lead_warning_in_chinese_names_the_lead_pool(world, warned_pool):
    lead = _owned_lead(warned_pool, world.rep_east, since=NOW - 6 * DAY)
    with translation.override("zh-hans"):
        assert _warn(world.tenant_a) == 1
    [note] = notifications(world.rep_east)
    assert note.title == f"1 条线索即将进入线索池（最早 1 天后）：{_fresh(lead)}"


def test_no_warning_for_closed_converted_pooled_or_unowned_leads(world, warned_pool):
    since = NOW - 5 * DAY
    _owned_lead(warned_pool, world.rep_east, since=since, status=Lead.Status.CLOSED)
    _owned_lead(warned_pool, world.rep_east, since=since, status=Lead.Status.CONVERTED)
    _owned_lead(warned_pool, None, since=since)
    make_lead(world.tenant_a, None, pool_group=warned_pool, pooled_at=since, created_at=since)
    contacted = _owned_lead(warned_pool, world.rep_east, since=since, status=Lead.Status.CONTACTED)
    assert _warn(world.tenant_a) == 1
    assert [w[1] for w in _warnings()] == [contacted.pk]


def test_no_lead_warning_before_the_warning_days_nor_for_warnless_or_ruleless_pools(world):
    pool = make_lead_pool(world.tenant_a, "两天提醒", recycle_no_followup_days=7, warn_days=2)
    lead = _owned_lead(pool, world.rep_east, since=NOW - 4 * DAY)  # recycled in 3 days
    quiet = make_lead_pool(world.tenant_a, "不提醒", recycle_no_followup_days=7, warn_days=0)
    _owned_lead(quiet, world.rep_east, since=NOW - 6 * DAY)
    ruleless = make_lead_pool(world.tenant_a, "不回收", warn_days=3)
    _owned_lead(ruleless, world.rep_east, since=NOW - 60 * DAY)
    assert _warn(world.tenant_a) == 0
    # One day later the lead is within the pool's 2 days.
    assert _warn(world.tenant_a, now=NOW + DAY) == 1
    assert [w[1] for w in _warnings()] == [lead.pk]


def test_a_new_follow_up_moves_the_leads_recycle_date_and_warns_again_later(world, warned_pool):
    lead = _owned_lead(warned_pool, world.rep_east, since=NOW - 5 * DAY)
    assert _warn(world.tenant_a) == 1
    with scopes_disabled():
        Lead.objects.filter(pk=lead.pk).update(last_followup_at=NOW + DAY)
    assert _warn(world.tenant_a, now=NOW + 2 * DAY) == 0
    assert _warn(world.tenant_a, now=NOW + 5 * DAY) == 1
    assert _warn(world.tenant_a, now=NOW + 6 * DAY) == 0
    assert [w[2] for w in _warnings()] == [(NOW + 2 * DAY).date(), (NOW + 8 * DAY).date()]
    assert len(notifications(world.rep_east)) == 2


def test_lead_warnings_batch_per_owner_apart_from_customer_warnings(world, warned_pool):
    _owned_lead(warned_pool, world.rep_east, since=NOW - 5 * DAY)
    _owned_lead(warned_pool, world.rep_east, since=NOW - 6 * DAY)
    _owned_lead(warned_pool, world.rep_west, since=NOW - 5 * DAY)
    customer_pool = make_group(world.tenant_a, "提醒公海", recycle_no_followup_days=7, warn_days=3)
    customer = owned(customer_pool, world.rep_east, "快到期客户", since=NOW - 5 * DAY)
    b_pool = make_lead_pool(world.tenant_b, "乙线索池", recycle_no_followup_days=7, warn_days=3)
    _owned_lead(b_pool, world.rep_b, since=NOW - 5 * DAY)
    with translation.override("en"):
        assert _warn(world.tenant_a) == 4
    east = sorted((n.link, n.title) for n in notifications(world.rep_east))
    assert east[0] == ("/", "1 customer falls into the pool soon (first in 2 days): 快到期客户")
    assert east[1][0] == "/leads/"
    assert east[1][1].startswith("2 leads fall into the lead pool soon (first in 1 days): ")
    [west] = notifications(world.rep_west)
    assert west.title.startswith("1 lead falls into the lead pool soon")
    assert [w[0] for w in _warnings() if w[0]] == [customer.pk]
    # Another tenant's run is its own.
    assert notifications(world.rep_b) == []


def test_a_recycle_warning_names_one_row_once_per_date(world, warned_pool):
    lead = _owned_lead(warned_pool, world.rep_east, since=NOW)
    customer = owned(make_group(world.tenant_a, "公海"), world.rep_east)
    day = NOW.date()
    base = {"tenant": world.tenant_a, "owner": world.rep_east, "recycle_on": day}
    with scopes_disabled():
        RecycleWarning.objects.create(record=lead, **base)
        RecycleWarning.objects.create(record=customer, **base)
        # A customer and a lead with the same id are two rows: the content type tells them
        # apart.
        for fields in ({"record": lead}, {"record": customer}):
            with pytest.raises(IntegrityError), transaction.atomic():
                RecycleWarning.objects.create(**fields, **base)
        assert RecycleWarning.objects.count() == 2


def test_deleting_a_pooled_row_deletes_its_recycle_warnings(world, warned_pool):
    lead = _owned_lead(warned_pool, world.rep_east, since=NOW)
    kept = _owned_lead(warned_pool, world.rep_east, since=NOW)
    customer = owned(make_group(world.tenant_a, "公海"), world.rep_east)
    base = {"tenant": world.tenant_a, "owner": world.rep_east, "recycle_on": NOW.date()}
    with scopes_disabled():
        for row in (lead, kept, customer):
            RecycleWarning.objects.create(record=row, **base)
        lead.delete()
        customer.delete()
        assert [w.record_id for w in RecycleWarning.objects.all()] == [kept.pk]


def test_lead_due_for_recycling_lists_my_soon_due_open_leads(world, warned_pool):
    soon = _owned_lead(warned_pool, world.rep_east, since=NOW - 5 * DAY)
    sooner = _owned_lead(warned_pool, world.rep_east, since=NOW - 6 * DAY)
    _owned_lead(warned_pool, world.rep_east, since=NOW - DAY)
    _owned_lead(warned_pool, world.rep_east, since=NOW - 6 * DAY, status=Lead.Status.CLOSED)
    _owned_lead(warned_pool, world.rep_west, since=NOW - 6 * DAY)
    with tenant_scope(world.tenant_a.pk):
        rows = pooling.lead_due_for_recycling(actor=fresh_user(world.rep_east), now=NOW)
    assert [lead.pk for lead in rows] == [sooner.pk, soon.pk]
    assert [lead.forecast.days_left(NOW) for lead in rows] == [1, 2]
    assert all(lead.forecast.kind == "lead" for lead in rows)
