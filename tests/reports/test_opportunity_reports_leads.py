"""线索转换率's opportunity columns (issue 20, wave2.md §14.6): 线索→商机 = leads whose
conversion created an opportunity / new leads, 商机→成单 = won / those opportunities, 平均单价
of each; per person and campaign, drill-downs equal to the numbers, scope per persona, the
export equal to the page, a fixed number of queries."""

from __future__ import annotations

import datetime
import io
import zoneinfo
from decimal import Decimal
from urllib.parse import urlencode

import openpyxl
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_scopes import scopes_disabled

from leads.models import Lead
from tests.factories import make_user
from tests.leads.factories import make_campaign, make_lead
from tests.reports.opportunity_data import make_opportunity, stages

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
OCTOBER = {"preset": "custom", "first": "2026-10-01", "last": "2026-10-31"}
COLUMNS = (
    "new",
    "converted",
    "opportunity",
    "opportunity_rate",
    "opportunity_average",
    "won",
    "won_rate",
    "won_average",
)
D = Decimal


def at(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture
def october(world):
    """Leads created in October 2026 (Shanghai):

    rep_east   L1 converted + opportunity 30,000 won · L2 converted + opportunity 10,000 open
               L3 converted without opportunity · L4 open
    rep_east2  L5 converted + opportunity 50,000 lost · L6 open
    rep_west   L7 converted + opportunity 20,000 won (campaign C1)
    service_a  L8 converted + opportunity 99,000 won (outside the sales manager's scope)
    rep_east   L9 September 30th 23:00 + opportunity won: another period
    """
    w = world
    s = stages(w.tenant_a)
    first = s["open"][0]
    c1 = make_campaign(w.tenant_a, "春季展会")

    def lead(owner, created, amount=None, end=None, campaign=None):
        converted = amount is not None or end == "customer"
        row = make_lead(
            w.tenant_a,
            owner,
            campaign=campaign,
            created_at=created,
            **({"status": Lead.Status.CONVERTED} if converted else {}),
        )
        if amount is not None:
            moment = created + datetime.timedelta(days=2)
            path = [(first, moment)]
            closed = None
            if end in ("won", "lost"):
                path.append((s[end], moment + datetime.timedelta(days=5)))
                closed = (moment + datetime.timedelta(days=5)).date()
            opp = make_opportunity(owner, path=path, amount=amount, closed=closed)
            with scopes_disabled():
                Lead.objects.filter(pk=row.pk).update(converted_opportunity=opp)
        return row

    lead(w.rep_east, at(2026, 10, 1, 0, 0), 30000, "won")
    lead(w.rep_east, at(2026, 10, 5, 9), 10000)
    lead(w.rep_east, at(2026, 10, 6, 9), end="customer")
    lead(w.rep_east, at(2026, 10, 7, 9))
    lead(w.rep_east2, at(2026, 10, 8, 9), 50000, "lost")
    lead(w.rep_east2, at(2026, 10, 9, 9))
    lead(w.rep_west, at(2026, 10, 31, 23, 59), 20000, "won", campaign=c1)
    lead(w.service_a, at(2026, 10, 12, 9), 99000, "won")
    lead(w.rep_east, at(2026, 9, 30, 23, 0), 70000, "won")
    w.c1 = c1
    return w


def table(response) -> dict:
    t = response.context["table"]
    out = {row.key: tuple(row.values[k] for k in COLUMNS) for row in t.rows}
    out["total"] = tuple(t.total.values[k] for k in COLUMNS)
    return out


def page(client, **query):
    response = client.get(f"{reverse('reports:leads')}?{urlencode(query)}")
    assert response.status_code == 200
    return response


def test_lead_to_opportunity_and_opportunity_to_deal_per_person(october, as_user):
    w = october
    got = table(page(as_user(w.admin_a), **OCTOBER))
    assert got[w.rep_east.pk] == (4, 3, 2, "50.0%", D("20000.00"), 1, "50.0%", D("30000.00"))
    assert got[w.rep_east2.pk] == (2, 1, 1, "50.0%", D("50000.00"), 0, "0.0%", None)
    assert got[w.rep_west.pk] == (1, 1, 1, "100.0%", D("20000.00"), 1, "100.0%", D("20000.00"))
    assert got[w.service_a.pk] == (1, 1, 1, "100.0%", D("99000.00"), 1, "100.0%", D("99000.00"))
    assert got[w.manager_sales.pk] == (0, 0, 0, "—", None, 0, "—", None)
    # Totals recomputed from the sums: 209,000 / 5 and 149,000 / 3.
    assert got["total"] == (8, 6, 5, "62.5%", D("41800.00"), 3, "60.0%", D("49666.67"))


def test_scope_and_campaign_view(october, as_user):
    w = october
    manager = table(page(as_user(w.manager_sales), **OCTOBER))
    assert manager["total"] == (7, 5, 4, "57.1%", D("27500.00"), 2, "50.0%", D("25000.00"))
    campaign = table(page(as_user(w.manager_sales), **OCTOBER, group="campaign"))
    assert campaign[w.c1.pk][2:6] == (1, "100.0%", D("20000.00"), 1)
    assert campaign["none"][2] == 3


@pytest.mark.parametrize("group", ["owner", "campaign"])
def test_the_opportunity_numbers_open_exactly_their_leads(october, as_user, group):
    w = october
    client = as_user(w.manager_sales)
    response = page(client, **OCTOBER, group=group)
    checked = 0
    for row, cells in [*response.context["rows"], (None, response.context["total_cells"])]:
        for column, value, link in cells:
            if column.key not in ("opportunity", "won"):
                continue
            drill = client.get(link)
            assert drill.status_code == 200
            leads = drill.context["leads"]
            assert drill.context["count"] == value == len(leads), (row and row.label, column.key)
            assert all(lead.converted_opportunity_id for lead in leads)
            if column.key == "won":
                assert {lead.converted_opportunity.status for lead in leads} <= {"won"}
            checked += 1
    assert checked >= 4


def test_the_export_has_the_new_columns(october, as_user):
    w = october
    client = as_user(w.admin_a)
    shown = page(client, **OCTOBER)
    response = client.post(f"{reverse('reports:leads')}?{urlencode(OCTOBER)}")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = [[c.value for c in r] for r in sheet.iter_rows()]
    t = shown.context["table"]
    assert rows[1][1:] == [str(c.label) for c in t.columns]
    total = rows[-1][1:]
    expected = [t.total.values[c.key] for c in t.columns]
    assert [D(str(v)) if isinstance(v, float | int) else v for v in total] == expected


def test_a_fixed_number_of_queries(october, as_user):
    w = october
    client = as_user(w.admin_a)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            page(client, **OCTOBER)
        return len(ctx.captured_queries)

    few = count()
    first = stages(w.tenant_a)["open"][0]
    for i in range(3):
        rep = make_user(w.tenant_a, f"extra{i}", department=w.east, manager=w.manager_sales)
        row = make_lead(w.tenant_a, rep, created_at=at(2026, 10, 3 + i, 9))
        opp = make_opportunity(rep, path=[(first, at(2026, 10, 4 + i, 9))], amount=100)
        with scopes_disabled():
            Lead.objects.filter(pk=row.pk).update(
                converted_opportunity=opp, status=Lead.Status.CONVERTED
            )
    assert count() == few
