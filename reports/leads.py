"""线索转换率 (issue 19 point 5, issue 20; wave2.md §14.6): the leads created in the period, per
person or per campaign, with how many were followed up, became customers, became
opportunities and were won.

The counting (seed 003 §3.2.6): a lead created in the period (tenant-local
days) is *followed* when it has at least one follow-up, at any time, and *converted* when its
status is 已转化, at any time. 线索→商机: the lead's conversion created an opportunity
(``Lead.converted_opportunity``: the opportunity made at the conversion, so at or after it);
商机→成单: that opportunity is won (today). 平均单价: Σ amount / count of those opportunities
(of the won ones). The report's data scope is :class:`~reports.scope.ReportScope`:
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
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.utils.translation import gettext_lazy as _

from customers import owned
from customers.models import FollowUp
from leads.models import Campaign, Lead
from reports.periods import Period
from reports.scope import ReportScope
from reports.tables import Column, Row, Table

OWNER, CAMPAIGN = "owner", "campaign"
GROUPS = {OWNER: _("Per person"), CAMPAIGN: _("Per campaign")}
# The counts (each links to its leads) and the rates computed from them.
NEW, FOLLOWED, CONVERTED = "new", "followed", "converted"
OPPORTUNITY, WON = "opportunity", "won"
COUNTS = {
    NEW: _("Leads added"),
    FOLLOWED: _("Leads followed up"),
    CONVERTED: _("Became customers"),
    OPPORTUNITY: _("Became opportunities"),
    WON: _("Opportunities won"),
}
_OPP_WON = Q(converted_opportunity__status="won")
_OPP = Q(converted_opportunity__isnull=False)
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


def rate(part: int, whole: int) -> Decimal | None:
    """``part / whole`` in per cent with one decimal (None without a whole)."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP)


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
            opportunity=Count("pk", filter=_OPP),
            opportunity_amount=Sum("converted_opportunity__amount", filter=_OPP),
            won=Count("pk", filter=_OPP_WON),
            won_amount=Sum("converted_opportunity__amount", filter=_OPP_WON),
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

    def values_and_links(f: dict, key):
        new, followed, converted = f[NEW], f[FOLLOWED], f[CONVERTED]
        opportunities, won = f[OPPORTUNITY], f[WON]
        values = {
            NEW: new,
            FOLLOWED: followed,
            "followup_rate": rate_text(rate(followed, new)),
            CONVERTED: converted,
            "conversion_rate": rate_text(rate(converted, new)),
            OPPORTUNITY: opportunities,
            "opportunity_rate": rate_text(rate(opportunities, new)),
            "opportunity_average": _average(f["opportunity_amount"], opportunities),
            WON: won,
            "won_rate": rate_text(rate(won, opportunities)),
            "won_average": _average(f["won_amount"], won),
        }
        return values, {c: link(c, key) for c in COUNTS}

    figures = (NEW, FOLLOWED, CONVERTED, OPPORTUNITY, WON, "opportunity_amount", "won_amount")
    rows, bars = [], []
    totals = dict.fromkeys(figures, 0)
    for count_key, link_key, label, inactive in labels:
        found = counts.get(count_key, {})
        f = {c: found.get(c) or 0 for c in figures}
        for c in figures:
            totals[c] += _number(f[c])
        values, links = values_and_links(f, link_key)
        rows.append(Row(label, values, links, inactive=inactive, key=link_key))
        bars.append((label, f[NEW], f[CONVERTED]))
    total_values, total_links = values_and_links(totals, None)
    table = Table(
        title=str(_("Lead conversion rate")),
        columns=[
            Column(NEW, COUNTS[NEW]),
            Column(FOLLOWED, COUNTS[FOLLOWED]),
            Column("followup_rate", _("Follow-up rate")),
            Column(CONVERTED, COUNTS[CONVERTED]),
            Column("conversion_rate", _("Lead to customer rate")),
            Column(OPPORTUNITY, COUNTS[OPPORTUNITY]),
            Column("opportunity_rate", _("Lead to opportunity rate")),
            Column("opportunity_average", _("Average opportunity amount")),
            Column(WON, COUNTS[WON]),
            Column("won_rate", _("Opportunity to deal rate")),
            Column("won_average", _("Average won amount")),
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
    elif column == OPPORTUNITY:
        leads = leads.filter(_OPP)
    elif column == WON:
        leads = leads.filter(_OPP_WON)
    return leads.select_related("owner", "campaign", "converted_opportunity").order_by(
        "-created_at", "-id"
    )


def _number(value) -> Decimal | int:
    # SQLite sums money as floats.
    return value if isinstance(value, int | Decimal) else Decimal(str(value))


def _average(total, count: int) -> Decimal | None:
    """Σ amount / count with two decimals; None (—) without a count."""
    if not count:
        return None
    return (_number(total or 0) / count).quantize(Decimal("0.01"), ROUND_HALF_UP)
