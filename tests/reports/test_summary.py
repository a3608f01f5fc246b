"""The reports' summary table (reports/summary.py): refreshed per tenant-local day, read as
stored days plus today live, reconciled against the base tables."""

from __future__ import annotations

import datetime
import logging
import zoneinfo

import pytest
from django.db.models import Count
from django.db.models.functions import TruncDate
from django_scopes import scopes_disabled

from customers.models import FollowUp
from reports import summary
from reports.models import DailyCount
from tests.customers.factories import make_customer, make_followup

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def at(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=SHANGHAI)


def day(m: int, d: int) -> datetime.date:
    return datetime.date(2026, m, d)


NOW = at(2026, 12, 7, 15, 0)


def followup_rows(tenant_id, start, end, tz):
    groups = (
        FollowUp.objects.filter(tenant_id=tenant_id, followed_at__gte=start, followed_at__lt=end)
        .annotate(day=TruncDate("followed_at", tzinfo=tz))
        .values("day", "created_by_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for g in groups:
        yield g["day"], g["created_by_id"], "fu:all", g["n"]


@pytest.fixture
def source(monkeypatch):
    """A source over follow-ups only (the registered ones are tested with their reports)."""
    monkeypatch.setattr(summary, "_SOURCES", {})
    return summary.register(summary.Source("fu", followup_rows))


@pytest.fixture
def history(world):
    a = world.tenant_a
    customer = make_customer(a, world.rep_east)
    for moment, author in [
        (at(2026, 12, 1, 9, 0), world.rep_east),
        (at(2026, 12, 1, 23, 30), world.rep_east),  # 15:30 UTC: still 1 Dec in Shanghai
        (at(2026, 12, 2, 0, 30), world.rep_east),  # 16:30 UTC on 1 Dec: 2 Dec in Shanghai
        (at(2026, 12, 2, 10, 0), world.rep_west),
        (at(2026, 12, 7, 9, 0), world.rep_east),  # today
    ]:
        make_followup(customer, author, followed_at=moment)
    make_followup(make_customer(world.tenant_b, world.rep_b), world.rep_b, followed_at=NOW)
    return customer


def stored(tenant) -> dict:
    with scopes_disabled():
        return {
            (r.day, r.user_id, r.metric): r.value for r in DailyCount.objects.filter(tenant=tenant)
        }


def test_refresh_stores_each_tenant_local_day_per_user(world, history, source):
    with scopes_disabled():
        assert summary.refresh(world.tenant_a.pk, day(12, 1), day(12, 7)) == 4
    assert stored(world.tenant_a) == {
        (day(12, 1), world.rep_east.pk, "fu:all"): 2,
        (day(12, 2), world.rep_east.pk, "fu:all"): 1,
        (day(12, 2), world.rep_west.pk, "fu:all"): 1,
        (day(12, 7), world.rep_east.pk, "fu:all"): 1,
    }
    assert stored(world.tenant_b) == {}


def test_figures_read_the_stored_days_and_today_live(
    world, history, source, django_assert_num_queries
):
    with scopes_disabled():
        summary.refresh(world.tenant_a.pk, day(12, 1), day(12, 6))  # today is not stored
        tenant = world.tenant_a
        # The stored days (one query) plus today computed live (one query).
        with django_assert_num_queries(2):
            got = summary.figures(tenant, "fu", day(12, 1), day(12, 31), None, now=NOW)
        assert got == {(world.rep_east.pk, "fu:all"): 4, (world.rep_west.pk, "fu:all"): 1}
        assert summary.figures(tenant, "fu", day(12, 2), day(12, 2), None, now=NOW) == {
            (world.rep_east.pk, "fu:all"): 1,
            (world.rep_west.pk, "fu:all"): 1,
        }
        assert summary.figures(
            tenant, "fu", day(12, 1), day(12, 7), [world.rep_west.pk], now=NOW
        ) == {(world.rep_west.pk, "fu:all"): 1}
        # A period that ended before today reads the table only.
        with django_assert_num_queries(1):
            summary.figures(tenant, "fu", day(11, 1), day(11, 30), None, now=NOW)


def test_today_written_after_the_refresh_is_counted_at_once(world, history, source):
    with scopes_disabled():
        summary.refresh(world.tenant_a.pk, day(12, 1), day(12, 7))
    make_followup(history, world.rep_east, followed_at=at(2026, 12, 7, 14, 0))
    with scopes_disabled():
        got = summary.figures(world.tenant_a, "fu", day(12, 7), day(12, 7), None, now=NOW)
    assert got == {(world.rep_east.pk, "fu:all"): 2}


def test_the_reconciliation_finds_logs_and_fixes_a_planted_drift(world, history, source, caplog):
    with scopes_disabled():
        summary.refresh(world.tenant_a.pk, day(12, 1), day(12, 7))
        DailyCount.objects.filter(day=day(12, 1), user=world.rep_east).update(value=9)
        DailyCount.objects.filter(day=day(12, 2), user=world.rep_west).delete()
        DailyCount.objects.create(
            tenant=world.tenant_a, day=day(12, 3), user=world.rep_east2, metric="fu:all", value=3
        )
        before = stored(world.tenant_a)
        with caplog.at_level(logging.WARNING, logger="reports.summary"):
            assert summary.reconcile(world.tenant_a.pk, day(12, 1), day(12, 7)) == 3
        assert "3 figures of fu drifted" in caplog.text
        assert stored(world.tenant_a) != before
        assert summary.reconcile(world.tenant_a.pk, day(12, 1), day(12, 7)) == 0
    assert stored(world.tenant_a)[(day(12, 1), world.rep_east.pk, "fu:all")] == 2
    assert (day(12, 3), world.rep_east2.pk, "fu:all") not in stored(world.tenant_a)


def test_the_beat_refreshes_and_reconciles_every_tenant(settings):
    tasks = {e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {
        "reports.tasks.reports_refresh_all_task",
        "reports.tasks.reports_reconcile_all_task",
    } <= tasks
