"""The reminder job run several times at once (threads with their own connections, released
together; tests/pools/test_concurrency.py): each reminder is created and sent exactly once,
whichever run inserts it first (the unique row, crm.reminders)."""

from __future__ import annotations

import datetime
from collections import Counter

import pytest
from django.db import connection
from django.utils import timezone
from django_scopes import scopes_disabled

from crm import reminders
from crm.models import Notification, Reminder
from tests.customers.factories import make_contact, make_customer
from tests.leads.factories import make_lead
from tests.pools.test_concurrency import _run_threads

RUNS = 4
NOW = timezone.make_aware(datetime.datetime(2026, 12, 7, 14, 15))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_job_run_at_once_on_postgresql_sends_each_reminder_once(world):
    assert connection.vendor == "postgresql"
    soon = NOW + datetime.timedelta(minutes=10)
    customers = [
        make_customer(world.tenant_a, rep, next_followup_at=soon)
        for rep in (world.rep_east, world.rep_east2, world.rep_west)
        for _ in range(10)
    ]
    make_contact(customers[0], birthday=datetime.date(1980, 12, 7))
    make_lead(world.tenant_a, world.rep_east, next_followup_at=soon)
    make_customer(  # overdue by 3 days: the owner and manager_sales
        world.tenant_a, world.rep_west, next_followup_at=NOW - datetime.timedelta(days=3, hours=1)
    )
    expected = 30 + 1 + 1 + 2
    counts: list[int] = []

    def job():
        counts.append(reminders.run(world.tenant_a.pk, now=NOW))

    assert _run_threads([job] * RUNS) == []
    assert sum(counts) == expected
    with scopes_disabled():
        assert Reminder.objects.count() == expected
        per_user = Counter(Notification.objects.values_list("recipient_id", flat=True))
    assert per_user == {
        world.rep_east.pk: 10 + 1 + 1,
        world.rep_east2.pk: 10,
        world.rep_west.pk: 10 + 1,
        world.manager_sales.pk: 1,
    }
    # And once more afterwards: nothing left to send.
    assert reminders.run(world.tenant_a.pk, now=NOW) == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_senders_and_digests_run_at_once_on_postgresql_send_each_delivery_once(
    world, webhook_server, monkeypatch
):
    """Two claims of the same delivery exclude each other (FOR UPDATE SKIP LOCKED and the
    lease), and the tenant's day of e-mail digests is claimed once."""
    from django.core import mail
    from django.test import override_settings

    from crm import deliveries
    from crm.models import Delivery, ReminderPreference, Webhook

    assert connection.vendor == "postgresql"
    with scopes_disabled():
        Webhook.objects.create(
            tenant=world.tenant_a,
            provider="feishu",
            url=webhook_server.url("/team"),
            department=world.east,
        )
        for rep in (world.rep_east, world.rep_east2):
            ReminderPreference.objects.create(
                tenant=world.tenant_a, user=rep, quiet_start=None, quiet_end=None
            )
            rep.email = f"{rep.username}@example.com"
            rep.save(update_fields=["email"])
    soon = NOW + datetime.timedelta(minutes=10)
    for rep in (world.rep_east, world.rep_east2):
        for _ in range(10):
            make_customer(world.tenant_a, rep, next_followup_at=soon)
    world.tenant_a.reminder_digest_at = NOW - datetime.timedelta(hours=5)  # today's went out
    world.tenant_a.save()
    # The senders below do the sending (not the one the job enqueues after its commit).
    monkeypatch.setattr(deliveries, "schedule_send", lambda tenant_id: None)
    with override_settings(WEBHOOK_ALLOW_LOCAL=True):
        assert reminders.run(world.tenant_a.pk, now=NOW) == 20
    with scopes_disabled():
        assert Delivery.objects.filter(channel="webhook").count() == 20
    morning = NOW + datetime.timedelta(days=1) - datetime.timedelta(hours=5, minutes=45)
    digests: list[int] = []

    def digest():
        with scopes_disabled():
            digests.append(deliveries.email_digests(world.tenant_a.pk, morning))

    assert _run_threads([digest] * RUNS) == []
    assert sorted(digests) == [0] * (RUNS - 1) + [2]

    def sender():
        with scopes_disabled():
            deliveries.send_pending(world.tenant_a.pk, now=morning)

    with override_settings(
        WEBHOOK_ALLOW_LOCAL=True, EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"
    ):
        mail.outbox = []
        assert _run_threads([sender] * RUNS) == []
        assert len(webhook_server.requests) == 20
        assert sorted(m.to[0] for m in mail.outbox) == [
            "rep_east2@example.com",
            "rep_east@example.com",
        ]
    with scopes_disabled():
        assert set(Delivery.objects.values_list("status", "attempts")) == {("sent", 1)}
