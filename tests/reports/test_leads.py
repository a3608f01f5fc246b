"""线索转换率 (reports/leads.py, reports:leads): the figures against a hand-computed fixture
per person and per campaign, the pool's leads counting for nobody, period edges in tenant
time, the data scope per persona, drill-downs that list exactly the number, the export equal
to the page, a fixed number of queries, and the old leads:lead-stats address redirecting here."""

from __future__ import annotations

import datetime
import io
import zoneinfo
from urllib.parse import parse_qs, urlencode, urlsplit

import openpyxl
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_scopes import scopes_disabled

from crm.models import DataScope
from crm.xlsx import neutralise
from leads.models import Lead
from tests.factories import make_role, make_user
from tests.leads.factories import (
    make_campaign,
    make_lead,
    make_lead_followup,
    make_lead_pool,
    make_pooled_lead,
)

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
OCTOBER = {"preset": "custom", "first": "2026-10-01", "last": "2026-10-31"}


def at(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture
def october(world):
    """Leads created around October 2026 (Shanghai), campaigns C1 and C2:

    rep_east   10-01 00:00 C1 followed converted · 10-10 C1 followed · 10-31 23:59 C2
               9-30 23:30 C1 followed (September in Shanghai, though 15:30 UTC)
    rep_east2  10-02 C1 followed · 10-03 no campaign converted
    rep_west   10-15 C1 followed converted
    pool       10-12 C1 followed (no owner: nobody's)
    service_a  10-08 C2 (outside the sales manager's scope)
    tenant B   10-05 followed: never counted
    """
    c1 = make_campaign(world.tenant_a, "春季展会")
    c2 = make_campaign(world.tenant_a, '=HYPERLINK("http://x")')

    def lead(owner, created, campaign=None, followed=False, converted=False, tenant=None):
        fields = {"status": Lead.Status.CONVERTED} if converted else {}
        row = make_lead(
            tenant or world.tenant_a, owner, campaign=campaign, created_at=created, **fields
        )
        if followed:
            make_lead_followup(row, owner)
        return row

    lead(world.rep_east, at(2026, 10, 1, 0, 0), c1, followed=True, converted=True)
    lead(world.rep_east, at(2026, 10, 10, 10, 0), c1, followed=True)
    lead(world.rep_east, at(2026, 10, 31, 23, 59), c2)
    lead(world.rep_east, at(2026, 9, 30, 23, 30), c1, followed=True)
    lead(world.rep_east2, at(2026, 10, 2, 10, 0), c1, followed=True)
    lead(world.rep_east2, at(2026, 10, 3, 10, 0), converted=True)
    lead(world.rep_west, at(2026, 10, 15, 10, 0), c1, followed=True, converted=True)
    pooled = make_pooled_lead(
        make_lead_pool(world.tenant_a), campaign=c1, created_at=at(2026, 10, 12, 10, 0)
    )
    make_lead_followup(pooled, world.admin_a)
    lead(world.service_a, at(2026, 10, 8, 10, 0), c2)
    lead(world.rep_b, at(2026, 10, 5, 10, 0), followed=True, tenant=world.tenant_b)
    world.c1, world.c2 = c1, c2
    return world


def page(client, **query):
    response = client.get(f"{reverse('reports:leads')}?{urlencode(query)}")
    assert response.status_code == 200, response.content.decode()[:500]
    return response


def table(response) -> dict:
    """{row key or 'total': (new, followed, follow-up rate, converted, conversion rate)}."""
    t = response.context["table"]
    keys = ("new", "followed", "followup_rate", "converted", "conversion_rate")
    out = {row.key: tuple(row.values[k] for k in keys) for row in t.rows}
    out["total"] = tuple(t.total.values[k] for k in keys)
    return out


def test_per_person(october, as_user):
    w = october
    got = table(page(as_user(w.admin_a), **OCTOBER))
    assert got[w.rep_east.pk] == (3, 2, "66.7%", 1, "33.3%")
    assert got[w.rep_east2.pk] == (2, 1, "50.0%", 1, "50.0%")
    assert got[w.rep_west.pk] == (1, 1, "100.0%", 1, "100.0%")
    assert got[w.service_a.pk] == (1, 0, "0.0%", 0, "0.0%")
    # Someone without new leads: no rates.
    assert got[w.manager_sales.pk] == (0, 0, "—", 0, "—")
    # The pool's lead counts for nobody; the total is recomputed from the counts (4/7, 3/7),
    # not an average of the rows' rates.
    assert got["total"] == (7, 4, "57.1%", 3, "42.9%")
    assert None not in got and w.rep_b.pk not in got


def test_per_campaign_counts_only_leads_owned_in_scope(october, as_user):
    w = october
    response = page(as_user(w.admin_a), **OCTOBER, group="campaign")
    got = table(response)
    assert got[w.c1.pk] == (4, 4, "100.0%", 2, "50.0%")  # the pool's C1 lead is not here
    assert got[w.c2.pk] == (2, 0, "0.0%", 0, "0.0%")
    assert got["none"] == (1, 0, "0.0%", 1, "100.0%")
    assert got["total"] == (7, 4, "57.1%", 3, "42.9%")
    assert [row.key for row in response.context["table"].rows] == [w.c1.pk, w.c2.pk, "none"]
    manager = table(page(as_user(w.manager_sales), **OCTOBER, group="campaign"))
    assert manager[w.c2.pk] == (1, 0, "0.0%", 0, "0.0%")  # service_a's is outside the scope


def test_period_edges_are_tenant_days(october, as_user):
    w = october
    september = {"preset": "custom", "first": "2026-09-30", "last": "2026-09-30"}
    got = table(page(as_user(w.admin_a), **september))
    assert got[w.rep_east.pk] == (1, 1, "100.0%", 0, "0.0%")
    assert got["total"] == (1, 1, "100.0%", 0, "0.0%")
    empty = {"preset": "custom", "first": "2026-01-01", "last": "2026-01-31"}
    assert table(page(as_user(w.admin_a), **empty))["total"] == (0, 0, "—", 0, "—")


def test_each_persona_sees_its_scope_only(october, as_user):
    w = october
    manager = table(page(as_user(w.manager_sales), **OCTOBER))
    assert w.service_a.pk not in manager
    assert manager["total"] == (6, 4, "66.7%", 3, "50.0%")
    with scopes_disabled():
        role = make_role(w.tenant_a, "看报表的代表", DataScope.OWN, ["reports.view"])
        w.rep_east.role = role
        w.rep_east.save(update_fields=["role"])
    rep = table(page(as_user(w.rep_east), **OCTOBER))
    assert set(rep) == {w.rep_east.pk, "total"}
    assert rep["total"] == (3, 2, "66.7%", 1, "33.3%")
    # Without reports.view (a rep who converts leads): no page, no drill-down.
    client = as_user(w.rep_west)
    assert client.get(reverse("reports:leads")).status_code == 403
    assert client.get(reverse("reports:leads-list"), {"column": "new"}).status_code == 403


@pytest.mark.parametrize("group", ["owner", "campaign"])
def test_every_number_opens_exactly_the_leads_it_counts(october, as_user, group):
    w = october
    client = as_user(w.manager_sales)
    response = page(client, **OCTOBER, group=group)
    checked = 0
    for row, cells in [*response.context["rows"], (None, response.context["total_cells"])]:
        for column, value, link in cells:
            if column.key.endswith(("rate", "average")):
                assert link is None
                continue
            drill = client.get(link)
            assert drill.status_code == 200
            assert drill.context["count"] == value, (column.key, row and row.label, value)
            assert len(drill.context["leads"]) == value
            assert all(lead.owner_id != w.service_a.pk for lead in drill.context["leads"])
            if column.key == "converted":
                assert {lead.status for lead in drill.context["leads"]} <= {"converted"}
            checked += 1
    assert checked >= 9


def test_a_drill_down_outside_the_scope_is_a_404(october, as_user):
    w = october
    client = as_user(w.manager_sales)
    url = reverse("reports:leads-list")

    def status(**query) -> int:
        return client.get(f"{url}?{urlencode({**OCTOBER, 'column': 'new', **query})}").status_code

    assert status(key=w.service_a.pk) == 404
    assert status(key=w.rep_b.pk) == 404
    assert status(key="x") == 404
    assert status(column="rate") == 404
    other = make_campaign(w.tenant_b, "B的活动")
    assert status(group="campaign", key=other.pk) == 404
    assert status(key=w.rep_east.pk) == 200
    assert status(group="campaign", key="none") == 200


def test_the_export_is_the_table_as_shown(october, as_user):
    w = october
    client = as_user(w.manager_sales)
    query = {**OCTOBER, "group": "campaign"}
    shown = page(client, **query)
    response = client.post(f"{reverse('reports:leads')}?{urlencode(query)}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = [[c.value for c in r] for r in sheet.iter_rows()]
    assert "2026-10-01" in rows[0][0] and "Per campaign" in rows[0][0]
    t = shown.context["table"]
    assert rows[1][1:] == [str(c.label) for c in t.columns]
    body = {r[0]: r[1:] for r in rows[2:]}
    for row in t.rows:
        assert body[neutralise(row.label)] == [row.values[c.key] for c in t.columns]
    assert body[t.total.label][:5] == [6, 4, "66.7%", 3, "50.0%"]
    assert body[t.total.label][5:] == [0, "0.0%", None, 0, "—", None]
    # A campaign named like a formula stays text.
    assert '\'=HYPERLINK("http://x")' in body


def test_the_chart_shows_new_and_converted_per_row(october, as_user):
    html = page(as_user(october.admin_a), **OCTOBER).content.decode()
    assert 'data-testid="report-chart"' in html and "<svg" in html


def test_the_page_runs_a_fixed_number_of_queries(october, as_user):
    w = october
    client = as_user(w.admin_a)

    def count(group: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            page(client, **OCTOBER, group=group)
        return len(ctx.captured_queries)

    few = {group: count(group) for group in ("owner", "campaign")}
    for i in range(3):
        rep = make_user(w.tenant_a, f"extra{i}", department=w.east, manager=w.manager_sales)
        campaign = make_campaign(w.tenant_a)
        for day in (4, 9):
            row = make_lead(w.tenant_a, rep, campaign=campaign, created_at=at(2026, 10, day, 9))
            make_lead_followup(row, rep)
    assert {group: count(group) for group in few} == few


def test_the_report_centre_and_the_menu_list_it(world, as_user):
    response = as_user(world.admin_a).get(reverse("reports:dashboard"))
    html = response.content.decode()
    assert reverse("reports:leads") in html
    assert reverse("leads:lead-stats") not in html


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({}, {}),
        (
            {"period": "custom", "date_from": "2024-03-01", "date_to": "2024-03-31"},
            {"preset": ["custom"], "first": ["2024-03-01"], "last": ["2024-03-31"]},
        ),
        (
            {"period": "this_year", "group": "campaign"},
            {"preset": ["this_year"], "group": ["campaign"]},
        ),
        ({"date_from": "2024-03-01"}, {"preset": ["custom"], "first": ["2024-03-01"]}),
        ({"period": "bogus", "group": "bogus"}, {}),
    ],
)
def test_the_old_statistics_address_redirects_with_its_range(world, as_user, old, new):
    response = as_user(world.manager_sales).get(reverse("leads:lead-stats"), old)
    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert target.path == reverse("reports:leads")
    assert parse_qs(target.query) == new
