"""Lead conversion statistics (查看销售线索转换情况, seed 003 §3.2.6).

For a time range, per owner or per campaign: new leads (created in the range, the pool's
included), followed-up leads (of those, the ones with at least one follow-up, at any time),
the follow-up rate, leads converted into customers (of those, the ones converted, at any
time) and the conversion rate, with a total row.

Definitions (decided for issue 6):

* Only leads the user may see count (crm.visibility.visible_to): a rep sees their own
  numbers, a manager their data scope's, the pool's leads count for the members of the pool
  groups. A lead counts for its current owner; leads without one (in the pool, or never
  assigned) are one row of their own ("lead pool / no owner"), never someone's.
* A fixed number of queries whatever the number of people or campaigns: one aggregate
  query (GROUP BY owner or campaign, conditional counts, EXISTS for the follow-ups) and one
  query for the row labels.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.models import User
from crm.visibility import visible_to
from customers import owned
from customers.models import FollowUp
from leads.models import Campaign, Lead

PRESETS = {
    "this_month": gettext_lazy("This month"),
    "last_month": gettext_lazy("Last month"),
    "this_quarter": gettext_lazy("This quarter"),
    "this_year": gettext_lazy("This year"),
    "custom": gettext_lazy("Custom range"),
}
GROUPINGS = {"owner": gettext_lazy("Per person"), "campaign": gettext_lazy("Per campaign")}
GROUP_HEADERS = {"owner": gettext_lazy("Owner"), "campaign": gettext_lazy("Campaign")}


def preset_range(preset: str, today: datetime.date) -> tuple[datetime.date, datetime.date]:
    """First and last day (inclusive) of a preset range around ``today``."""
    if preset == "last_month":
        last = today.replace(day=1) - datetime.timedelta(days=1)
        return last.replace(day=1), last
    if preset == "this_quarter":
        first_month = (today.month - 1) // 3 * 3 + 1
        start = today.replace(month=first_month, day=1)
        end_month = first_month + 2
        return start, _month_end(today.replace(month=end_month, day=1))
    if preset == "this_year":
        return today.replace(month=1, day=1), today.replace(month=12, day=31)
    return today.replace(day=1), _month_end(today)


def _month_end(day: datetime.date) -> datetime.date:
    following = (day.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
    return following - datetime.timedelta(days=1)


def day_bounds(first: datetime.date, last: datetime.date) -> tuple[datetime.datetime, ...]:
    """[start, end) in the current time zone for the days ``first`` … ``last``."""
    tz = timezone.get_current_timezone()
    start = datetime.datetime.combine(first, datetime.time.min, tzinfo=tz)
    end = datetime.datetime.combine(last + datetime.timedelta(days=1), datetime.time.min, tzinfo=tz)
    return start, end


def rate(part: int, whole: int) -> Decimal | None:
    """``part / whole`` in per cent with one decimal (None without a whole)."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP)


@dataclass
class StatRow:
    key: int | None
    label: str
    new: int = 0
    followed: int = 0
    converted: int = 0

    @property
    def followup_rate(self) -> Decimal | None:
        return rate(self.followed, self.new)

    @property
    def conversion_rate(self) -> Decimal | None:
        return rate(self.converted, self.new)


@dataclass
class LeadStats:
    group_by: str
    start: datetime.datetime
    end: datetime.datetime
    rows: list[StatRow] = field(default_factory=list)

    @property
    def total(self) -> StatRow:
        return StatRow(
            None,
            _("Total"),
            sum(r.new for r in self.rows),
            sum(r.followed for r in self.rows),
            sum(r.converted for r in self.rows),
        )


def lead_conversion_stats(
    *, actor: User, start: datetime.datetime, end: datetime.datetime, group_by: str = "owner"
) -> LeadStats:
    """The statistics of the leads ``actor`` sees created in [start, end), one row per
    owner (``group_by="owner"``) or campaign (``"campaign"``), most new leads first."""
    if group_by not in GROUPINGS:
        raise ValueError(group_by)
    key = "owner_id" if group_by == "owner" else "campaign_id"
    created = Lead.objects.filter(
        tenant_id=actor.tenant_id, created_at__gte=start, created_at__lt=end
    )
    leads = visible_to(actor, created)
    followed = Exists(
        FollowUp.objects.filter(
            owned.of_kind(Lead), tenant_id=actor.tenant_id, record_id=OuterRef("pk")
        )
    )
    # PERF: one GROUP BY with conditional counts, however many people or campaigns.
    counts = list(
        leads.order_by()
        .values(key)
        .annotate(
            new=Count("pk"),
            followed=Count("pk", filter=Q(followed)),
            converted=Count("pk", filter=Q(status=Lead.Status.CONVERTED)),
        )
    )
    ids = [row[key] for row in counts if row[key] is not None]
    if group_by == "owner":
        names = {
            u.pk: u.get_full_name() or u.username
            for u in User.tenant_objects.filter(tenant_id=actor.tenant_id, pk__in=ids)
        }
        nobody = _("Lead pool / no owner")
    else:
        names = {
            c.pk: c.name for c in Campaign.objects.filter(tenant_id=actor.tenant_id, pk__in=ids)
        }
        nobody = _("No campaign")
    rows = [
        StatRow(
            row[key],
            names.get(row[key], nobody) if row[key] is not None else nobody,
            row["new"],
            row["followed"],
            row["converted"],
        )
        for row in counts
    ]
    # The row without an owner / campaign comes last; the others by size, then name.
    rows.sort(key=lambda r: (r.key is None, -r.new, r.label))
    return LeadStats(group_by=group_by, start=start, end=end, rows=rows)


def stats_sheet(stats: LeadStats) -> tuple[list[str], list[list]]:
    """Headers and rows of the statistics as a spreadsheet (the total row last)."""
    headers = [
        str(GROUP_HEADERS[stats.group_by]),
        _("New leads"),
        _("Followed-up leads"),
        _("Follow-up rate (%)"),
        _("Converted to customers"),
        _("Conversion rate (%)"),
    ]
    body = [
        [r.label, r.new, r.followed, r.followup_rate, r.converted, r.conversion_rate]
        for r in [*stats.rows, stats.total]
    ]
    return headers, body
