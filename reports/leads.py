"""线索转换率 (issue 19 point 5; wave2.md §14.6): the leads created in the period, per person
or per campaign, with how many were followed up and how many became customers.

The counting is leads.stats' (seed 003 §3.2.6): a lead created in the period (tenant-local
days) is *followed* when it has at least one follow-up, at any time, and *converted* when its
status is 已转化, at any time. The report's data scope is :class:`~reports.scope.ReportScope`:
a lead counts for its current owner when the owner is in ``scope.user_ids``; the pool's leads
(no owner) count for nobody. The campaign view counts the same leads (owner in scope), one
row per campaign and one for the leads without a campaign.

:func:`lead_report` builds the table (the scope's queries, one GROUP BY, one for the row
labels); :func:`lead_rows` lists the leads behind one number (the drill-down) with the same
conditions, so the list always holds exactly the number it was opened from.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from customers import owned
from customers.models import FollowUp
from leads.models import Campaign, Lead
from leads.stats import rate
from reports.periods import Period
from reports.scope import ReportScope
from reports.tables import Column, Row, Table

OWNER, CAMPAIGN = "owner", "campaign"
GROUPS = {OWNER: _("Per person"), CAMPAIGN: _("Per campaign")}
# The counts (each links to its leads) and the rates computed from them.
NEW, FOLLOWED, CONVERTED = "new", "followed", "converted"
COUNTS = {
    NEW: _("Leads added"),
    FOLLOWED: _("Leads followed up"),
    CONVERTED: _("Became customers"),
}
NO_CAMPAIGN = "none"


def _followed() -> Exists:
    return Exists(
        FollowUp.objects.filter(
            owned.of_kind(Lead), tenant_id=OuterRef("tenant_id"), record_id=OuterRef("pk")
        )
    )


def _created(*, period: Period, tz: datetime.tzinfo, scope: ReportScope) -> QuerySet:
    """The leads created in the period whose owner is in the scope."""
    start, end = period.bounds(tz)
    return Lead.objects.filter(
        scope.q("owner_id"),
        tenant_id=scope.actor.tenant_id,
        created_at__gte=start,
        created_at__lt=end,
    )


def rate_text(value) -> str:
    """A rate as the page and the export show it: "66.7%", "—" without new leads."""
    return "—" if value is None else f"{value}%"


@dataclass
class LeadReport:
    table: Table
    # (row label, new, converted) in the table's order: the chart's data.
    bars: list[tuple[str, int, int]]


def lead_report(
    *, period: Period, tz: datetime.tzinfo, scope: ReportScope, group: str, link
) -> LeadReport:
    """The table. ``link(column, key)`` gives a cell's drill-down URL; ``key`` is a user id
    (per person), a campaign id or :data:`NO_CAMPAIGN` (per campaign), None for the total."""
    if group not in GROUPS:
        raise ValueError(group)
    field = "owner_id" if group == OWNER else "campaign_id"
    # PERF: one GROUP BY with conditional counts, however many people or campaigns.
    counts = {
        row[field]: row
        for row in _created(period=period, tz=tz, scope=scope)
        .order_by()
        .values(field)
        .annotate(
            new=Count("pk"),
            followed=Count("pk", filter=Q(_followed())),
            converted=Count("pk", filter=Q(status=Lead.Status.CONVERTED)),
        )
    }
    if group == OWNER:
        people = scope.person_rows(with_data=frozenset(counts))
        labels = [(p.user_id, p.user_id, p.name, p.inactive) for p in people]
    else:
        names = dict(
            Campaign.objects.filter(
                tenant_id=scope.actor.tenant_id, pk__in=[k for k in counts if k is not None]
            ).values_list("pk", "name")
        )
        keyed = sorted(
            ((k, names.get(k, "")) for k in counts if k is not None),
            key=lambda kn: (-counts[kn[0]]["new"], kn[1]),
        )
        labels = [(k, k, name, False) for k, name in keyed]
        if None in counts:
            labels.append((None, NO_CAMPAIGN, str(_("No campaign")), False))

    def values_and_links(new: int, followed: int, converted: int, key):
        values = {
            NEW: new,
            FOLLOWED: followed,
            "followup_rate": rate_text(rate(followed, new)),
            CONVERTED: converted,
            "conversion_rate": rate_text(rate(converted, new)),
        }
        return values, {c: link(c, key) for c in COUNTS}

    rows, bars = [], []
    totals = {NEW: 0, FOLLOWED: 0, CONVERTED: 0}
    for count_key, link_key, label, inactive in labels:
        found = counts.get(count_key, {})
        new, followed, converted = (found.get(c, 0) for c in (NEW, FOLLOWED, CONVERTED))
        for c, value in ((NEW, new), (FOLLOWED, followed), (CONVERTED, converted)):
            totals[c] += value
        values, links = values_and_links(new, followed, converted, link_key)
        rows.append(Row(label, values, links, inactive=inactive, key=link_key))
        bars.append((label, new, converted))
    total_values, total_links = values_and_links(
        totals[NEW], totals[FOLLOWED], totals[CONVERTED], None
    )
    table = Table(
        title=str(_("Lead conversion rate")),
        columns=[
            Column(NEW, COUNTS[NEW]),
            Column(FOLLOWED, COUNTS[FOLLOWED]),
            Column("followup_rate", _("Follow-up rate")),
            Column(CONVERTED, COUNTS[CONVERTED]),
            Column("conversion_rate", _("Lead to customer rate")),
        ],
        rows=rows,
        total=Row(str(_("Total")), total_values, total_links),
        label_header=str(_("Person") if group == OWNER else _("Campaign")),
    )
    return LeadReport(table, bars)


def lead_rows(
    *,
    period: Period,
    tz: datetime.tzinfo,
    scope: ReportScope,
    group: str,
    column: str,
    key: int | str | None,
) -> QuerySet:
    """The leads behind one number of the table (newest first). ``key`` as in
    :func:`lead_report`'s links; the caller checks that a user id is in the scope."""
    if column not in COUNTS:
        raise ValueError(column)
    leads = _created(period=period, tz=tz, scope=scope)
    if key is not None:
        if group == OWNER:
            leads = leads.filter(owner_id=key)
        elif key == NO_CAMPAIGN:
            leads = leads.filter(campaign__isnull=True)
        else:
            leads = leads.filter(campaign_id=key)
    if column == FOLLOWED:
        leads = leads.filter(_followed())
    elif column == CONVERTED:
        leads = leads.filter(status=Lead.Status.CONVERTED)
    return leads.select_related("owner", "campaign").order_by("-created_at", "-id")
