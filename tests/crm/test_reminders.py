"""The reminder engine (crm.reminders): once per record, recipient and due moment; moves with
the time; nothing before its moment, nothing beyond the lookback; recipients of the tenant only;
a failing kind or tenant does not stop the others; a fixed number of queries."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_scopes import scopes_disabled

from crm import deliveries, reminders, tasks
from crm.models import Notification, Reminder
from crm.reminders import Due, ReminderKind
from tests.customers.factories import make_customer

NOW = timezone.make_aware(datetime.datetime(2026, 12, 7, 14, 15))  # server time (Asia/Shanghai)
AT = NOW + datetime.timedelta(minutes=15)  # the follow-up the 14:15 run reminds of


@pytest.fixture(autouse=True)
def _without_the_morning_digest(monkeypatch):
    """A run after 08:30 would also send the morning digest (tests/crm/test_digests.py)."""
    monkeypatch.delitem(reminders._KINDS, "followup_digest")


def bell(user) -> list[Notification]:
    with scopes_disabled():
        return list(Notification.objects.filter(recipient=user).order_by("id"))


def rows(**filters) -> list[Reminder]:
    with scopes_disabled():
        return list(Reminder.objects.filter(**filters).order_by("id"))


@pytest.fixture
def only(monkeypatch):
    """``only(*kinds)``: the registry holds just these kinds during the test."""

    def do(*kinds: ReminderKind):
        monkeypatch.setattr(reminders, "_KINDS", {k.key: k for k in kinds})

    return do


def test_a_due_follow_up_is_sent_once_even_when_the_job_runs_twice(world):
    customer = make_customer(world.tenant_a, world.rep_east, "武汉宏图机械", next_followup_at=AT)
    assert reminders.run(world.tenant_a.pk, now=NOW) == 1
    assert reminders.run(world.tenant_a.pk, now=NOW) == 0
    assert reminders.run(world.tenant_a.pk, now=NOW + datetime.timedelta(minutes=5)) == 0
    [note] = bell(world.rep_east)
    assert "武汉宏图机械" in note.title and "14:30" in note.title
    assert note.link == f"/customers/{customer.pk}/"
    [row] = rows(kind="customer_followup")
    assert (row.object_id, row.recipient_id, row.due_at) == (customer.pk, world.rep_east.pk, AT)


def test_nothing_before_the_moment_and_a_late_run_within_the_lookback_still_sends(world):
    make_customer(world.tenant_a, world.rep_east, next_followup_at=AT)
    assert reminders.run(world.tenant_a.pk, now=NOW - datetime.timedelta(minutes=1)) == 0
    assert bell(world.rep_east) == []
    # The worker was down for 20 hours: the run that comes back still reminds.
    assert reminders.run(world.tenant_a.pk, now=NOW + datetime.timedelta(hours=20)) == 1
    assert len(bell(world.rep_east)) == 1


def test_a_first_run_on_old_data_does_not_remind_of_moments_beyond_the_lookback(world):
    make_customer(
        world.tenant_a, world.rep_east, next_followup_at=NOW - datetime.timedelta(hours=30)
    )
    with scopes_disabled():
        world.tenant_a.followup_overdue_escalation_days = 0  # escalation off: due kind only
        world.tenant_a.save()
    assert reminders.run(world.tenant_a.pk, now=NOW) == 0
    assert bell(world.rep_east) == []


def test_a_moved_follow_up_is_reminded_again_for_its_new_time(world):
    customer = make_customer(world.tenant_a, world.rep_east, next_followup_at=AT)
    assert reminders.run(world.tenant_a.pk, now=NOW) == 1
    later = AT + datetime.timedelta(hours=2)
    with scopes_disabled():
        type(customer).objects.filter(pk=customer.pk).update(next_followup_at=later)
    assert reminders.run(world.tenant_a.pk, now=NOW + datetime.timedelta(minutes=30)) == 0
    assert reminders.run(world.tenant_a.pk, now=later - datetime.timedelta(minutes=15)) == 1
    assert [r.due_at for r in rows(kind="customer_followup")] == [AT, later]
    assert len(bell(world.rep_east)) == 2


@pytest.mark.parametrize(
    "change",
    [
        {"next_followup_at": None},  # done: the follow-up written cleared it
        {"deleted_at": NOW - datetime.timedelta(hours=1)},
        {"owner": None, "pooled_at": NOW - datetime.timedelta(hours=1)},
    ],
    ids=["done", "deleted", "pooled"],
)
def test_a_record_done_deleted_or_pooled_before_its_time_is_not_reminded(world, change):
    customer = make_customer(world.tenant_a, world.rep_east, next_followup_at=AT)
    with scopes_disabled():
        type(customer).objects.filter(pk=customer.pk).update(**change)
    assert reminders.run(world.tenant_a.pk, now=NOW) == 0
    assert bell(world.rep_east) == [] and rows() == []


def test_a_transferred_record_reminds_its_new_owner(world):
    customer = make_customer(world.tenant_a, world.rep_east, next_followup_at=AT)
    with scopes_disabled():
        type(customer).objects.filter(pk=customer.pk).update(owner=world.rep_west)
    assert reminders.run(world.tenant_a.pk, now=NOW) == 1
    assert bell(world.rep_east) == [] and len(bell(world.rep_west)) == 1


def test_runs_never_cross_tenants(world):
    make_customer(world.tenant_b, world.rep_b, next_followup_at=AT)
    assert reminders.run(world.tenant_a.pk, now=NOW) == 0
    assert bell(world.rep_b) == []
    assert reminders.run(world.tenant_b.pk, now=NOW) == 1
    assert len(bell(world.rep_b)) == 1 and bell(world.rep_east) == []


def test_a_kind_cannot_address_another_tenants_user_nor_an_inactive_one(world, only):
    with scopes_disabled():
        world.rep_west.is_active = False
        world.rep_west.save()

    def due(tenant_id, now, since):
        for user in (world.rep_b, world.rep_west, world.rep_east):
            yield Due(1, user.pk, NOW, "x", link="/")

    only(ReminderKind("test_any", "test", due))
    assert reminders.run(world.tenant_a.pk, now=NOW) == 1
    assert [r.recipient_id for r in rows()] == [world.rep_east.pk]
    assert bell(world.rep_b) == [] and bell(world.rep_west) == []


def test_a_failing_kind_does_not_stop_the_others_and_stays_due(world, only):
    calls = []

    def broken(tenant_id, now, since):
        calls.append(tenant_id)
        raise RuntimeError("boom")

    def fine(tenant_id, now, since):
        yield Due(7, world.rep_east.pk, NOW, "fine", link="/")

    only(ReminderKind("test_broken", "b", broken), ReminderKind("test_fine", "f", fine))
    assert reminders.run(world.tenant_a.pk, now=NOW) == 1
    assert reminders.run(world.tenant_a.pk, now=NOW) == 0
    assert calls == [world.tenant_a.pk] * 2
    assert [n.title for n in bell(world.rep_east)] == ["fine"]


def test_a_channel_that_fails_rolls_its_reminders_back_so_they_stay_due(world, monkeypatch):
    make_customer(world.tenant_a, world.rep_east, next_followup_at=AT)

    def down(*args):
        raise RuntimeError("channel down")

    monkeypatch.setattr(deliveries, "queue_webhooks", down)
    assert reminders.run(world.tenant_a.pk, now=NOW) == 0
    assert rows() == [] and bell(world.rep_east) == []
    monkeypatch.undo()
    monkeypatch.delitem(reminders._KINDS, "followup_digest")
    assert reminders.run(world.tenant_a.pk, now=NOW) == 1


def test_one_tenant_failing_does_not_stop_the_others(world, monkeypatch):
    make_customer(world.tenant_b, world.rep_b, next_followup_at=AT)
    real = reminders.run

    def run(tenant_id, now=None):
        if tenant_id == world.tenant_a.pk:
            raise RuntimeError("tenant a is broken")
        return real(tenant_id, now=NOW)

    monkeypatch.setattr(reminders, "run", run)
    # Eager Celery in the tests: the fan-out runs each tenant's task in turn.
    assert tasks.reminders_run_all_task() == 2
    assert len(bell(world.rep_b)) == 1


def test_the_tenant_task_runs_the_engine(world):
    make_customer(world.tenant_a, world.rep_east, next_followup_at=timezone.now())
    assert tasks.reminders_run_task(world.tenant_a.pk) == 1
    assert len(bell(world.rep_east)) == 1


def queries_for(world, count: int) -> int:
    for _ in range(count):
        make_customer(world.tenant_a, world.rep_east, next_followup_at=AT)
    with CaptureQueriesContext(connection) as ctx:
        assert reminders.run(world.tenant_a.pk, now=NOW) == count
    with scopes_disabled():
        Notification.objects.all().delete()
    return len(ctx.captured_queries)


def test_the_query_count_does_not_grow_with_the_number_of_due_records(world):
    queries_for(world, 1)  # the first run of the day also sends the e-mail digests
    few = queries_for(world, 5)
    many = queries_for(world, 50)
    assert few == many


def test_the_query_count_does_not_grow_with_group_bots_and_preferences_either(world):
    from crm.models import ReminderPreference, Webhook

    with scopes_disabled():
        Webhook.objects.create(
            tenant=world.tenant_a,
            provider="wecom",
            url="https://qyapi.weixin.qq.com/x",
            department=world.east,
        )
        ReminderPreference.objects.create(
            tenant=world.tenant_a,
            user=world.rep_east,
            quiet_start=None,
            quiet_end=None,
            off=["customer_followup:bell"],
        )
    queries_for(world, 1)
    few = queries_for(world, 5)
    many = queries_for(world, 50)
    assert few == many
    with scopes_disabled():
        from crm.models import Delivery

        assert Delivery.objects.filter(channel="webhook").count() == 56
        assert not Notification.objects.filter(recipient=world.rep_east).exists()


def test_the_demo_data_has_reminders_due_within_minutes_of_loading(db):
    from crm.demo import load_demo
    from crm.models import Tenant

    load_demo()
    with scopes_disabled():
        demo = Tenant.objects.get(slug="demo")
    assert reminders.run(demo.pk) > 0  # at once: the 5-minute follow-ups and the birthdays
    in_20_minutes = timezone.now() + datetime.timedelta(minutes=20)
    assert reminders.run(demo.pk, now=in_20_minutes) > 0
    with scopes_disabled():
        kinds = set(Reminder.objects.filter(tenant=demo).values_list("kind", flat=True))
        rep1 = set(
            Reminder.objects.filter(tenant=demo, recipient__username="rep1").values_list(
                "kind", flat=True
            )
        )
    assert {"customer_followup", "lead_followup", "contact_birthday"} <= kinds
    assert {"customer_followup", "lead_followup", "contact_birthday"} <= rep1
    assert "contact_birthday_soon" in rep1
    # Every demo user has an address: the 08:30 e-mail digest reaches them (on the console).
    with scopes_disabled():
        from crm.models import User

        assert not User.tenant_objects.filter(tenant=demo, email="").exists()


def test_the_command_fires_one_tenants_reminders_now(world):
    from io import StringIO

    from django.core.management import CommandError, call_command

    make_customer(world.tenant_a, world.rep_east, next_followup_at=AT)
    make_customer(world.tenant_b, world.rep_b, next_followup_at=AT)
    out = StringIO()
    call_command("reminders_run", "--tenant", "alpha", "--now", NOW.isoformat(), stdout=out)
    assert out.getvalue().strip() == (
        "alpha: 1 reminders sent; deliveries: 0 sent, 0 to retry, 0 failed"
    )
    assert len(bell(world.rep_east)) == 1 and bell(world.rep_b) == []
    with pytest.raises(CommandError):
        call_command("reminders_run", "--tenant", "nobody")


def test_the_beat_runs_the_reminders_every_minute(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["reminders-run"]
    assert entry["task"] == "crm.tasks.reminders_run_all_task"
    assert entry["schedule"].minute == set(range(60))
