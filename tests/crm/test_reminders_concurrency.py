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
        assert Reminder.objects.filter(notified_at__isnull=True).count() == 0
        per_user = Counter(Notification.objects.values_list("recipient_id", flat=True))
    assert per_user == {
        world.rep_east.pk: 10 + 1 + 1,
        world.rep_east2.pk: 10,
        world.rep_west.pk: 10 + 1,
        world.manager_sales.pk: 1,
    }
    # And once more afterwards: nothing left to send.
    assert reminders.run(world.tenant_a.pk, now=NOW) == 0
