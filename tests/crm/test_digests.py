"""The 08:30 morning digest (crm.reminders ``followup_digest``): one reminder per user listing
today's follow-ups of customers and leads, overdue ones first; and each owner's lead time for
the follow-up reminders (ReminderPreference.minutes_before)."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest
from django_scopes import scopes_disabled

from crm import reminders
from crm.models import Notification, Reminder, ReminderPreference
from leads.models import Lead
from tests.customers.factories import make_customer
from tests.leads.factories import make_lead

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def at(*args, tz=SHANGHAI) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=tz)


MORNING = at(2026, 12, 8, 8, 30)


def digests(user) -> list[Reminder]:
    with scopes_disabled():
        return list(Reminder.objects.filter(kind="followup_digest", recipient=user))


def test_the_digest_lists_todays_customer_and_lead_follow_ups_with_the_overdue_first(world):
    a = world.tenant_a
    make_customer(a, world.rep_east, "今日客户", next_followup_at=at(2026, 12, 8, 14, 0))
    make_customer(a, world.rep_east, "逾期客户", next_followup_at=at(2026, 12, 5, 10, 0))
    make_lead(
        a, world.rep_east, "王五", company="今日线索公司", next_followup_at=at(2026, 12, 8, 9, 0)
    )
    # Not listed: tomorrow's, one already followed up, a pooled customer, a converted lead.
    make_customer(a, world.rep_east, "明天客户", next_followup_at=at(2026, 12, 9, 9, 0))
    make_customer(
        a,
        world.rep_east,
        "已跟进客户",
        next_followup_at=at(2026, 12, 6, 9, 0),
        last_followup_at=at(2026, 12, 6, 9, 30),
    )
    make_customer(a, None, "公海客户", next_followup_at=at(2026, 12, 8, 9, 0), pooled_at=MORNING)
    make_lead(
        a,
        world.rep_east,
        company="已转化",
        status=Lead.Status.CONVERTED,
        next_followup_at=at(2026, 12, 8, 9, 0),
    )
    make_customer(a, world.rep_west, "别人的客户", next_followup_at=at(2026, 12, 8, 11, 0))

    reminders.run(a.pk, now=MORNING - datetime.timedelta(minutes=1))
    assert digests(world.rep_east) == []
    reminders.run(a.pk, now=MORNING)
    [digest] = digests(world.rep_east)
    assert digest.due_at == MORNING and digest.object_id == world.rep_east.pk
    assert digest.title == "今日跟进 2 条，逾期 1 条"
    lines = digest.body.splitlines()
    assert lines[0].startswith("[逾期 12-05]") and "逾期客户" in lines[0]
    assert lines[1].startswith("09:00") and "今日线索公司" in lines[1]
    assert lines[2].startswith("14:00") and "今日客户" in lines[2]
    assert not any(name in digest.body for name in ("明天客户", "已跟进客户", "公海客户", "已转化"))
    [west] = digests(world.rep_west)
    assert "别人的客户" in west.body and "别人的客户" not in digest.body
    with scopes_disabled():
        assert Notification.objects.filter(recipient=world.rep_east, title=digest.title).exists()
    # Once: later runs of the morning add nothing.
    reminders.run(a.pk, now=MORNING + datetime.timedelta(minutes=1))
    reminders.run(a.pk, now=MORNING + datetime.timedelta(minutes=30))
    assert len(digests(world.rep_east)) == 1


def test_no_digest_for_a_user_with_nothing_planned_nor_for_another_tenant(world):
    make_customer(world.tenant_b, world.rep_b, next_followup_at=at(2026, 12, 8, 10, 0))
    reminders.run(world.tenant_a.pk, now=MORNING)
    with scopes_disabled():
        assert not Reminder.objects.filter(kind="followup_digest").exists()
    reminders.run(world.tenant_b.pk, now=MORNING)
    assert len(digests(world.rep_b)) == 1 and digests(world.rep_east) == []


def test_the_digest_follows_the_tenants_clock_and_is_not_sent_hours_late(world):
    london = zoneinfo.ZoneInfo("Europe/London")
    world.tenant_a.time_zone = "Europe/London"
    world.tenant_a.save()
    make_customer(
        world.tenant_a, world.rep_east, next_followup_at=at(2026, 12, 8, 15, 0, tz=london)
    )
    reminders.run(world.tenant_a.pk, now=MORNING)  # 00:30 in London
    assert digests(world.rep_east) == []
    reminders.run(world.tenant_a.pk, now=at(2026, 12, 8, 8, 30, tz=london))
    [digest] = digests(world.rep_east)
    assert digest.due_at == at(2026, 12, 8, 8, 30, tz=london)
    # A worker down all morning: at 11:00 the digest is no longer news.
    reminders.run(world.tenant_a.pk, now=at(2026, 12, 9, 11, 0, tz=london))
    assert len(digests(world.rep_east)) == 1


def test_the_follow_up_reminder_comes_as_many_minutes_before_as_its_owner_chose(world):
    with scopes_disabled():
        ReminderPreference.objects.create(
            tenant=world.tenant_a, user=world.rep_west, minutes_before=60
        )
    follow_up = at(2026, 12, 8, 15, 0)
    make_customer(world.tenant_a, world.rep_east, "十五分钟", next_followup_at=follow_up)
    make_customer(world.tenant_a, world.rep_west, "一小时", next_followup_at=follow_up)

    def sent() -> set[str]:
        with scopes_disabled():
            return set(
                Reminder.objects.filter(kind="customer_followup").values_list(
                    "recipient__username", flat=True
                )
            )

    reminders.run(world.tenant_a.pk, now=at(2026, 12, 8, 13, 59))
    assert sent() == set()
    reminders.run(world.tenant_a.pk, now=at(2026, 12, 8, 14, 0))
    assert sent() == {"rep_west"}
    reminders.run(world.tenant_a.pk, now=at(2026, 12, 8, 14, 44))
    assert sent() == {"rep_west"}
    reminders.run(world.tenant_a.pk, now=at(2026, 12, 8, 14, 45))
    assert sent() == {"rep_west", "rep_east"}
    reminders.run(world.tenant_a.pk, now=at(2026, 12, 8, 14, 50))
    with scopes_disabled():
        assert Reminder.objects.filter(kind="customer_followup").count() == 2


def test_a_long_day_lists_the_earliest_and_counts_the_rest(world):
    from crm.reminders import DIGEST_LIST_MAX

    for minute in range(DIGEST_LIST_MAX + 5):
        make_customer(
            world.tenant_a,
            world.rep_east,
            f"客户{minute:02d}",
            next_followup_at=at(2026, 12, 8, 9, 0) + datetime.timedelta(minutes=minute),
        )
    make_lead(
        world.tenant_a, world.rep_east, company="逾期线索", next_followup_at=at(2026, 12, 1, 9, 0)
    )
    reminders.run(world.tenant_a.pk, now=MORNING)
    [digest] = digests(world.rep_east)
    assert digest.title == f"今日跟进 {DIGEST_LIST_MAX + 5} 条，逾期 1 条"
    lines = digest.body.splitlines()
    assert len(lines) == DIGEST_LIST_MAX + 1
    assert "逾期线索" in lines[0] and "客户00" in lines[1]
    assert f"客户{DIGEST_LIST_MAX - 2:02d}" in lines[-2]
    assert lines[-1] == "……另有 6 条"


@pytest.mark.parametrize(
    ("zone", "moments"),
    [
        # Today and another day, the day's edges (server time Asia/Shanghai).
        ("Asia/Shanghai", [(2026, 12, 8, 5, 0), (2026, 12, 8, 23, 59), (2026, 12, 9, 0, 1)]),
        # Across the end of summer time (25 Oct 2026, 02:00 BST → 01:00 GMT): the window
        # spans two offsets, so the times come from the time-zone-aware extraction.
        ("Europe/London", [(2026, 10, 25, 0, 30), (2026, 10, 25, 2, 30), (2026, 10, 25, 5, 0)]),
    ],
)
def test_the_follow_up_time_in_the_title_reads_as_in_python(world, zone, moments):
    """The title is built in SQL (crm.reminders.sql_when): the same text as reminders.when()."""
    from django.utils import timezone

    tz = zoneinfo.ZoneInfo(zone)
    with timezone.override(tz):
        times = [at(*m, tz=tz) for m in moments]
        for moment in times:
            make_customer(
                world.tenant_a, world.rep_east, f"客户{moment:%H%M}", next_followup_at=moment
            )
        # One run, when the last is due: the others fell due within the day before.
        now = times[-1] - datetime.timedelta(minutes=15)
        reminders.run(world.tenant_a.pk, now=now)
        with scopes_disabled():
            titles = dict(
                Reminder.objects.filter(kind="customer_followup").values_list("due_at", "title")
            )
        assert len(titles) == len(times)
        for moment in times:
            assert titles[moment].endswith(" · " + reminders.when(moment, now)), titles[moment]
