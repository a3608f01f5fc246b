"""The leads' reminder kinds (leads/reminders.py): open leads outside the pools, to the owner
(and, overdue, to the owner's manager) only."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from django_scopes import scopes_disabled

from crm import reminders
from crm.models import Notification, Reminder
from leads.models import Lead
from tests.leads.factories import make_lead, make_lead_pool, make_pooled_lead

NOW = timezone.make_aware(datetime.datetime(2026, 12, 7, 14, 15))


def sent(kind: str) -> list[tuple[int, int]]:
    with scopes_disabled():
        return sorted(Reminder.objects.filter(kind=kind).values_list("object_id", "recipient_id"))


def notes(user) -> int:
    with scopes_disabled():
        return Notification.objects.filter(recipient=user).count()


def test_a_lead_follow_up_is_reminded_once_to_its_owner(world):
    lead = make_lead(
        world.tenant_a,
        world.rep_east,
        "王经理",
        company="武汉宏图机械",
        next_followup_at=NOW + datetime.timedelta(minutes=15),
    )
    assert reminders.run(world.tenant_a.pk, now=NOW - datetime.timedelta(seconds=1)) == 0
    assert reminders.run(world.tenant_a.pk, now=NOW) == 1
    assert reminders.run(world.tenant_a.pk, now=NOW) == 0
    assert sent("lead_followup") == [(lead.pk, world.rep_east.pk)]
    with scopes_disabled():
        note = Notification.objects.get(recipient=world.rep_east)
    assert "武汉宏图机械 王经理" in note.title and "14:30" in note.title
    assert note.link == f"/leads/{lead.pk}/"
    assert notes(world.manager_sales) == 0 and notes(world.rep_b) == 0


@pytest.mark.parametrize("status", [Lead.Status.CLOSED, Lead.Status.CONVERTED])
def test_closed_or_converted_leads_are_not_reminded(world, status):
    make_lead(
        world.tenant_a,
        world.rep_east,
        status=status,
        next_followup_at=NOW + datetime.timedelta(minutes=10),
    )
    assert reminders.run(world.tenant_a.pk, now=NOW) == 0


def test_pooled_leads_are_not_reminded(world):
    make_pooled_lead(
        make_lead_pool(world.tenant_a), next_followup_at=NOW + datetime.timedelta(minutes=10)
    )
    assert reminders.run(world.tenant_a.pk, now=NOW) == 0


def test_an_overdue_lead_follow_up_escalates_to_the_owners_manager(world):
    lead = make_lead(
        world.tenant_a,
        world.rep_east,
        status=Lead.Status.CONTACTED,
        next_followup_at=NOW - datetime.timedelta(days=3, hours=2),
    )
    assert reminders.run(world.tenant_a.pk, now=NOW) == 2
    assert sent("lead_followup_overdue") == sorted(
        [(lead.pk, world.rep_east.pk), (lead.pk, world.manager_sales.pk)]
    )
    assert reminders.run(world.tenant_a.pk, now=NOW + datetime.timedelta(hours=1)) == 0
    assert notes(world.admin_a) == 0 and notes(world.rep_west) == 0


def test_a_deleted_lead_is_not_reminded(world):
    lead = make_lead(
        world.tenant_a, world.rep_east, next_followup_at=NOW + datetime.timedelta(minutes=5)
    )
    with scopes_disabled():
        Lead.objects.filter(pk=lead.pk).delete()
    assert reminders.run(world.tenant_a.pk, now=NOW) == 0
