"""The old lead statistics page's address (leads:lead-stats) redirects to the report
线索转换率 (reports:leads, tested in tests/reports/test_leads.py) with its range and grouping."""

from __future__ import annotations

import datetime
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from django.utils import timezone

from leads.models import Lead
from tests.leads.factories import (
    make_campaign,
    make_lead,
    make_lead_followup,
    make_lead_pool,
    make_pooled_lead,
)

MARCH = (datetime.date(2024, 3, 1), datetime.date(2024, 3, 31))
QUERY = {"period": "custom", "date_from": "2024-03-01", "date_to": "2024-03-31"}


def at(month: int, day: int, hour: int = 10) -> datetime.datetime:
    return datetime.datetime(2024, month, day, hour, tzinfo=timezone.get_current_timezone())


@pytest.fixture
def march(world):
    """Leads of tenant A created around March 2024 (campaigns C1 and C2):

    rep_east   L1 3-05 C1 followed converted · L2 3-10 C1 followed (in April) · L3 3-20 C2
               L4 2-29 23:59 and L5 4-01 00:00: outside the range
    rep_east2  L6 3-02 C1 followed · L7 3-03 C2 converted
    rep_west   L8 3-15 C1 followed converted
    pool       L9 3-12 followed (no campaign)
    service_a  L10 3-08 (no campaign; outside the sales manager's scope)
    tenant B   a lead on 3-05 with a follow-up: never counted
    """
    c1 = make_campaign(world.tenant_a, "春季展会")
    c2 = make_campaign(world.tenant_a, '=HYPERLINK("http://x")')
    converted = {"status": Lead.Status.CONVERTED}

    def lead(owner, created, campaign=None, followed=None, **fields):
        row = make_lead(world.tenant_a, owner, campaign=campaign, created_at=created, **fields)
        if followed:
            make_lead_followup(row, owner or world.admin_a, followed_at=followed)
        return row

    lead(world.rep_east, at(3, 5), c1, at(3, 6), **converted)
    lead(world.rep_east, at(3, 10), c1, at(4, 2))
    lead(world.rep_east, at(3, 20), c2)
    lead(world.rep_east, at(2, 29, 23) + datetime.timedelta(minutes=59), c1, at(3, 1))
    lead(world.rep_east, at(4, 1, 0), c1, at(4, 1))
    lead(world.rep_east2, at(3, 2), c1, at(3, 2, 11))
    lead(world.rep_east2, at(3, 3), c2, **converted)
    lead(world.rep_west, at(3, 15), c1, at(3, 16), **converted)
    pooled = make_pooled_lead(make_lead_pool(world.tenant_a), created_at=at(3, 12))
    make_lead_followup(pooled, world.admin_a, followed_at=at(3, 13))
    lead(world.service_a, at(3, 8))
    other = make_lead(world.tenant_b, world.rep_b, created_at=at(3, 5))
    make_lead_followup(other, world.rep_b)
    return {"c1": c1, "c2": c2}


# ---------------------------------------------------------------- the old page's address

# The page moved into the reports (reports:leads, tests/reports/test_leads.py): its address
# redirects there with its range and grouping.


def test_the_page_redirects_to_the_report_with_its_range(world, login, march):
    client = login(world.manager_sales)
    response = client.get(reverse("leads:lead-stats"), {**QUERY, "group": "campaign"})
    assert response.status_code == 302
    expected = {"preset": "custom", "first": "2024-03-01", "last": "2024-03-31"}
    assert response["Location"] == (
        f"{reverse('reports:leads')}?{urlencode({**expected, 'group': 'campaign'})}"
    )
    report = client.get(response["Location"])
    assert report.status_code == 200
    # The report counts the leads owned in the manager's scope (the pool's for nobody).
    assert report.context["table"].total.values["new"] == 6
    assert client.get(reverse("leads:lead-stats"))["Location"] == reverse("reports:leads")


def test_the_old_address_exports_nothing_and_reps_lose_the_page(world, login, march):
    url = reverse("leads:lead-stats")
    assert login(world.admin_a).post(url, query_params=QUERY).status_code == 405
    # A rep (lead.convert, no reports.view) saw their own numbers here; the report is for
    # reports.view only.
    rep = login(world.rep_east)
    response = rep.get(url, QUERY)
    assert response.status_code == 302
    assert rep.get(response["Location"]).status_code == 403
