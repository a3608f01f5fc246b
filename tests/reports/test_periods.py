"""Report periods: every preset around ordinary days and calendar edges, custom ranges, and
the day bounds in the tenant's zone (summer time included)."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from crm.models import Tenant
from reports.periods import PRESETS, Period, resolve, tenant_today

D = datetime.date

CASES = [
    # today, preset, first, last
    (D(2026, 12, 16), "today", D(2026, 12, 16), D(2026, 12, 16)),
    (D(2026, 12, 16), "this_week", D(2026, 12, 14), D(2026, 12, 20)),  # a Wednesday
    (D(2026, 12, 14), "this_week", D(2026, 12, 14), D(2026, 12, 20)),  # a Monday
    (D(2026, 12, 20), "this_week", D(2026, 12, 14), D(2026, 12, 20)),  # a Sunday
    (D(2026, 1, 1), "this_week", D(2025, 12, 29), D(2026, 1, 4)),  # week over new year
    (D(2026, 12, 31), "this_week", D(2026, 12, 28), D(2027, 1, 3)),
    (D(2026, 12, 16), "this_month", D(2026, 12, 1), D(2026, 12, 31)),
    (D(2028, 2, 29), "this_month", D(2028, 2, 1), D(2028, 2, 29)),
    (D(2026, 2, 10), "this_month", D(2026, 2, 1), D(2026, 2, 28)),
    (D(2026, 12, 16), "last_month", D(2026, 11, 1), D(2026, 11, 30)),
    (D(2026, 1, 1), "last_month", D(2025, 12, 1), D(2025, 12, 31)),
    (D(2028, 3, 31), "last_month", D(2028, 2, 1), D(2028, 2, 29)),
    (D(2026, 1, 1), "this_quarter", D(2026, 1, 1), D(2026, 3, 31)),
    (D(2026, 4, 1), "this_quarter", D(2026, 4, 1), D(2026, 6, 30)),
    (D(2026, 6, 30), "this_quarter", D(2026, 4, 1), D(2026, 6, 30)),
    (D(2026, 7, 1), "this_quarter", D(2026, 7, 1), D(2026, 9, 30)),
    (D(2026, 10, 1), "this_quarter", D(2026, 10, 1), D(2026, 12, 31)),
    (D(2026, 12, 31), "this_quarter", D(2026, 10, 1), D(2026, 12, 31)),
    (D(2028, 2, 29), "this_quarter", D(2028, 1, 1), D(2028, 3, 31)),
    (D(2026, 1, 1), "this_year", D(2026, 1, 1), D(2026, 12, 31)),
    (D(2026, 12, 31), "this_year", D(2026, 1, 1), D(2026, 12, 31)),
    (D(2028, 2, 29), "this_year", D(2028, 1, 1), D(2028, 12, 31)),
]


@pytest.mark.parametrize(("today", "preset", "first", "last"), CASES)
def test_preset_days(today, preset, first, last):
    period = resolve(preset, today)
    assert (period.preset, period.first, period.last) == (preset, first, last)
    assert (today in period) == (preset != "last_month")


def test_no_preset_means_this_month():
    assert resolve(None, D(2026, 12, 16)) == Period("this_month", D(2026, 12, 1), D(2026, 12, 31))
    assert resolve("", D(2026, 12, 16)).preset == "this_month"


def test_every_preset_has_its_chinese_name():
    assert [str(label) for label in PRESETS.values()] == [
        "今天",
        "本周",
        "本月",
        "上月",
        "本季度",
        "本年",
        "自定义",
    ]


def test_custom_range_keeps_its_days():
    period = resolve("custom", D(2026, 12, 16), D(2026, 11, 3), D(2026, 11, 5))
    assert period == Period("custom", D(2026, 11, 3), D(2026, 11, 5))
    assert period.days() == [D(2026, 11, 3), D(2026, 11, 4), D(2026, 11, 5)]
    assert period.day_count == 3


def test_custom_range_of_exactly_three_years_is_allowed():
    period = resolve("custom", D(2026, 1, 1), D(2024, 1, 1), D(2026, 12, 31))
    assert period.day_count == 366 + 365 + 365


@pytest.mark.parametrize(
    ("first", "last", "code", "message"),
    [
        (None, D(2026, 1, 1), "first", "请选择开始日期。"),
        (D(2026, 1, 1), None, "last", "Choose the last day of the range."),
        (D(2026, 1, 2), D(2026, 1, 1), "reversed", "结束日期早于开始日期。"),
        (D(2024, 1, 1), D(2027, 1, 1), "too_long", "时间范围最多三年。"),
        (D(2024, 2, 29), D(2027, 2, 28), "too_long", "时间范围最多三年。"),
    ],
)
def test_bad_custom_range_is_refused_with_a_message(first, last, code, message):
    # Messages of msgids new in this module are asserted in English (the catalogue is
    # merged later); the others in Chinese.
    with pytest.raises(ValidationError) as caught:
        resolve("custom", D(2026, 12, 16), first, last)
    assert caught.value.code == code
    with translation.override("en" if message.isascii() else "zh-hans"):
        assert caught.value.messages == [message]


def test_unknown_preset_is_refused():
    with pytest.raises(ValidationError) as caught:
        resolve("next_decade", D(2026, 12, 16))
    assert caught.value.code == "preset"
    with translation.override("en"):
        assert caught.value.messages == ["Choose a period."]


def test_labels():
    # zh-hans after the catalogue merge: "本月（2026-12-01 至 2026-12-31）".
    with translation.override("en"):
        month = resolve("this_month", D(2026, 12, 16))
        assert month.label == "This month (2026-12-01 to 2026-12-31)"
        assert resolve("today", D(2026, 12, 16)).label == "Today (2026-12-16)"
        custom = resolve("custom", D(2026, 12, 16), D(2026, 12, 1), D(2026, 12, 31))
        assert custom.label == "2026-12-01 to 2026-12-31"
        assert custom.range_label == "2026-12-01 to 2026-12-31"


SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
LONDON = zoneinfo.ZoneInfo("Europe/London")
UTC = datetime.UTC


def _utc(*args):
    return datetime.datetime(*args, tzinfo=UTC)


def test_bounds_in_shanghai_start_at_local_midnight():
    start, end = Period("this_month", D(2026, 12, 1), D(2026, 12, 31)).bounds(SHANGHAI)
    assert start == _utc(2026, 11, 30, 16)
    assert end == _utc(2026, 12, 31, 16)
    assert start.tzinfo is SHANGHAI


def test_bounds_in_utc():
    start, end = Period("today", D(2026, 12, 16), D(2026, 12, 16)).bounds(UTC)
    assert (start, end) == (_utc(2026, 12, 16), _utc(2026, 12, 17))


def test_bounds_across_london_summer_time():
    # Summer time starts on Sunday 29 March 2026 at 01:00 UTC: that day has 23 hours.
    start, end = Period("today", D(2026, 3, 29), D(2026, 3, 29)).bounds(LONDON)
    assert start == _utc(2026, 3, 29, 0)
    assert end == _utc(2026, 3, 29, 23)
    assert end.astimezone(UTC) - start.astimezone(UTC) == datetime.timedelta(hours=23)
    # It ends on Sunday 25 October 2026: that day has 25 hours.
    start, end = Period("today", D(2026, 10, 25), D(2026, 10, 25)).bounds(LONDON)
    assert (start, end) == (_utc(2026, 10, 24, 23), _utc(2026, 10, 26, 0))
    # A week over the change: midnight BST to midnight GMT.
    week = resolve("this_week", D(2026, 10, 21))
    assert week.bounds(LONDON) == (_utc(2026, 10, 18, 23), _utc(2026, 10, 26, 0))


def test_consecutive_periods_meet_without_gap_or_overlap():
    november = resolve("last_month", D(2026, 12, 5))
    december = resolve("this_month", D(2026, 12, 5))
    for tz in (SHANGHAI, UTC, LONDON):
        assert november.bounds(tz)[1] == december.bounds(tz)[0]


def test_tenant_today_uses_the_tenants_zone():
    moment = _utc(2026, 12, 31, 17)  # 01:00 on 1 January in Shanghai
    assert tenant_today(Tenant(time_zone="Asia/Shanghai"), moment) == D(2027, 1, 1)
    assert tenant_today(Tenant(time_zone="Europe/London"), moment) == D(2026, 12, 31)
    assert tenant_today(Tenant(time_zone="America/Los_Angeles"), moment) == D(2026, 12, 31)
