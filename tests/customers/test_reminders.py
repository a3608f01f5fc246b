"""The customers' reminder kinds (customers/reminders.py): each fires when due, once, to the
right people only."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from django_scopes import scopes_disabled

from crm import reminders
from crm.models import Notification, Reminder
from customers.models import Customer
from tests.customers.factories import make_contact, make_customer


def at(*args) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime(*args))


NOW = at(2026, 12, 7, 9, 0)


@pytest.fixture(autouse=True)
def _without_the_morning_digest(monkeypatch):
    """These runs at about 09:00 would also send the 08:30 digest (tests/crm/test_digests.py):
    each test here counts the reminders of its own kinds only."""
    monkeypatch.delitem(reminders._KINDS, "followup_digest")


def bell(user) -> list[str]:
    with scopes_disabled():
        return list(
            Notification.objects.filter(recipient=user)
            .order_by("id")
            .values_list("title", flat=True)
        )


def sent(kind: str) -> list[tuple[int, int]]:
    with scopes_disabled():
        return list(
            Reminder.objects.filter(kind=kind)
            .order_by("id")
            .values_list("object_id", "recipient_id")
        )


def everyone(world):
    return [
        world.admin_a,
        world.manager_sales,
        world.rep_east,
        world.rep_east2,
        world.rep_west,
        world.service_a,
        world.admin_b,
        world.rep_b,
    ]


def test_the_follow_up_reminder_fires_15_minutes_before_to_the_owner_only(world):
    customer = make_customer(
        world.tenant_a, world.rep_east, "武汉宏图机械", next_followup_at=at(2026, 12, 7, 9, 30)
    )
    assert reminders.run(world.tenant_a.pk, now=at(2026, 12, 7, 9, 14)) == 0
    assert reminders.run(world.tenant_a.pk, now=at(2026, 12, 7, 9, 15)) == 1
    assert reminders.run(world.tenant_a.pk, now=at(2026, 12, 7, 9, 16)) == 0
    assert sent("customer_followup") == [(customer.pk, world.rep_east.pk)]
    [title] = bell(world.rep_east)
    assert "武汉宏图机械" in title and "09:30" in title
    assert [u for u in everyone(world) if bell(u)] == [world.rep_east]


def overdue_customer(world, owner, days_ago: float, **fields) -> Customer:
    return make_customer(
        world.tenant_a,
        owner,
        "逾期客户",
        next_followup_at=NOW - datetime.timedelta(days=days_ago),
        **fields,
    )


def test_a_follow_up_overdue_by_3_days_goes_to_the_owner_and_the_owners_manager(world):
    customer = overdue_customer(
        world, world.rep_east, 3, last_followup_at=NOW - datetime.timedelta(days=10)
    )
    assert reminders.run(world.tenant_a.pk, now=NOW - datetime.timedelta(minutes=1)) == 0
    assert reminders.run(world.tenant_a.pk, now=NOW) == 2
    assert reminders.run(world.tenant_a.pk, now=NOW + datetime.timedelta(hours=3)) == 0
    assert sorted(sent("customer_followup_overdue")) == sorted(
        [(customer.pk, world.rep_east.pk), (customer.pk, world.manager_sales.pk)]
    )
    [title] = bell(world.manager_sales)
    assert "逾期客户" in title and "rep_east" in title  # the owner's name
    assert [u for u in everyone(world) if bell(u)] == [world.manager_sales, world.rep_east]


def test_the_escalation_days_are_the_tenants_setting(world):
    with scopes_disabled():
        world.tenant_a.followup_overdue_escalation_days = 5
        world.tenant_a.save()
    overdue_customer(world, world.rep_east, 3)
    late = overdue_customer(world, world.rep_east2, 5)
    assert reminders.run(world.tenant_a.pk, now=NOW) == 2
    assert {o for o, _r in sent("customer_followup_overdue")} == {late.pk}


def test_an_owner_without_a_direct_manager_escalates_to_the_head_of_their_department(world):
    with scopes_disabled():
        world.rep_west.manager = None
        world.rep_west.save()
        world.west.leader = world.admin_a
        world.west.save()
    customer = overdue_customer(world, world.rep_west, 3.5)
    assert reminders.run(world.tenant_a.pk, now=NOW) == 2
    assert sorted(sent("customer_followup_overdue")) == sorted(
        [(customer.pk, world.rep_west.pk), (customer.pk, world.admin_a.pk)]
    )


def test_a_follow_up_written_at_or_after_the_planned_time_is_not_overdue(world):
    planned = NOW - datetime.timedelta(days=3)
    overdue_customer(
        world, world.rep_east, 3, last_followup_at=planned + datetime.timedelta(hours=1)
    )
    assert reminders.run(world.tenant_a.pk, now=NOW) == 0
    assert bell(world.manager_sales) == []


def test_overdue_pooled_or_deleted_customers_escalate_to_nobody(world):
    overdue_customer(world, None, 3, pooled_at=NOW)
    overdue_customer(world, world.rep_east, 3, deleted_at=NOW)
    assert reminders.run(world.tenant_a.pk, now=NOW) == 0


def test_a_contact_birthday_is_reminded_7_days_ahead_and_on_the_day_to_the_owner(world):
    customer = make_customer(world.tenant_a, world.rep_east, "武汉宏图机械")
    contact = make_contact(customer, "王经理", birthday=datetime.date(1980, 12, 14))
    make_contact(customer, "李工", birthday=datetime.date(1980, 12, 15))  # not yet
    assert reminders.run(world.tenant_a.pk, now=at(2026, 12, 6, 23, 59)) == 0
    assert reminders.run(world.tenant_a.pk, now=at(2026, 12, 7, 0, 1)) == 1
    assert reminders.run(world.tenant_a.pk, now=at(2026, 12, 7, 18, 0)) == 0
    assert sent("contact_birthday_soon") == [(contact.pk, world.rep_east.pk)]
    assert reminders.run(world.tenant_a.pk, now=at(2026, 12, 14, 8, 0)) == 1
    assert sent("contact_birthday") == [(contact.pk, world.rep_east.pk)]
    soon, today = [t for t in bell(world.rep_east) if "王经理" in t]
    assert "武汉宏图机械" in soon and "12" in soon and "14" in soon
    assert "武汉宏图机械" in today
    with scopes_disabled():
        assert Reminder.objects.get(kind="contact_birthday").due_at == at(2026, 12, 14, 0, 0)
    assert [u for u in everyone(world) if bell(u)] == [world.rep_east]


def test_a_birthday_a_week_into_the_next_year(world):
    contact = make_contact(
        make_customer(world.tenant_a, world.rep_east), "元旦", birthday=datetime.date(1990, 1, 2)
    )
    assert reminders.run(world.tenant_a.pk, now=at(2026, 12, 26, 7, 0)) == 1
    with scopes_disabled():
        row = Reminder.objects.get(kind="contact_birthday_soon")
    assert (row.object_id, row.due_at) == (contact.pk, at(2027, 1, 2, 0, 0))


@pytest.mark.parametrize(
    ("now", "due"),
    [
        (at(2027, 2, 28, 8, 0), at(2027, 2, 28, 0, 0)),  # not a leap year: 28 February
        (at(2028, 2, 29, 8, 0), at(2028, 2, 29, 0, 0)),  # a leap year: its own day
    ],
)
def test_a_29_february_birthday(world, now, due):
    make_contact(make_customer(world.tenant_a, world.rep_east), birthday=datetime.date(1992, 2, 29))
    assert reminders.run(world.tenant_a.pk, now=now) >= 1
    with scopes_disabled():
        assert list(
            Reminder.objects.filter(kind="contact_birthday").values_list("due_at", flat=True)
        ) == [due]


def test_no_birthday_reminder_for_pooled_deleted_or_other_tenants_customers(world):
    day = datetime.date(1980, 12, 7)
    make_contact(make_customer(world.tenant_a, None, pooled_at=NOW), birthday=day)
    make_contact(make_customer(world.tenant_a, world.rep_east, deleted_at=NOW), birthday=day)
    make_contact(make_customer(world.tenant_b, world.rep_b), birthday=day)
    assert reminders.run(world.tenant_a.pk, now=NOW) == 0
    assert reminders.run(world.tenant_b.pk, now=NOW) == 1
    assert bell(world.rep_east) == [] and len(bell(world.rep_b)) == 1
