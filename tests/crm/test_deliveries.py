"""Reminder channels (crm/deliveries.py): group-bot pushes queued by the job and sent outside
it with backoff, quiet hours, per-kind preferences, the daily e-mail digest, the purge. Every
push goes to a local server on 127.0.0.1 (tests/webhook_server.py)."""

from __future__ import annotations

import datetime
import time
import zoneinfo

import pytest
from django.core import mail
from django.test import override_settings
from django.utils import timezone
from django_scopes import scopes_disabled

from crm import deliveries, reminders
from crm.models import Delivery, Notification, Reminder, ReminderPreference, Webhook
from tests.customers.factories import make_customer
from tests.webhook_server import closed_port_url

pytestmark = pytest.mark.usefixtures("_local_webhooks")

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def at(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=SHANGHAI)


NOW = at(2026, 12, 7, 14, 15)
AT = NOW + datetime.timedelta(minutes=15)  # a follow-up the 14:15 run reminds of


@pytest.fixture
def _local_webhooks(monkeypatch):
    monkeypatch.delitem(reminders._KINDS, "followup_digest")  # tested in test_digests.py
    with override_settings(WEBHOOK_ALLOW_LOCAL=True, SITE_URL="https://crm.example.com"):
        yield


def hook(world, url, *, user=None, department=None, provider="dingtalk", secret=""):
    with scopes_disabled():
        return Webhook.objects.create(
            tenant=world.tenant_a,
            provider=provider,
            url=url,
            secret=secret,
            user=user,
            department=department,
        )


def prefer(user, **fields) -> ReminderPreference:
    with scopes_disabled():
        pref, _ = ReminderPreference.objects.update_or_create(
            tenant_id=user.tenant_id, user=user, defaults=fields
        )
    return pref


def log() -> list[tuple]:
    with scopes_disabled():
        return list(
            Delivery.objects.order_by("id").values_list(
                "channel", "recipient__username", "status", "attempts"
            )
        )


def send(tenant, now) -> dict:
    with scopes_disabled():
        return deliveries.send_pending(tenant.pk, now=now)


# ---------------------------------------------------------------- group bots


def test_a_reminder_is_pushed_to_the_users_and_the_departments_bot_after_the_job(
    world, webhook_server
):
    hook(world, webhook_server.url("/mine?access_token=a"), user=world.rep_east)
    hook(world, webhook_server.url("/team?access_token=b"), department=world.east)
    make_customer(world.tenant_a, world.rep_east, "武汉宏图机械", next_followup_at=AT)
    assert reminders.run(world.tenant_a.pk, now=NOW) == 1
    # The job queues; nothing left the machine during it.
    assert webhook_server.requests == []
    assert log() == [("webhook", "rep_east", "pending", 0)] * 2
    assert send(world.tenant_a, NOW) == {"sent": 2, "retry": 0, "failed": 0}
    assert sorted(r.path for r in webhook_server.requests) == ["/mine", "/team"]
    text = webhook_server.requests[0].json["markdown"]["text"]
    assert "武汉宏图机械" in text and "https://crm.example.com/customers/" in text
    assert log() == [("webhook", "rep_east", "sent", 1)] * 2
    # Sent once: a second pass sends nothing.
    assert send(world.tenant_a, NOW + datetime.timedelta(hours=1))["sent"] == 0
    assert len(webhook_server.requests) == 2


def test_only_the_recipients_own_and_department_bots_and_never_another_tenants(
    world, webhook_server
):
    hook(world, webhook_server.url("/west"), department=world.west)
    hook(world, webhook_server.url("/east2"), user=world.rep_east2)
    with scopes_disabled():
        Webhook.objects.create(
            tenant=world.tenant_b,
            provider="wecom",
            url=webhook_server.url("/b"),
            department=world.rep_b.department,
        )
    make_customer(world.tenant_a, world.rep_east, next_followup_at=AT)
    assert reminders.run(world.tenant_a.pk, now=NOW) == 1
    assert log() == []
    make_customer(world.tenant_b, world.rep_b, next_followup_at=AT)
    assert reminders.run(world.tenant_b.pk, now=NOW) == 1
    assert send(world.tenant_a, NOW)["sent"] == 0
    assert send(world.tenant_b, NOW)["sent"] == 1
    assert [r.path for r in webhook_server.requests] == ["/b"]


def test_a_kind_turned_off_for_the_bot_is_not_pushed_and_one_off_for_the_bell_not_rung(
    world, webhook_server
):
    hook(world, webhook_server.url("/mine"), user=world.rep_east)
    prefer(world.rep_east, off=["customer_followup:webhook", "customer_followup:bell"])
    make_customer(world.tenant_a, world.rep_east, next_followup_at=AT)
    assert reminders.run(world.tenant_a.pk, now=NOW) == 1
    with scopes_disabled():
        assert Reminder.objects.filter(recipient=world.rep_east).count() == 1
        assert not Notification.objects.filter(recipient=world.rep_east).exists()
    assert log() == []


def test_quiet_hours_hold_the_push_until_they_end_while_the_bell_rings_at_once(
    world, webhook_server
):
    hook(world, webhook_server.url("/mine"), user=world.rep_east)
    night = at(2026, 12, 7, 23, 0)
    make_customer(world.tenant_a, world.rep_east, next_followup_at=night)
    assert reminders.run(world.tenant_a.pk, now=night - datetime.timedelta(minutes=15)) == 1
    with scopes_disabled():
        assert Notification.objects.filter(recipient=world.rep_east).count() == 1
        [delivery] = Delivery.objects.all()
    assert delivery.next_attempt_at == at(2026, 12, 8, 8, 0)
    assert send(world.tenant_a, at(2026, 12, 8, 7, 59))["sent"] == 0
    assert send(world.tenant_a, at(2026, 12, 8, 8, 0))["sent"] == 1
    assert len(webhook_server.requests) == 1


def test_quiet_hours_follow_the_users_choice_and_the_tenants_clock(world, webhook_server):
    hook(world, webhook_server.url("/mine"), user=world.rep_east)
    prefer(world.rep_east, quiet_start=datetime.time(12, 0), quiet_end=datetime.time(13, 30))
    world.tenant_a.time_zone = "Europe/London"  # 14:15 Shanghai is 06:15 London
    world.tenant_a.save()
    make_customer(world.tenant_a, world.rep_east, next_followup_at=AT)
    assert reminders.run(world.tenant_a.pk, now=NOW) == 1
    with scopes_disabled():
        [delivery] = Delivery.objects.all()
    assert delivery.next_attempt_at == NOW  # outside 12:00-13:30 London: at once
    with scopes_disabled():
        pref = ReminderPreference.objects.get(user=world.rep_east)
    london = zoneinfo.ZoneInfo("Europe/London")
    noon = datetime.datetime(2026, 12, 7, 12, 40, tzinfo=london)
    assert pref.quiet_until(noon, london) == datetime.datetime(2026, 12, 7, 13, 30, tzinfo=london)
    pref.quiet_start = pref.quiet_end = None
    assert pref.quiet_until(noon, london) is None


def test_a_failing_bot_is_retried_with_backoff_then_sent(world, webhook_server):
    hook(world, webhook_server.url("/mine"), user=world.rep_east)
    webhook_server.answer(status=500)
    webhook_server.answer(json={"errcode": 310000, "errmsg": "sign not match"})
    make_customer(world.tenant_a, world.rep_east, next_followup_at=AT)
    reminders.run(world.tenant_a.pk, now=NOW)
    assert send(world.tenant_a, NOW) == {"sent": 0, "retry": 1, "failed": 0}
    with scopes_disabled():
        d = Delivery.objects.get()
    assert d.status == "pending" and d.attempts == 1 and "500" in d.last_error
    assert d.next_attempt_at == NOW + datetime.timedelta(minutes=1)
    assert send(world.tenant_a, NOW + datetime.timedelta(seconds=59))["retry"] == 0
    later = NOW + datetime.timedelta(minutes=1)
    assert send(world.tenant_a, later)["retry"] == 1
    d.refresh_from_db()
    assert "310000" in d.last_error and d.next_attempt_at == later + datetime.timedelta(minutes=5)
    assert send(world.tenant_a, later + datetime.timedelta(minutes=5))["sent"] == 1
    d.refresh_from_db()
    assert (d.status, d.attempts, d.last_error) == ("sent", 3, "")
    assert len(webhook_server.requests) == 3


def test_a_bot_that_never_answers_is_given_up_after_the_last_attempt(world):
    hook(world, closed_port_url(), user=world.rep_east)
    make_customer(world.tenant_a, world.rep_east, next_followup_at=AT)
    reminders.run(world.tenant_a.pk, now=NOW)
    moment = NOW
    for wait in deliveries.BACKOFF:
        assert send(world.tenant_a, moment)["retry"] == 1
        moment += wait
    assert send(world.tenant_a, moment) == {"sent": 0, "retry": 0, "failed": 1}
    with scopes_disabled():
        d = Delivery.objects.get()
    assert d.status == "failed" and d.attempts == deliveries.MAX_ATTEMPTS
    assert d.last_error and d.next_attempt_at is None
    assert send(world.tenant_a, moment + datetime.timedelta(days=1))["failed"] == 0


def test_a_removed_bot_fails_its_pending_pushes_with_a_message(world, webhook_server):
    h = hook(world, webhook_server.url("/mine"), user=world.rep_east)
    make_customer(world.tenant_a, world.rep_east, next_followup_at=AT)
    reminders.run(world.tenant_a.pk, now=NOW)
    with scopes_disabled():
        h.delete()
    # No retry can mend it: given up at the first attempt.
    assert send(world.tenant_a, NOW)["failed"] == 1
    with scopes_disabled():
        d = Delivery.objects.get()
    assert d.status == "failed" and d.attempts == 1 and d.last_error
    assert webhook_server.requests == []


def test_a_claimed_delivery_is_not_sent_twice_by_a_sender_running_meanwhile(world, webhook_server):
    hook(world, webhook_server.url("/mine"), user=world.rep_east)
    make_customer(world.tenant_a, world.rep_east, next_followup_at=AT)
    reminders.run(world.tenant_a.pk, now=NOW)
    with scopes_disabled():
        [claimed] = deliveries._claim(world.tenant_a.pk, NOW, 10)
        assert claimed.attempts == 1
        # Another sender (the beat's sweep) finds nothing to send while the lease runs.
        assert deliveries._claim(world.tenant_a.pk, NOW, 10) == []
        # A sender lost mid-send: after the lease the row is sent again (at least once).
        assert len(deliveries._claim(world.tenant_a.pk, NOW + deliveries.LEASE, 10)) == 1


# ---------------------------------------------------------------- the e-mail digest


def set_email(user, address):
    user.email = address
    user.save(update_fields=["email"])


@override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
def test_the_daily_email_digest_lists_the_days_reminders_once_per_user(world):
    set_email(world.rep_east, "east@example.com")
    set_email(world.rep_west, "west@example.com")
    prefer(world.rep_west, off=["customer_followup:email"])
    make_customer(world.tenant_a, world.rep_east, "武汉宏图机械", next_followup_at=AT)
    make_customer(world.tenant_a, world.rep_west, "成都天府", next_followup_at=AT)
    make_customer(world.tenant_a, world.rep_east2, "无邮箱公司", next_followup_at=AT)
    world.tenant_a.reminder_digest_at = at(2026, 12, 7, 8, 30)  # today's digests went out
    world.tenant_a.save()
    assert reminders.run(world.tenant_a.pk, now=NOW) == 3
    assert log() == []
    # The next morning, 08:30 tenant time: one digest for rep_east only (rep_west turned the
    # kind off for e-mail, rep_east2 has no address).
    morning = at(2026, 12, 8, 8, 30)
    with scopes_disabled():
        assert (
            deliveries.email_digests(world.tenant_a.pk, morning - datetime.timedelta(minutes=1))
            == 0
        )
        assert deliveries.email_digests(world.tenant_a.pk, morning) == 1
        assert deliveries.email_digests(world.tenant_a.pk, morning) == 0  # once a day
    assert log() == [("email", "rep_east", "pending", 0)]
    assert send(world.tenant_a, morning)["sent"] == 1
    [message] = mail.outbox
    assert message.to == ["east@example.com"]
    assert "2026-12-08" in message.subject
    assert "武汉宏图机械" in message.body and "成都天府" not in message.body
    assert "https://crm.example.com/customers/" in message.body
    assert "https://crm.example.com/me/reminders/" in message.body
    # The next day's digest does not repeat yesterday's reminders.
    with scopes_disabled():
        assert (
            deliveries.email_digests(world.tenant_a.pk, morning + datetime.timedelta(days=1)) == 0
        )


@override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
def test_the_reminder_job_sends_the_email_digest_after_0830_in_the_tenants_time(world):
    set_email(world.rep_east, "east@example.com")
    world.tenant_a.time_zone = "Europe/London"
    world.tenant_a.save()
    make_customer(world.tenant_a, world.rep_east, next_followup_at=at(2026, 12, 8, 9, 15))
    reminders.run(world.tenant_a.pk, now=at(2026, 12, 8, 9, 0))  # 01:00 in London: no digest yet
    assert log() == []
    # 08:30 London is 16:30 Shanghai.
    reminders.run(world.tenant_a.pk, now=at(2026, 12, 8, 16, 29))
    assert log() == []
    reminders.run(world.tenant_a.pk, now=at(2026, 12, 8, 16, 30))
    assert log() == [("email", "rep_east", "pending", 0)]
    reminders.run(world.tenant_a.pk, now=at(2026, 12, 8, 16, 31))
    assert len(log()) == 1


# ---------------------------------------------------------------- housekeeping


def test_the_purge_keeps_what_may_still_be_due_and_pending(world):
    make_customer(world.tenant_a, world.rep_east, next_followup_at=AT)
    reminders.run(world.tenant_a.pk, now=NOW)
    with scopes_disabled():
        Delivery.objects.create(
            tenant=world.tenant_a,
            channel="webhook",
            recipient=world.rep_east,
            subject="old pending",
            created_at=NOW - datetime.timedelta(days=200),
        )
        Delivery.objects.create(
            tenant=world.tenant_a,
            channel="webhook",
            recipient=world.rep_east,
            subject="old sent",
            status="sent",
            created_at=NOW - datetime.timedelta(days=200),
        )
        assert deliveries.purge(world.tenant_a.pk, NOW + datetime.timedelta(days=1)) == {
            "reminders": 0,
            "deliveries": 1,
        }
        assert (
            deliveries.purge(world.tenant_a.pk, NOW + datetime.timedelta(days=181))["reminders"]
            == 1
        )
        assert list(Delivery.objects.values_list("subject", flat=True)) == ["old pending"]
    # A purged reminder is past every lookback: the job does not send it again.
    assert reminders.run(world.tenant_a.pk, now=NOW + datetime.timedelta(days=181)) == 0


def test_the_beat_sweeps_due_deliveries_and_purges_daily():
    from django.conf import settings

    tasks = {e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "crm.tasks.deliveries_send_all_task" in tasks
    assert "crm.tasks.reminders_purge_all_task" in tasks


def test_the_sweep_enqueues_tenants_with_due_deliveries_only(world, webhook_server):
    from crm import tasks

    hook(world, webhook_server.url("/mine"), user=world.rep_east)
    prefer(world.rep_east, quiet_start=None, quiet_end=None)  # whatever the hour of the test
    make_customer(world.tenant_a, world.rep_east, next_followup_at=timezone.now())
    reminders.run(world.tenant_a.pk)
    # Eager Celery in the tests: the sweep's sender runs at once.
    assert tasks.deliveries_send_all_task() == 1
    assert len(webhook_server.requests) == 1
    assert tasks.deliveries_send_all_task() == 0


# ---------------------------------------------------------------- a real worker


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_job_and_delivers_the_reminder_to_the_bot(world, webhook_server):
    """The beat's task on the configured broker (filesystem by default, Redis with REDIS_URL):
    the job commits the reminder and enqueues the sender, which the same worker runs and
    which posts to the local bot."""
    from celery.contrib.testing.worker import start_worker

    from crm.celery import app
    from crm.tasks import reminders_run_task

    hook(world, webhook_server.url("/robot/send?access_token=t"), user=world.rep_east)
    prefer(world.rep_east, quiet_start=None, quiet_end=None)
    make_customer(world.tenant_a, world.rep_east, "真实队列客户", next_followup_at=timezone.now())
    app.conf.task_always_eager = False
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            reminders_run_task.delay(world.tenant_a.pk)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not webhook_server.requests:
                time.sleep(0.2)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and log()[-1:] != [
                ("webhook", "rep_east", "sent", 1)
            ]:
                time.sleep(0.2)
    finally:
        app.conf.task_always_eager = True
    [request] = webhook_server.requests
    assert request.path == "/robot/send" and "真实队列客户" in request.json["markdown"]["text"]
    assert log() == [("webhook", "rep_east", "sent", 1)]


# ---------------------------------------------------------------- every kind, the same way


def _birthday(world):
    from tests.customers.factories import make_contact

    customer = make_customer(world.tenant_a, world.rep_east)
    make_contact(customer, "寿星", birthday=datetime.date(1980, 12, 7))
    return at(2026, 12, 7, 23, 0)  # the birthday's 00:00 fell due in the last day


def _overdue(world):
    make_customer(
        world.tenant_a, world.rep_east, next_followup_at=NOW - datetime.timedelta(days=3, hours=1)
    )
    return NOW


def _lead(world):
    from tests.leads.factories import make_lead

    make_lead(world.tenant_a, world.rep_east, next_followup_at=AT)
    return NOW


KIND_SCENARIOS = {
    "contact_birthday": _birthday,
    "customer_followup_overdue": _overdue,
    "lead_followup": _lead,
}


@pytest.mark.parametrize("kind", sorted(KIND_SCENARIOS))
def test_every_kind_respects_the_preferences_and_quiet_hours(world, webhook_server, kind):
    """Preferences and quiet hours belong to the engine, not to each kind: a kind the rep
    turned off on the bell rings no bell, and its push waits for the end of the quiet hours."""
    hook(world, webhook_server.url("/mine"), user=world.rep_east)
    prefer(
        world.rep_east,
        off=[f"{kind}:bell"],
        quiet_start=datetime.time(0, 0),
        quiet_end=datetime.time(23, 59),
    )
    now = KIND_SCENARIOS[kind](world)
    reminders.run(world.tenant_a.pk, now=now)
    with scopes_disabled():
        mine = Reminder.objects.filter(kind=kind, recipient=world.rep_east)
        assert mine.count() == 1
        assert not Notification.objects.filter(recipient=world.rep_east).exists()
        [delivery] = Delivery.objects.filter(reminder__kind=kind, recipient=world.rep_east)
    assert delivery.next_attempt_at.astimezone(SHANGHAI).time() == datetime.time(23, 59)
    assert send(world.tenant_a, now)["sent"] == 0
    assert send(world.tenant_a, delivery.next_attempt_at)["sent"] >= 1
