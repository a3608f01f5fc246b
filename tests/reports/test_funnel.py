"""销售漏斗 (reports/funnel.py, reports:funnel): every column of the funnel, the weighted and
the manual forecast against a hand-computed fixture, the stale row, period edges in tenant
time (close dates and creation moments), the data scope per persona, drill-downs that list
exactly the number, the export of each table equal to the page, a fixed number of queries.

The fixture is dated around the tenant's today (the stale row depends on it): the period is
last month, this month and next month."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal
from urllib.parse import urlencode

import openpyxl
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_scopes import scopes_disabled

from crm.models import DataScope
from reports.periods import day_start, month_end, tenant_today
from tests.factories import make_role, make_user
from tests.reports.opportunity_data import lost_reason, make_opportunity, stages

D = Decimal


def page(client, **query):
    response = client.get(f"{reverse('reports:funnel')}?{urlencode(query)}")
    assert response.status_code == 200, response.content.decode()[:800]
    return response


def rows(table) -> dict:
    return {row.key: row.values for row in table.rows}


@pytest.fixture
def pipeline(world):
    """Opportunities of tenant A (amounts in yuan; days = days in the current stage):

    #1 rep_east   初步接洽  10,000  expected this month's end   10 days      not committed
    #2 rep_east   初步接洽  20,000  expected next month's 15th   4 days      committed
    #3 rep_east2  方案/报价 50,000  expected today               6 days      committed
    #4 rep_west   谈判/合同 100,000 expected last month's 1st   30 days      → stale
    #5 rep_east   won       80,000  closed this month's 1st
    #6 rep_west   won       40,000  closed last month's 1st (the period's first day)
    #7 rep_east2  lost      30,000  closed last month's 11th (reason 价格太高)
    #8 rep_east   lost      15,000  closed the day before the period: outside
    #9 rep_east   需求确定   5,000  expected the day after the period: outside
    #10 service_a 需求确定   7,000  expected next month's 6th, 2 days (outside the manager)
    #11 nobody    初步接洽   9,000  expected next month's 2nd (no owner: nobody's)
    #12 tenant B  初步接洽   9,000  never counted
    """
    w = world
    tz = w.tenant_a.tzinfo
    now = timezone.now()
    today = tenant_today(w.tenant_a)
    this = today.replace(day=1)
    last = (this - datetime.timedelta(days=1)).replace(day=1)
    nxt = month_end(today) + datetime.timedelta(days=1)
    s = stages(w.tenant_a)
    first, need, offer, deal = s["open"]
    ago = lambda days: now - datetime.timedelta(days=days)  # noqa: E731
    price = lost_reason(w.tenant_a, "价格太高")
    o = {}
    o[1] = make_opportunity(
        w.rep_east, path=[(first, ago(10))], amount=10000, expected=month_end(today)
    )
    o[2] = make_opportunity(
        w.rep_east,
        path=[(first, ago(4))],
        amount=20000,
        expected=nxt + datetime.timedelta(days=14),
        commit=True,
    )
    o[3] = make_opportunity(
        w.rep_east2,
        path=[(first, ago(20)), (offer, ago(6))],
        amount=50000,
        expected=today,
        commit=True,
    )
    o[4] = make_opportunity(
        w.rep_west, path=[(first, ago(60)), (deal, ago(30))], amount=100000, expected=last
    )
    o[5] = make_opportunity(
        w.rep_east, path=[(first, ago(40)), (s["won"], ago(3))], amount=80000, closed=this
    )
    o[6] = make_opportunity(
        w.rep_west, path=[(first, ago(70)), (s["won"], ago(35))], amount=40000, closed=last
    )
    o[7] = make_opportunity(
        w.rep_east2,
        path=[(first, ago(50)), (s["lost"], ago(25))],
        amount=30000,
        closed=last + datetime.timedelta(days=10),
        reason=price,
    )
    o[8] = make_opportunity(
        w.rep_east,
        path=[(first, ago(90)), (s["lost"], ago(45))],
        amount=15000,
        closed=last - datetime.timedelta(days=1),
        reason=price,
    )
    o[9] = make_opportunity(
        w.rep_east,
        path=[(need, ago(5))],
        amount=5000,
        expected=month_end(nxt) + datetime.timedelta(days=1),
    )
    o[10] = make_opportunity(
        w.service_a, path=[(need, ago(2))], amount=7000, expected=nxt + datetime.timedelta(days=5)
    )
    o[11] = make_opportunity(
        None,
        tenant=w.tenant_a,
        path=[(first, ago(1))],
        amount=9000,
        expected=nxt + datetime.timedelta(days=1),
    )
    sb = stages(w.tenant_b)
    o[12] = make_opportunity(
        w.rep_b, path=[(sb["open"][0], ago(1))], amount=9000, expected=nxt + datetime.timedelta(1)
    )
    w.o, w.s, w.tz, w.today = o, s, tz, today
    w.months = (last, this, nxt)
    w.period = {"preset": "custom", "first": last.isoformat(), "last": month_end(nxt).isoformat()}
    return w


def key(stage) -> str:
    return f"stage-{stage.pk}"


def test_the_count_column(pipeline, as_user):
    w = pipeline
    first, need, offer, deal = w.s["open"]
    got = rows(page(as_user(w.admin_a), **w.period).context["funnel"]["table"])
    counts = {k: v["count"] for k, v in got.items()}
    assert counts == {
        key(first): 2,
        key(need): 1,
        key(offer): 1,
        key(deal): 0,
        "stale": 1,
        "won": 2,
        "lost": 1,
    }
    table = page(as_user(w.admin_a), **w.period).context["funnel"]["table"]
    assert [r.label for r in table.rows] == [
        "初步接洽",
        "需求确定",
        "方案/报价",
        "谈判/合同",
        "Overdue, not closed",
        "赢单",
        "输单",
    ]


def test_the_amount_column(pipeline, as_user):
    w = pipeline
    first, need, offer, deal = w.s["open"]
    got = rows(page(as_user(w.admin_a), **w.period).context["funnel"]["table"])
    assert {k: v["amount"] for k, v in got.items()} == {
        key(first): D("30000.00"),
        key(need): D("7000.00"),
        key(offer): D("50000.00"),
        key(deal): D("0.00"),
        "stale": D("100000.00"),
        "won": D("120000.00"),
        "lost": D("30000.00"),
    }


def test_the_weighted_column_is_amount_times_probability(pipeline, as_user):
    w = pipeline
    first, need, offer, deal = w.s["open"]
    got = rows(page(as_user(w.admin_a), **w.period).context["funnel"]["table"])
    assert {k: v["weighted"] for k, v in got.items()} == {
        key(first): D("3000.00"),  # 30,000 × 10 %
        key(need): D("2100.00"),  # 7,000 × 30 %
        key(offer): D("25000.00"),  # 50,000 × 50 %
        key(deal): D("0.00"),
        "stale": D("80000.00"),  # 100,000 × 80 %
        "won": D("120000.00"),  # × 100 %
        "lost": D("0.00"),  # × 0 %
    }


def test_the_average_days_in_stage_column(pipeline, as_user):
    w = pipeline
    first, need, offer, deal = w.s["open"]
    got = rows(page(as_user(w.admin_a), **w.period).context["funnel"]["table"])
    assert {k: v["days"] for k, v in got.items()} == {
        key(first): D("7.0"),  # (10 + 4) / 2
        key(need): D("2.0"),
        key(offer): D("6.0"),  # since it entered 方案/报价, not since its creation
        key(deal): None,
        "stale": D("30.0"),
        "won": None,
        "lost": None,
    }


def test_the_weighted_forecast_per_month(pipeline, as_user):
    w = pipeline
    last, this, nxt = (f"{m:%Y-%m}" for m in w.months)
    table = page(as_user(w.admin_a), **w.period).context["forecast"]["table"]
    got = rows(table)
    columns = ("won_count", "won_amount", "open_count", "open_amount", "weighted", "forecast")
    assert {k: tuple(v[c] for c in columns) for k, v in got.items()} == {
        # #6 won; #4 is stale: left out
        last: (1, D("40000.00"), 0, D("0.00"), D("0.00"), D("40000.00")),
        # #5 won; #1 and #3 open: 1,000 + 25,000 weighted
        this: (1, D("80000.00"), 2, D("60000.00"), D("26000.00"), D("106000.00")),
        # #2 and #10: 2,000 + 2,100
        nxt: (0, D("0.00"), 2, D("27000.00"), D("4100.00"), D("4100.00")),
    }
    assert tuple(table.total.values[c] for c in columns) == (
        2,
        D("120000.00"),
        4,
        D("87000.00"),
        D("30100.00"),
        D("150100.00"),
    )


def test_the_manual_forecast(pipeline, as_user):
    w = pipeline
    got = rows(page(as_user(w.admin_a), **w.period).context["commit"]["table"])
    assert {k: (v["count"], v["amount"]) for k, v in got.items()} == {
        "pipeline": (2, D("17000.00")),  # #1, #10
        "commit": (2, D("70000.00")),  # #2, #3
        "won": (2, D("120000.00")),  # #5, #6
    }


def test_period_edges_by_close_date(pipeline, as_user):
    w = pipeline
    last = w.months[0]
    client = as_user(w.admin_a)
    # The period's first day: #6 won on it counts, #8 lost the day before does not.
    one_day = {"preset": "custom", "first": last.isoformat(), "last": last.isoformat()}
    got = rows(page(client, **one_day).context["funnel"]["table"])
    assert got["won"]["count"] == 1 and got["lost"]["count"] == 0
    assert got["stale"]["count"] == 1  # #4, expected on that day
    before = last - datetime.timedelta(days=1)
    got = rows(
        page(client, preset="custom", first=before.isoformat(), last=before.isoformat()).context[
            "funnel"
        ]["table"]
    )
    assert (got["won"]["count"], got["lost"]["count"]) == (0, 1)


def test_period_edges_by_creation_moment_are_tenant_days(pipeline, as_user):
    w = pipeline
    first_stage = w.s["open"][0]
    day = w.months[0] - datetime.timedelta(days=40)
    midnight = day_start(day, w.tz)
    expected = w.today + datetime.timedelta(days=3)
    make_opportunity(
        w.rep_east, path=[(first_stage, midnight)], amount=1000, expected=expected
    )  # in
    make_opportunity(
        w.rep_east,
        path=[(first_stage, midnight - datetime.timedelta(seconds=1))],
        amount=2000,
        expected=expected,
    )  # the day before in Shanghai (though the same UTC day)
    make_opportunity(
        w.rep_east,
        path=[(first_stage, midnight + datetime.timedelta(days=1, seconds=-1))],
        amount=4000,
        expected=expected,
    )  # in
    query = {"preset": "custom", "first": day.isoformat(), "last": day.isoformat()}
    got = rows(page(as_user(w.admin_a), **query, basis="created").context["funnel"]["table"])
    assert got[key(first_stage)]["count"] == 2
    assert got[key(first_stage)]["amount"] == D("5000.00")
    assert sum(v["count"] for v in got.values()) == 2


def test_each_persona_sees_its_scope_only(pipeline, as_user):
    w = pipeline
    first, need = w.s["open"][:2]
    manager = page(as_user(w.manager_sales), **w.period).context
    got = rows(manager["funnel"]["table"])
    assert got[key(need)]["count"] == 0  # service_a's #10 is outside the sales department
    assert got[key(first)]["count"] == 2
    assert rows(manager["commit"]["table"])["pipeline"] == {"count": 1, "amount": D("10000.00")}
    with scopes_disabled():
        role = make_role(w.tenant_a, "看报表的代表", DataScope.OWN, ["reports.view"])
        w.rep_east.role = role
        w.rep_east.save(update_fields=["role"])
    rep = page(as_user(w.rep_east), **w.period).context
    got = rows(rep["funnel"]["table"])
    assert {k: v["count"] for k, v in got.items() if v["count"]} == {key(first): 2, "won": 1}
    forecast = rep["forecast"]["table"]
    assert forecast.total.values["forecast"] == D("80000.00") + D("3000.00")
    # A department outside the rep's scope is refused (422), a person too.
    client = as_user(w.rep_east)
    bad = client.get(reverse("reports:funnel"), {**w.period, "person": w.rep_west.pk})
    assert bad.status_code == 422
    # Without reports.view: no page, no drill-down.
    client = as_user(w.rep_west)
    assert client.get(reverse("reports:funnel")).status_code == 403
    assert (
        client.get(reverse("reports:opportunities-list"), {"report": "funnel"}).status_code == 403
    )


def test_the_department_filter_and_only_this_department(pipeline, as_user):
    w = pipeline
    first = w.s["open"][0]
    client = as_user(w.admin_a)
    east = rows(page(client, **w.period, department=w.east.pk).context["funnel"]["table"])
    assert east[key(first)]["count"] == 2 and east["won"]["count"] == 1
    sales_only = rows(
        page(client, **w.period, department=w.sales.pk, only_this_department="on").context[
            "funnel"
        ]["table"]
    )
    assert all(v["count"] == 0 for v in sales_only.values())


def _drill(client, link):
    response = client.get(link)
    assert response.status_code == 200, link
    listed = response.context["opportunities"]
    assert len(listed) == response.context["count"]
    return listed


@pytest.mark.parametrize("basis", ["close", "created"])
def test_every_number_opens_exactly_the_opportunities_it_counts(pipeline, as_user, basis):
    w = pipeline
    client = as_user(w.manager_sales)
    context = page(client, **w.period, basis=basis).context
    checked = 0
    for name in ("funnel", "forecast", "commit"):
        part = context[name]
        table = part["table"]
        for row, cells in [*part["rows"], (table.total, part["total_cells"])]:
            for column, value, link in cells:
                if not link:
                    continue
                listed = _drill(client, link)
                amounts = sum((o.amount for o in listed), D("0.00"))
                weighted = sum((o.weighted_amount for o in listed if o.is_open), D("0.00"))
                assert all(o.owner_id != w.service_a.pk for o in listed)
                k = column.key
                if k in ("count", "won_count", "open_count"):
                    assert len(listed) == value, (name, row.label, k)
                elif k in ("amount", "won_amount", "open_amount"):
                    assert amounts == value, (name, row.label, k)
                elif k == "weighted" and name == "forecast":
                    assert weighted == value, (name, row.label, k)
                elif k == "weighted":
                    assert sum((o.weighted_amount for o in listed), D("0.00")) == value
                elif k == "forecast":
                    won = sum((o.amount for o in listed if o.status == "won"), D("0.00"))
                    assert won + weighted == value
                elif k == "days" and value is not None:
                    assert listed and all(o.is_open for o in listed)
                checked += 1
    assert checked >= 30


def test_a_drill_down_that_is_no_number_or_outside_the_scope_is_a_404(pipeline, as_user):
    w = pipeline
    client = as_user(w.manager_sales)
    url = reverse("reports:opportunities-list")
    base = {**w.period, "report": "funnel", "table": "funnel", "column": "count"}

    def status(**query) -> int:
        return client.get(f"{url}?{urlencode({**base, **query})}").status_code

    assert status(row="won") == 200
    assert status(row="stage-x") == 404
    assert status(row=f"stage-{stages(w.tenant_b)['open'][0].pk}") == 404
    assert status(row="won", column="bogus") == 404
    assert status(row="2026-13", table="forecast") == 404
    assert status(row="won", report="bogus") == 404
    assert status(row="won", user=w.service_a.pk) == 404
    assert status(row="won", person=w.service_a.pk) == 404


@pytest.mark.parametrize("name", ["funnel", "forecast", "commit"])
def test_the_export_is_the_table_as_shown(pipeline, as_user, name):
    w = pipeline
    client = as_user(w.manager_sales)
    shown = page(client, **w.period)
    response = client.post(f"{reverse('reports:funnel')}?{urlencode({**w.period, 'table': name})}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    out = [[c.value for c in r] for r in sheet.iter_rows()]
    assert w.period["first"] in out[0][0] and "By close date" in out[0][0]
    table = shown.context[name]["table"]
    assert out[1][1:] == [str(c.label) for c in table.columns]
    body = {r[0]: r[1:] for r in out[2:]}
    expected = [*table.rows, *([table.total] if table.total else [])]
    assert len(body) == len(expected)
    for row in expected:
        assert [
            None if v is None else D(str(v)) if not isinstance(v, str) else v
            for v in body[row.label]
        ] == [row.values[c.key] for c in table.columns]


def test_the_page_shows_charts_and_a_get_never_exports(pipeline, as_user):
    response = page(as_user(pipeline.admin_a), **pipeline.period)
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert html.count("<svg") >= 2 and 'data-testid="report-chart"' in html
    assert "初步接洽 (2)" in html  # each stage with its count on the chart


def test_the_page_runs_a_fixed_number_of_queries(pipeline, as_user):
    w = pipeline
    client = as_user(w.admin_a)

    def count(basis: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            page(client, **w.period, basis=basis)
        return len(ctx.captured_queries)

    few = {basis: count(basis) for basis in ("close", "created")}
    now = timezone.now()
    for i in range(3):
        rep = make_user(w.tenant_a, f"extra{i}", department=w.west, manager=w.manager_sales)
        for stage in w.s["open"]:
            make_opportunity(
                rep,
                path=[(stage, now - datetime.timedelta(days=i + 1))],
                expected=w.today + datetime.timedelta(days=i),
            )
        make_opportunity(rep, path=[(w.s["won"], now)], closed=w.today, amount=999)
    assert {basis: count(basis) for basis in few} == few


def test_the_report_centre_and_the_menu_list_it(world, as_user):
    html = as_user(world.admin_a).get(reverse("reports:dashboard")).content.decode()
    for name in ("funnel", "stage-advance", "lost-reasons", "deals"):
        assert reverse(f"reports:{name}") in html
