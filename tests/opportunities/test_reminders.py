"""The opportunities' reminder kinds (opportunities/reminders.py): an open opportunity's next
follow-up to its owner, overdue ones to the owner and their manager; won and lost ones never."""

from __future__ import annotations

import datetime

from django.utils import timezone
from django_scopes import scopes_disabled

from crm import reminders
from crm.models import Notification, Reminder
from opportunities.models import Opportunity, StageKind
from tests.customers.factories import make_customer
from tests.opportunities.factories import make_opportunity

NOW = timezone.make_aware(datetime.datetime(2026, 12, 7, 14, 15))


def sent(kind: str) -> list[tuple[int, int]]:
    with scopes_disabled():
        return sorted(Reminder.objects.filter(kind=kind).values_list("object_id", "recipient_id"))


def planned(opportunity: Opportunity, at: datetime.datetime, **fields) -> None:
    with scopes_disabled():
        Opportunity.objects.filter(pk=opportunity.pk).update(next_followup_at=at, **fields)


def test_an_opportunity_follow_up_is_reminded_once_to_its_owner(world):
    customer = make_customer(world.tenant_a, world.rep_east, "武汉宏图")
    chance = make_opportunity(world.rep_east, customer, "三台电动叉车")
    planned(chance, NOW + datetime.timedelta(minutes=15))
    assert reminders.run(world.tenant_a.pk, now=NOW - datetime.timedelta(seconds=1)) == 0
    assert reminders.run(world.tenant_a.pk, now=NOW) == 1
    assert reminders.run(world.tenant_a.pk, now=NOW) == 0
    assert sent("opportunity_followup") == [(chance.pk, world.rep_east.pk)]
    with scopes_disabled():
        note = Notification.objects.get(recipient=world.rep_east)
    assert "三台电动叉车" in note.title and "14:30" in note.title
    assert note.link == f"/opportunities/{chance.pk}/"


def test_won_and_lost_opportunities_are_not_reminded(world):
    customer = make_customer(world.tenant_a, world.rep_east)
    for status in (StageKind.WON, StageKind.LOST):
        chance = make_opportunity(world.rep_east, customer)
        planned(chance, NOW + datetime.timedelta(minutes=10), status=status)
    assert reminders.run(world.tenant_a.pk, now=NOW) == 0


def test_an_overdue_follow_up_reaches_the_owner_and_their_manager(world):
    customer = make_customer(world.tenant_a, world.rep_east)
    chance = make_opportunity(world.rep_east, customer)
    days = world.tenant_a.followup_overdue_escalation_days
    planned(chance, NOW - datetime.timedelta(days=days, minutes=1))
    reminders.run(world.tenant_a.pk, now=NOW)
    recipients = {r for _o, r in sent("opportunity_followup_overdue")}
    assert world.rep_east.pk in recipients
    assert len(recipients) == 2  # and the owner's manager
    assert world.rep_west.pk not in recipients
