"""Report periods (wave2 §14.1): the presets 今天 / 本周 / 本月 / 上月 / 本季度 / 本年 and a
custom range, as tenant-local dates.

A :class:`Period` is a first and a last day, both included; :meth:`Period.bounds` turns it
into the half-open ``[start, end)`` of aware datetimes in the tenant's zone that every query
filters on (``at >= start, at < end``), so a figure never depends on the server's zone and a
summer-time change makes a day 23 or 25 hours long, never loses one.

``today`` always comes from the caller (:func:`tenant_today`), which keeps every preset a pure
function of a date and the tests free of clocks.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from crm.models import Tenant

PRESETS = {
    "today": _("Today"),
    "this_week": _("This week"),
    "this_month": _("This month"),
    "last_month": _("Last month"),
    "this_quarter": _("This quarter"),
    "this_year": _("This year"),
    "custom": _("Custom range"),
}
PRESET_CHOICES = list(PRESETS.items())
DEFAULT_PRESET = "this_month"
# A custom range may span at most this many years (a longer one reads too many rows).
MAX_YEARS = 3

_ONE_DAY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Period:
    """The days ``first`` … ``last`` (both included) of a preset or a custom range."""

    preset: str
    first: datetime.date
    last: datetime.date

    def bounds(self, tz: datetime.tzinfo) -> tuple[datetime.datetime, datetime.datetime]:
        """``(start, end)``: midnight starting ``first`` and midnight starting the day after
        ``last`` in ``tz`` (the tenant's ``tzinfo``); ``end`` is excluded."""
        return day_start(self.first, tz), day_start(self.last + _ONE_DAY, tz)

    def days(self) -> list[datetime.date]:
        """Every day of the period, in order (the columns of a per-day table or chart)."""
        return [self.first + datetime.timedelta(days=n) for n in range(self.day_count)]

    @property
    def day_count(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def range_label(self) -> str:
        """ "2026-12-01 至 2026-12-31", or the one day of a one-day period."""
        if self.first == self.last:
            return self.first.isoformat()
        return _("%(first)s to %(last)s") % {
            "first": self.first.isoformat(),
            "last": self.last.isoformat(),
        }

    @property
    def label(self) -> str:
        """The period in words: the dates of a custom range, else the preset's name and its
        dates ("本月（2026-12-01 至 2026-12-31）")."""
        if self.preset == "custom" or self.preset not in PRESETS:
            return self.range_label
        return _("%(preset)s (%(range)s)") % {
            "preset": PRESETS[self.preset],
            "range": self.range_label,
        }

    def __contains__(self, day: datetime.date) -> bool:
        return self.first <= day <= self.last


def day_start(day: datetime.date, tz: datetime.tzinfo) -> datetime.datetime:
    """The first moment of ``day`` in ``tz`` (midnight, as an aware datetime)."""
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=tz)


def tenant_today(tenant: Tenant, now: datetime.datetime | None = None) -> datetime.date:
    """Today's date on the tenant's clock (``Tenant.today``), at ``now`` (default: now)."""
    return tenant.today(now)


def month_end(day: datetime.date) -> datetime.date:
    """The last day of ``day``'s month."""
    following = (day.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
    return following - _ONE_DAY


def add_years(day: datetime.date, years: int) -> datetime.date:
    """``day`` moved by whole years; 29 February becomes 28 February in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def preset_days(preset: str, today: datetime.date) -> tuple[datetime.date, datetime.date]:
    """First and last day (included) of a preset around ``today``; weeks run Monday–Sunday."""
    if preset == "today":
        return today, today
    if preset == "this_week":
        monday = today - datetime.timedelta(days=today.weekday())
        return monday, monday + datetime.timedelta(days=6)
    if preset == "this_month":
        return today.replace(day=1), month_end(today)
    if preset == "last_month":
        last = today.replace(day=1) - _ONE_DAY
        return last.replace(day=1), last
    if preset == "this_quarter":
        first = today.replace(month=(today.month - 1) // 3 * 3 + 1, day=1)
        return first, month_end(first.replace(month=first.month + 2))
    if preset == "this_year":
        return today.replace(month=1, day=1), today.replace(month=12, day=31)
    raise ValueError(preset)


def resolve(
    preset: str | None,
    today: datetime.date,
    first: datetime.date | None = None,
    last: datetime.date | None = None,
) -> Period:
    """The :class:`Period` of ``preset`` (default 本月) around ``today``; ``custom`` takes
    ``first`` and ``last``. Raises ``ValidationError`` (translated) for an unknown preset and
    a custom range that is incomplete, reversed or longer than three years."""
    preset = preset or DEFAULT_PRESET
    if preset not in PRESETS:
        raise ValidationError(_("Choose a period."), code="preset")
    if preset != "custom":
        return Period(preset, *preset_days(preset, today))
    if first is None:
        raise ValidationError(_("Choose the first day of the range."), code="first")
    if last is None:
        raise ValidationError(_("Choose the last day of the range."), code="last")
    if first > last:
        raise ValidationError(_("The range ends before it starts."), code="reversed")
    if last >= add_years(first, MAX_YEARS):
        raise ValidationError(_("Choose a range of at most three years."), code="too_long")
    return Period(preset, first, last)
