"""客户拜访统计 and 电话统计 (issue 19 §4; wave2.md §14.2 R5, R6): per person × day of one
month, the follow-ups of one system type (``Option.code``: "visit" 拜访, "phone" 电话, which
survive a tenant renaming them) as ``次数 / 客户数`` pairs, with a 总量 column, read live
through reports/followups.py (same subjects, deleted customers, author and recount rules).
Visits are counted on development and signed customers (leads cannot be visited: seed 002),
calls on leads too.

The month comes from :class:`reports.forms.MonthFilterForm`: ReportFilterForm's department
and person with a ``month`` (YYYY-MM, this month by default) in place of the period presets,
so the period is always one whole month and a day column always exists for every day of it.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models.functions import TruncDate
from django.utils.translation import gettext_lazy as _

from crm.models import OptionKind
from reports import followups as fu
from reports.periods import Period
from reports.scope import ReportScope
from reports.tables import Table

VISIT, PHONE = "visit", "phone"
# code → (title, the objects offered, in order: the first is the default)
REPORTS = {
    VISIT: (_("Customer visits"), (fu.DEVELOPMENT, fu.SIGNED)),
    PHONE: (_("Phone calls"), (fu.DEVELOPMENT, fu.SIGNED, fu.LEADS)),
}


def month_of(period: Period) -> str:
    return f"{period.first:%Y-%m}"


def day_key(value) -> str:
    # TruncDate gives a date (a string on some SQLite builds: keep its first 10 characters).
    return value.isoformat() if hasattr(value, "isoformat") else str(value)[:10]


@dataclass
class DayReport:
    table: Table
    groups: list[fu.Group]
    data: fu.Figures
    people: list
    days: list[datetime.date]


def day_report(
    *, tenant, period: Period, scope: ReportScope, obj: str, code: str, link
) -> DayReport:
    """The table of 客户拜访统计 (``code="visit"``) or 电话统计 (``"phone"``): a row per
    person, 总量 then one pair per day (four queries for the figures, plus the scope's)."""
    start, end = period.bounds(tenant.tzinfo)
    rows = fu.followups(
        tenant_id=tenant.pk, obj=obj, start=start, end=end, user_ids=scope.user_ids
    ).filter(kind__kind=OptionKind.FOLLOWUP_TYPE, kind__code=code)
    day = TruncDate("followed_at", tzinfo=tenant.tzinfo)
    data = fu.figures(rows, obj=obj, group=day, key=day_key)
    days = period.days()
    groups = [fu.Group(fu.TOTAL, str(_("Month total")))]
    groups += [fu.Group(d.isoformat(), f"{d:%m-%d}") for d in days]
    people = scope.person_rows(with_data=frozenset(data.people))
    table = fu.pair_table(
        title=str(REPORTS[code][0]), obj=obj, groups=groups, data=data, people=people, link=link
    )
    return DayReport(table, groups, data, people, days)


def day_bounds(day: datetime.date, tz) -> tuple[datetime.datetime, datetime.datetime]:
    return Period("custom", day, day).bounds(tz)
