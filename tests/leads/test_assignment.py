"""线索自动分配: the engine behind leads.assignment.auto_assign (round robin, skips, bounds,
conditions, rule order, triggers, what it never touches, what it writes) and the periodic
job over the lead pools (task, fan-out, beat, management command, a real worker)."""

from __future__ import annotations

import datetime
import io
import time

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_scopes import get_scope, scopes_disabled

from crm.celery import app
from crm.models import ActivityLog, Notification, Option, OptionKind, Tenant
from crm.tenancy import tenant_scope
from leads import assignment, tasks
from leads.models import AssignmentRule, Lead, LeadEvent
from tests.factories import make_user
from tests.leads.factories import (
    make_campaign,
    make_lead,
    make_lead_pool,
    make_pooled_lead,
    make_rule,
)


def _new(world, n: int = 1, **fields) -> list[Lead]:
    return [make_lead(world.tenant_a, None, **fields) for _ in range(n)]


def _assign(leads, trigger: str = "create", actor=None) -> dict[int, str]:
    """auto_assign inside the tenant's scope; {lead id: username}."""
    with tenant_scope(leads[0].tenant_id):
        got = assignment.auto_assign(leads=leads, trigger=trigger, actor=actor)
    return {pk: user.username for pk, user in got.items()}


def _owners(leads) -> list[str | None]:
    with scopes_disabled():
        rows = {
            lead.pk: lead.owner.username if lead.owner else None
            for lead in Lead.objects.filter(pk__in=[x.pk for x in leads]).select_related("owner")
        }
    return [rows[lead.pk] for lead in leads]


def _source(tenant, index: int = 0) -> Option:
    with scopes_disabled():
        return list(
            Option.objects.filter(tenant=tenant, kind=OptionKind.CUSTOMER_SOURCE).order_by("pk")
        )[index]


def _deactivate(user) -> None:
    type(user).objects.filter(pk=user.pk).update(is_active=False)


@pytest.fixture
def reps(world):
    return [world.rep_east, world.rep_east2, world.rep_west]


# ---------------------------------------------------------------- round robin


def test_round_robin_continues_across_calls(world, reps):
    make_rule(world.tenant_a, reps, "轮流")
    leads = _new(world, 5)
    for lead in leads:
        _assign([lead])
    assert _owners(leads) == ["rep_east", "rep_east2", "rep_west", "rep_east", "rep_east2"]


def test_round_robin_within_one_call_and_the_cursor_is_kept(world, reps):
    rule = make_rule(world.tenant_a, reps, "轮流")
    first = _new(world, 4)
    assert list(_assign(first).values()) == ["rep_east", "rep_east2", "rep_west", "rep_east"]
    with scopes_disabled():
        assert AssignmentRule.objects.get(pk=rule.pk).cursor == 1
    second = _new(world, 1)
    _assign(second)
    assert _owners(second) == ["rep_east2"]


def test_inactive_users_are_skipped(world, reps):
    make_rule(world.tenant_a, reps)
    _deactivate(world.rep_east2)
    leads = _new(world, 3)
    _assign(leads)
    assert _owners(leads) == ["rep_east", "rep_west", "rep_east"]


def test_users_at_the_holding_limit_are_skipped(world, reps):
    make_rule(world.tenant_a, reps, holding_limit=2)
    make_lead(world.tenant_a, world.rep_east)
    make_lead(world.tenant_a, world.rep_east)
    # Closed and converted leads do not count towards the holding.
    make_lead(world.tenant_a, world.rep_east2, status=Lead.Status.CLOSED)
    make_lead(world.tenant_a, world.rep_east2, status=Lead.Status.CONVERTED)
    make_lead(world.tenant_a, world.rep_east2)
    leads = _new(world, 4)
    _assign(leads)
    # rep_east is full; rep_east2 takes one more (then holds 2), rep_west takes two.
    assert _owners(leads) == ["rep_east2", "rep_west", "rep_west", None]


def test_the_daily_bound_per_user_counts_this_rules_assignments_today(world, reps):
    rule = make_rule(world.tenant_a, reps[:2], daily_limit=2)
    other = make_rule(world.tenant_a, [world.rep_west], "另一条", on_create=False)
    yesterday = timezone.now() - datetime.timedelta(days=1)
    old = make_lead(world.tenant_a, world.rep_east)
    with scopes_disabled():
        # Yesterday's and another rule's assignments do not count.
        LeadEvent.objects.create(
            tenant=world.tenant_a,
            lead=old,
            kind=LeadEvent.Kind.AUTO_ASSIGNED,
            to_user=world.rep_east,
            rule=rule,
            created_at=yesterday,
        )
        LeadEvent.objects.create(
            tenant=world.tenant_a,
            lead=old,
            kind=LeadEvent.Kind.AUTO_ASSIGNED,
            to_user=world.rep_east,
            rule=other,
        )
        # Today's by this rule do.
        LeadEvent.objects.create(
            tenant=world.tenant_a,
            lead=old,
            kind=LeadEvent.Kind.AUTO_ASSIGNED,
            to_user=world.rep_east,
            rule=rule,
        )
    leads = _new(world, 5)
    _assign(leads[:2])
    _assign(leads[2:])
    assert _owners(leads) == ["rep_east", "rep_east2", "rep_east2", None, None]


# ---------------------------------------------------------------- conditions and order


def test_conditions_source_campaign_and_region(world):
    web, fair = _source(world.tenant_a, 0), _source(world.tenant_a, 1)
    spring = make_campaign(world.tenant_a, "春季展会")
    make_rule(world.tenant_a, [world.rep_east], "网络", source=web)
    make_rule(world.tenant_a, [world.rep_east2], "展会", campaign=spring)
    make_rule(world.tenant_a, [world.rep_west], "四川成都", province="四川", city="成都")
    by_source = make_lead(world.tenant_a, None, source=web)
    by_campaign = make_lead(world.tenant_a, None, source=fair, campaign=spring)
    by_region = make_lead(world.tenant_a, None, source=fair, province="四川", city="成都")
    wrong_city = make_lead(world.tenant_a, None, source=fair, province="四川", city="绵阳")
    nothing = make_lead(world.tenant_a, None)
    leads = [by_source, by_campaign, by_region, wrong_city, nothing]
    _assign(leads)
    assert _owners(leads) == ["rep_east", "rep_east2", "rep_west", None, None]


def test_a_rule_with_a_pool_takes_only_leads_lying_in_that_pool(world):
    north, south = (
        make_lead_pool(world.tenant_a, "北方池"),
        make_lead_pool(world.tenant_a, "南方池"),
    )
    make_rule(world.tenant_a, [world.rep_east], "北方", pool_group=north)
    in_north, in_south = make_pooled_lead(north), make_pooled_lead(south)
    # Owned once by the north pool's group but no longer lying in it.
    not_lying = make_lead(world.tenant_a, None, pool_group=north)
    new = make_lead(world.tenant_a, None)
    leads = [in_north, in_south, not_lying, new]
    _assign(leads, "periodic")
    assert _owners(leads) == ["rep_east", None, None, None]


def test_a_rule_without_a_pool_takes_new_leads_and_leads_of_any_pool(world):
    pool = make_lead_pool(world.tenant_a)
    make_rule(world.tenant_a, [world.rep_east])
    leads = [make_pooled_lead(pool), make_lead(world.tenant_a, None)]
    _assign(leads, "return")
    assert _owners(leads) == ["rep_east", "rep_east"]


def test_first_matching_rule_wins(world):
    web = _source(world.tenant_a)
    make_rule(world.tenant_a, [world.rep_east], "先", sort_order=0, source=web)
    make_rule(world.tenant_a, [world.rep_west], "后", sort_order=1)
    leads = [make_lead(world.tenant_a, None, source=web), make_lead(world.tenant_a, None)]
    _assign(leads)
    assert _owners(leads) == ["rep_east", "rep_west"]


def test_sort_order_decides_not_the_creation_order(world):
    make_rule(world.tenant_a, [world.rep_east], "早建", sort_order=5)
    make_rule(world.tenant_a, [world.rep_west], "靠前", sort_order=1)
    leads = _new(world, 1)
    _assign(leads)
    assert _owners(leads) == ["rep_west"]


def test_a_rule_without_an_available_user_falls_through_to_the_next(world):
    make_rule(world.tenant_a, [world.rep_east], "满了", sort_order=0, daily_limit=1)
    make_rule(world.tenant_a, [world.rep_west], "兜底", sort_order=1)
    leads = _new(world, 3)
    _assign(leads)
    assert _owners(leads) == ["rep_east", "rep_west", "rep_west"]


def test_disabled_rules_and_rules_without_users_are_ignored(world):
    make_rule(world.tenant_a, [world.rep_east], "停用", sort_order=0, is_enabled=False)
    make_rule(world.tenant_a, [], "无人", sort_order=1)
    make_rule(world.tenant_a, [world.rep_west], "可用", sort_order=2)
    leads = _new(world, 1)
    _assign(leads)
    assert _owners(leads) == ["rep_west"]


@pytest.mark.parametrize(
    ("flag", "trigger"),
    [
        ("on_create", "create"),
        ("on_import", "import"),
        ("on_return", "return"),
        ("periodic", "periodic"),
    ],
)
def test_a_rule_applies_only_to_the_triggers_it_has_on(world, flag, trigger):
    pool = make_lead_pool(world.tenant_a)
    make_rule(world.tenant_a, [world.rep_east], "关", sort_order=0, **{flag: False})
    make_rule(
        world.tenant_a,
        [world.rep_west],
        "只此一种",
        sort_order=1,
        **{f: f == flag for f in ("on_create", "on_import", "on_return", "periodic")},
    )
    lead = make_pooled_lead(pool)
    _assign([lead], trigger)
    assert _owners([lead]) == ["rep_west"]
    for other in set(assignment.TRIGGERS) - {trigger}:
        again = make_pooled_lead(pool)
        _assign([again], other)
        assert _owners([again]) == ["rep_east"]


def test_an_unknown_trigger_is_a_programming_error(world):
    with pytest.raises(ValueError):
        _assign(_new(world, 1), "sometimes")


# ---------------------------------------------------------------- never touched


def test_closed_converted_and_owned_leads_are_never_touched(world):
    make_rule(world.tenant_a, [world.rep_east])
    closed = make_lead(world.tenant_a, None, status=Lead.Status.CLOSED)
    converted = make_lead(world.tenant_a, None, status=Lead.Status.CONVERTED)
    owned = make_lead(world.tenant_a, world.rep_west)
    contacted = make_lead(world.tenant_a, None, status=Lead.Status.CONTACTED)
    leads = [closed, converted, owned, contacted]
    assert list(_assign(leads).keys()) == [contacted.pk]
    assert _owners(leads) == [None, None, "rep_west", "rep_east"]
    with scopes_disabled():
        assert LeadEvent.objects.filter(lead__in=[closed, converted, owned]).count() == 0


def test_a_stale_copy_of_a_lead_someone_took_meanwhile_is_left_alone(world):
    make_rule(world.tenant_a, [world.rep_east])
    lead = make_lead(world.tenant_a, None)
    with scopes_disabled():
        Lead.objects.filter(pk=lead.pk).update(owner=world.rep_west)
    assert _assign([lead]) == {}
    assert _owners([lead]) == ["rep_west"]


def test_another_tenants_rules_never_take_a_lead(world):
    make_rule(world.tenant_b, [world.rep_b])
    lead = make_lead(world.tenant_a, None)
    assert _assign([lead]) == {}
    b_lead = make_lead(world.tenant_b, None)
    make_rule(world.tenant_a, [world.rep_east])
    assert _assign([b_lead]) == {b_lead.pk: "rep_b"}


# ---------------------------------------------------------------- what it writes


def test_assignment_writes_the_event_the_activity_log_and_one_notification(world):
    pool = make_lead_pool(world.tenant_a, "展会池")
    rule = make_rule(world.tenant_a, [world.rep_east], "展会规则")
    leads = [make_pooled_lead(pool), make_pooled_lead(pool)]
    _assign(leads, "return", actor=world.manager_sales)
    # The caller's objects see the new owner and leave the pool.
    assert all(lead.owner_id == world.rep_east.pk and lead.pooled_at is None for lead in leads)
    with scopes_disabled():
        rows = list(Lead.objects.filter(pk__in=[x.pk for x in leads]))
        assert all(r.pooled_at is None and r.pool_group_id == pool.pk for r in rows)
        assert all(r.owned_since is not None for r in rows)
        events = list(LeadEvent.objects.filter(lead__in=leads))
        assert [(e.kind, e.to_user_id, e.rule_id, e.pool_group_id, e.actor_id) for e in events] == [
            (
                LeadEvent.Kind.AUTO_ASSIGNED,
                world.rep_east.pk,
                rule.pk,
                pool.pk,
                world.manager_sales.pk,
            )
        ] * 2
        logs = ActivityLog.objects.filter(
            action="lead.auto_assigned", object_id__in=[x.pk for x in leads]
        )
        assert logs.count() == 2
        assert {log.note for log in logs} == {"展会规则"}
        assert Notification.objects.filter(recipient=world.rep_east).count() == 1


def test_assignment_queries_do_not_grow_with_the_batch(world, reps, django_assert_max_num_queries):
    make_rule(world.tenant_a, reps, "甲", daily_limit=50, holding_limit=50)
    make_rule(world.tenant_a, reps, "乙", daily_limit=50, holding_limit=50)
    small, big = _new(world, 3), _new(world, 30)
    with tenant_scope(world.tenant_a.pk):
        with django_assert_max_num_queries(30) as small_run:
            assignment.auto_assign(leads=small, trigger="create")
        with django_assert_max_num_queries(30) as big_run:
            assignment.auto_assign(leads=big, trigger="create")
    assert len(big_run.captured_queries) == len(small_run.captured_queries)


# ---------------------------------------------------------------- the periodic job


@pytest.fixture
def pool(world):
    return make_lead_pool(world.tenant_a, "待分配池")


def test_periodic_task_assigns_the_tenants_pooled_leads_in_batches(world, pool, monkeypatch):
    monkeypatch.setattr(assignment, "BATCH", 2)
    make_rule(world.tenant_a, [world.rep_east, world.rep_west], periodic=True)
    pooled = [make_pooled_lead(pool) for _ in range(5)]
    new = make_lead(world.tenant_a, None)  # not in a pool: the periodic job leaves it
    closed = make_pooled_lead(pool, status=Lead.Status.CLOSED)
    b_pool = make_lead_pool(world.tenant_b)
    make_rule(world.tenant_b, [world.rep_b])
    neighbour = make_pooled_lead(b_pool)
    assert tasks.leads_auto_assign_task(world.tenant_a.pk) == 5
    assert _owners(pooled) == ["rep_east", "rep_west", "rep_east", "rep_west", "rep_east"]
    assert _owners([new, closed, neighbour]) == [None, None, None]
    assert tasks.leads_auto_assign_task(world.tenant_a.pk) == 0  # idempotent


def test_periodic_task_stops_when_every_user_is_at_a_bound(world, pool, monkeypatch):
    monkeypatch.setattr(assignment, "BATCH", 2)
    make_rule(world.tenant_a, [world.rep_east], daily_limit=3)
    pooled = [make_pooled_lead(pool) for _ in range(8)]
    calls = []
    real = assignment._assign
    monkeypatch.setattr(assignment, "_assign", lambda **kw: calls.append(1) or real(**kw))
    assert tasks.leads_auto_assign_task(world.tenant_a.pk) == 3
    assert len(calls) == 2  # the second batch used up the bound: no third read
    assert _owners(pooled).count("rep_east") == 3


def test_periodic_task_does_nothing_without_periodic_rules(world, pool, django_assert_num_queries):
    make_rule(world.tenant_a, [world.rep_east], periodic=False)
    lead = make_pooled_lead(pool)
    with tenant_scope(world.tenant_a.pk), django_assert_num_queries(1):
        assert assignment.assign_pooled(world.tenant_a.pk) == 0
    assert _owners([lead]) == [None]


def test_periodic_task_runs_inside_the_tenants_scope(world, monkeypatch):
    seen = []
    monkeypatch.setattr(
        assignment, "assign_pooled", lambda tid: seen.append((tid, get_scope()["tenant"])) or 0
    )
    tasks.leads_auto_assign_task(world.tenant_b.pk)
    assert seen == [(world.tenant_b.pk, world.tenant_b.pk)]


def test_periodic_task_skips_a_disabled_tenant(world, pool):
    make_rule(world.tenant_a, [world.rep_east])
    lead = make_pooled_lead(pool)
    Tenant.objects.filter(pk=world.tenant_a.pk).update(is_active=False)
    assert tasks.leads_auto_assign_task(world.tenant_a.pk) is None
    assert _owners([lead]) == [None]


def test_the_all_task_fans_out_to_every_active_tenant(world, monkeypatch):
    sent = []
    monkeypatch.setattr(tasks.leads_auto_assign_task, "delay", lambda tid: sent.append(tid))
    Tenant.objects.filter(pk=world.tenant_b.pk).update(is_active=False)
    assert tasks.leads_auto_assign_all_task() == 1
    assert sent == [world.tenant_a.pk]


def test_beat_schedules_the_periodic_assignment():
    app.loader.import_default_modules()
    entry = settings.CELERY_BEAT_SCHEDULE["leads-auto-assign"]
    assert entry["task"] == "leads.tasks.leads_auto_assign_all_task"
    assert entry["task"] in app.tasks


def test_management_command_runs_one_tenant(world, pool):
    make_rule(world.tenant_a, [world.rep_east])
    make_pooled_lead(pool)
    out = io.StringIO()
    call_command("lead_auto_assign", "--tenant", "alpha", stdout=out)
    assert out.getvalue() == "alpha: 1 leads assigned by the rules\n"
    with pytest.raises(CommandError, match="nobody"):
        call_command("lead_auto_assign", "--tenant", "nobody")


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_assigns_a_pooled_lead(world):
    """leads_auto_assign_task.delay goes through the configured broker to a real worker."""
    from celery.contrib.testing.worker import start_worker

    pool = make_lead_pool(world.tenant_a)
    make_rule(world.tenant_a, [world.rep_east])
    lead = make_pooled_lead(pool)

    def assigned() -> bool:
        with scopes_disabled():
            return Lead.objects.filter(pk=lead.pk, owner__isnull=False).exists()

    app.conf.task_always_eager = False
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            tasks.leads_auto_assign_task.delay(world.tenant_a.pk)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not assigned():
                time.sleep(0.2)
    finally:
        app.conf.task_always_eager = True
    assert _owners([lead]) == ["rep_east"]


def test_a_new_user_joins_the_turns(world):
    newcomer = make_user(world.tenant_a, "newcomer", department=world.east)
    make_rule(world.tenant_a, [world.rep_east, newcomer])
    leads = _new(world, 2)
    _assign(leads)
    assert _owners(leads) == ["rep_east", "newcomer"]


def test_a_returned_lead_never_goes_back_to_who_gave_it_up(world, reps):
    pool = make_lead_pool(world.tenant_a)
    rule = make_rule(world.tenant_a, reps)
    given_up = make_pooled_lead(pool, previous_owner=world.rep_east)
    _assign([given_up], "return")
    # rep_east's turn is skipped, not spent: the next lead goes to them.
    assert _owners([given_up]) == ["rep_east2"]
    nxt = _new(world, 1)
    _assign(nxt)
    assert _owners(nxt) == ["rep_west"]
    # The only user of a rule is not given back what they returned: the lead stays.
    with scopes_disabled():
        AssignmentRule.objects.filter(pk=rule.pk).update(is_enabled=False)
    make_rule(world.tenant_a, [world.rep_west], "只有他")
    stays = make_pooled_lead(pool, previous_owner=world.rep_west)
    assert _assign([stays], "periodic") == {}
    assert _owners([stays]) == [None]


@pytest.mark.parametrize(
    ("lead_place", "rule_place", "matches"),
    [
        (("浙江", "杭州"), ("浙江省", "杭州市"), True),  # an imported lead, a rule from the picker
        (("浙江省", "杭州市"), ("浙江", "杭州"), True),  # a picker lead, an old free-text rule
        ((" 浙江省 ", "杭州市"), ("浙江省", "杭州市"), True),
        (("浙江省", "宁波市"), ("浙江省", "杭州市"), False),
        (("江苏省", "杭州市"), ("浙江省", "杭州市"), False),
        (("", ""), ("浙江省", ""), False),
    ],
)
def test_rules_match_places_written_in_full_or_short(lead_place, rule_place, matches):
    from leads.assignment import same_place

    got = same_place(lead_place[0], rule_place[0], province=True) and (
        not rule_place[1] or same_place(lead_place[1], rule_place[1])
    )
    assert got is matches
