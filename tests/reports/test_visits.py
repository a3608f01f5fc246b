"""客户拜访统计 and 电话统计 (reports/visits.py): per person × day of a month, each figure
against a hand-computed fixture, the month picker, month edges in tenant time, the data scope
per persona, drill-downs that list exactly the number, the export equal to the page, a fixed
number of queries."""

from __future__ import annotations

import datetime
import io
from urllib.parse import urlencode

import openpyxl
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_scopes import scopes_disabled

from crm.models import DataScope, Option
from reports.periods import tenant_today
from tests.customers.factories import make_customer, make_followup
from tests.factories import make_role
from tests.leads.factories import make_lead
from tests.reports.test_followups import at, lead_followup, types

OCT = {"month": "2026-10"}
D1, D5, D31 = "2026-10-01", "2026-10-05", "2026-10-31"


@pytest.fixture
def october(world):
    """Visits (the 拜访 type, renamed 上门 by the tenant: its code stays "visit"):
    rep_east: d1 at 1 Oct 00:00, d1 and d2 on 5 Oct, d2 at 31 Oct 23:59 → 10-01 1/1,
      10-05 2/2, 10-31 1/1, 总量 4/2; s1 (signed) on 5 Oct; d1 on 30 Sep 23:59 and 1 Nov
      00:00 (other months); a deleted customer's visit; a 电话 on d1 on 5 Oct.
    rep_west: d1 on 5 Oct → 1/1.  service_a: d4 on 7 Oct.  Tenant B: one visit.
    总计 (admin): 10-05 3 / 2 (d1 once), month 6 / 3.
    Calls: rep_east 电话 d1 5 Oct; leads L1 电话 5 Oct ×2 and 6 Oct → leads 10-05 2/1, 10-06
    1/1, 总量 3/1."""
    w = world
    t = types(w.tenant_a)
    with scopes_disabled():
        Option.objects.filter(pk=t["拜访"].pk).update(label="上门")
    visit, phone = t["拜访"], t["电话"]
    e = w.rep_east
    d1 = make_customer(w.tenant_a, e, "开发一")
    d2 = make_customer(w.tenant_a, e, "开发二")
    s1 = make_customer(w.tenant_a, e, "签约一", lifecycle="signed")
    gone = make_customer(w.tenant_a, e, "已删除", deleted_at=timezone.now())
    d4 = make_customer(w.tenant_a, w.service_a, "开发四")
    for customer, moment in (
        (d1, at(2026, 10, 1, 0, 0)),
        (d1, at(2026, 10, 5, 10, 0)),
        (d2, at(2026, 10, 5, 15, 0)),
        (d2, at(2026, 10, 31, 23, 59)),
        (s1, at(2026, 10, 5, 16, 0)),
        (d1, at(2026, 9, 30, 23, 59)),
        (d1, at(2026, 11, 1, 0, 0)),
        (gone, at(2026, 10, 5, 12, 0)),
    ):
        make_followup(customer, e, "上门拜访", kind=visit, followed_at=moment)
    make_followup(d1, e, kind=phone, followed_at=at(2026, 10, 5, 11, 0))
    make_followup(d1, w.rep_west, kind=visit, followed_at=at(2026, 10, 5, 17, 0))
    make_followup(d4, w.service_a, kind=visit, followed_at=at(2026, 10, 7, 9, 0))
    l1 = make_lead(w.tenant_a, e)
    lead_followup(l1, e, at(2026, 10, 5, 9, 0), phone)
    lead_followup(l1, e, at(2026, 10, 5, 19, 0), phone)
    lead_followup(l1, e, at(2026, 10, 6, 9, 0), phone)
    lead_followup(l1, e, at(2026, 10, 6, 10, 0), visit)  # a lead is never visited: not counted
    b = make_customer(w.tenant_b, w.rep_b)
    make_followup(b, w.rep_b, kind=types(w.tenant_b)["拜访"], followed_at=at(2026, 10, 5, 9, 0))
    return w


def page(client, name="reports:visits", status=200, **query):
    response = client.get(f"{reverse(name)}?{urlencode(query)}")
    assert response.status_code == status, response.content.decode()[:500]
    return response


def table(response) -> dict:
    out = {}
    for row, pairs in [*response.context["rows"], (None, response.context["total_pairs"])]:
        out[row.key if row else "total"] = {g.key: (n, c) for g, n, _l, c, _m in pairs}
    return out


def test_each_day_of_the_visits(october, as_user):
    w = october
    response = page(as_user(w.admin_a), **OCT)
    got = table(response)
    east = got[w.rep_east.pk]
    assert east[D1] == (1, 1) and east[D5] == (2, 2) and east[D31] == (1, 1)
    assert east["2026-10-02"] == (0, 0)
    assert east["total"] == (4, 2)
    assert got[w.rep_west.pk][D5] == (1, 1) and got[w.rep_west.pk]["total"] == (1, 1)
    assert got[w.service_a.pk]["2026-10-07"] == (1, 1)
    assert w.rep_b.pk not in got
    # One column per day of the month, after 总量.
    keys = [g.key for g in response.context["pair_groups"]]
    assert keys[0] == "total" and keys[1] == D1 and keys[-1] == D31 and len(keys) == 32


def test_day_and_month_totals_recount_the_customers(october, as_user):
    total = table(page(as_user(october.admin_a), **OCT))["total"]
    assert total[D5] == (3, 2)  # d1 by rep_east and rep_west, d2
    assert total["total"] == (6, 3)  # d1, d2, d4


def test_signed_customers_visits(october, as_user):
    w = october
    got = table(page(as_user(w.admin_a), **OCT, object="signed"))
    assert got[w.rep_east.pk][D5] == (1, 1) and got["total"]["total"] == (1, 1)


def test_leads_cannot_be_visited_but_are_called(october, as_user):
    w = october
    client = as_user(w.admin_a)
    visits = page(client, **OCT, object="leads")
    assert visits.context["object"] == "development"  # not offered: the default
    assert "leads" not in visits.context["objects"]
    calls = table(page(client, "reports:calls", **OCT, object="leads"))
    east = calls[w.rep_east.pk]
    assert east[D5] == (2, 1) and east["2026-10-06"] == (1, 1) and east["total"] == (3, 1)
    development = table(page(client, "reports:calls", **OCT))
    assert development[w.rep_east.pk][D5] == (1, 1)
    assert development["total"]["total"] == (1, 1)


def test_month_edges_are_tenant_days(october, as_user):
    w = october
    client = as_user(w.admin_a)
    september = table(page(client, month="2026-09"))
    assert september[w.rep_east.pk]["2026-09-30"] == (1, 1)
    assert len(september["total"]) == 31  # 总量 + 30 days
    november = table(page(client, month="2026-11"))
    assert november[w.rep_east.pk]["2026-11-01"] == (1, 1)


def test_the_month_defaults_to_this_month_and_must_be_a_month(october, as_user):
    w = october
    client = as_user(w.admin_a)
    response = page(client)
    today = tenant_today(w.tenant_a)
    assert response.context["period"].first == today.replace(day=1)
    for bad in ("2026-13", "2026", "October", "2026-10-01"):
        refused = page(client, status=422, month=bad)
        assert "Enter a month as YYYY-MM." in refused.content.decode()
    february = page(client, month="2026-02")
    assert len(february.context["pair_groups"]) == 1 + 28
    assert ("Month", "2026-02") in february.context["filters"]


def test_each_persona_sees_its_scope_only(october, as_user):
    w = october
    manager = table(page(as_user(w.manager_sales), **OCT))
    assert w.service_a.pk not in manager
    assert manager["total"]["total"] == (5, 2)
    with scopes_disabled():
        role = make_role(w.tenant_a, "看报表的代表", DataScope.OWN, ["reports.view"])
        w.rep_east.role = role
        w.rep_east.save(update_fields=["role"])
    rep = table(page(as_user(w.rep_east), **OCT))
    assert set(rep) == {w.rep_east.pk, "total"}
    assert rep["total"]["total"] == (4, 2)
    for name in ("reports:visits", "reports:calls", "reports:visits-list"):
        assert as_user(w.rep_west).get(reverse(name)).status_code == 403
    assert table(page(as_user(w.admin_b), **OCT))["total"]["total"] == (1, 1)


@pytest.mark.parametrize(
    ("name", "obj"),
    [("reports:visits", "development"), ("reports:visits", "signed"), ("reports:calls", "leads")],
)
def test_every_number_opens_exactly_what_it_counts(october, as_user, name, obj):
    client = as_user(october.manager_sales)
    response = page(client, name, **OCT, object=obj)
    checked = 0
    for _row, pairs in [*response.context["rows"], (None, response.context["total_pairs"])]:
        for g, n, n_link, c, c_link in pairs:
            if not (n or g.key in ("total", D5)):
                continue  # the empty days: a few are enough
            for value, link, listed in ((n, n_link, "followups"), (c, c_link, "subjects")):
                drill = client.get(link)
                assert drill.status_code == 200
                assert drill.context["count"] == value, (g.key, link)
                assert len(drill.context[listed]) == value
                checked += 1
    assert checked >= 8


def test_a_drill_down_outside_the_scope_or_the_month_is_a_404(october, as_user):
    w = october
    url = reverse("reports:visits-list")
    client = as_user(w.manager_sales)
    query = {**OCT, "day": D5, "measure": "n"}
    assert client.get(f"{url}?{urlencode({**query, 'user': w.service_a.pk})}").status_code == 404
    assert client.get(f"{url}?{urlencode({**query, 'user': w.rep_b.pk})}").status_code == 404
    assert client.get(f"{url}?{urlencode({**query, 'day': '2026-11-01'})}").status_code == 404
    assert client.get(f"{url}?{urlencode({**query, 'day': 'x'})}").status_code == 404
    ok = client.get(f"{url}?{urlencode({**query, 'user': w.rep_east.pk})}")
    assert ok.status_code == 200 and ok.context["count"] == 2
    assert "上门拜访" in ok.content.decode()


@pytest.mark.parametrize("name", ["reports:visits", "reports:calls"])
def test_the_export_is_the_table_as_shown(october, as_user, name):
    client = as_user(october.manager_sales)
    shown = page(client, name, **OCT)
    response = client.post(f"{reverse(name)}?{urlencode(OCT)}")
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = [[c.value for c in r] for r in sheet.iter_rows()]
    assert "2026-10" in rows[0][0] and "Development customers" in rows[0][0]
    t = shown.context["table"]
    assert rows[1][1:] == [str(c.label) for c in t.columns]
    assert rows[1][3:5] == ["10-01 Times", "10-01 Customers followed"]
    body = {r[0]: r[1:] for r in rows[2:]}
    for row in t.rows:
        assert body[row.label] == [row.values[c.key] for c in t.columns]
    assert body[t.total.label] == [t.total.values[c.key] for c in t.columns]


def test_the_pages_run_a_fixed_number_of_queries(world, as_user):
    client = as_user(world.admin_a)
    t = types(world.tenant_a)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            page(client, **OCT)
            page(client, "reports:calls", **OCT, object="leads")
        return len(ctx.captured_queries)

    count()  # warm caches (content types, session)
    few = count()
    for rep in (world.rep_east, world.rep_west, world.rep_east2, world.service_a):
        for day in (2, 3, 20):
            moment = at(2026, 10, day, 9, 0)
            make_followup(
                make_customer(world.tenant_a, rep), rep, kind=t["拜访"], followed_at=moment
            )
            lead_followup(make_lead(world.tenant_a, rep), rep, moment, t["电话"])
    assert count() == few


def test_a_day_is_a_tenant_day(world, as_user):
    """A visit at 23:30 Shanghai on 5 Oct is 15:30 UTC: day 5, not 6 (and 00:30 on 6 Oct,
    16:30 UTC on the 5th, is day 6)."""
    t = types(world.tenant_a)
    customer = make_customer(world.tenant_a, world.rep_east)
    make_followup(customer, world.rep_east, kind=t["拜访"], followed_at=at(2026, 10, 5, 23, 30))
    make_followup(customer, world.rep_east, kind=t["拜访"], followed_at=at(2026, 10, 6, 0, 30))
    got = table(page(as_user(world.admin_a), **OCT))[world.rep_east.pk]
    assert got[D5] == (1, 1) and got["2026-10-06"] == (1, 1)
    assert datetime.datetime(2026, 10, 5, 15, 30, tzinfo=datetime.UTC) == at(2026, 10, 5, 23, 30)
