"""The demo's report figures: the demo data is dated over the last 12 months, so its summary
is computed once it is loaded (registered after every other app's demo loader).

Before that, some of the demo's converted leads get the opportunity their conversion would
have created (``Lead.converted_opportunity``, for 线索转换率's 线索→商机 and 商机→成单): the
leads' demo runs after the opportunities' (leads sit above opportunities), so the link is
written here, on top of both, with the opportunities demo's own writer.
"""

from __future__ import annotations

import datetime
import random

from django.utils import timezone

from crm import demo
from crm.models import Tenant, User
from leads.models import Lead
from opportunities import demo as opportunity_demo
from reports import stock, summary

DEMO_DAYS = 400
# The share of converted leads whose conversion also created an opportunity.
LEADS_WITH_OPPORTUNITY = 0.6


def link_converted_leads(tenant: Tenant, users: dict[str, User]) -> int:
    """Give about 60 % of the tenant's converted leads (owner and customer set, no
    opportunity yet) an opportunity on their customer, created at the conversion; returns
    how many."""
    rng = random.Random(f"{opportunity_demo.SEED}:leads:{tenant.slug}")  # noqa: S311
    leads = list(
        Lead.objects.filter(
            tenant_id=tenant.pk,
            status=Lead.Status.CONVERTED,
            owner__isnull=False,
            customer__isnull=False,
            converted_opportunity__isnull=True,
        )
        .select_related("owner")
        .order_by("pk")
    )
    chosen = [lead for lead in leads if rng.random() < LEADS_WITH_OPPORTUNITY]
    now = timezone.now()
    plans = [
        opportunity_demo.Plan(
            owner=lead.owner,
            customer_id=lead.customer_id,
            created=min(now, (lead.converted_at or now) + datetime.timedelta(minutes=5)),
            name=f"{lead.company or lead.name} 叉车采购（线索转化）"[:128],
        )
        for lead in chosen
    ]
    created = opportunity_demo.make_opportunities(tenant, plans, rng)
    for lead, opportunity in zip(chosen, created, strict=True):
        lead.converted_opportunity = opportunity
    Lead.objects.bulk_update(chosen, ["converted_opportunity"], batch_size=500)
    return len(chosen)


@demo.register
def load_report_figures(tenant: Tenant, users: dict[str, User]) -> None:
    # The opportunities (and their stage history) are complete before the figures.
    link_converted_leads(tenant, users)
    today = tenant.today()
    summary.refresh(tenant.pk, today - datetime.timedelta(days=DEMO_DAYS), today)
    stock.snapshot(tenant.pk, today)
