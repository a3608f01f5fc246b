"""销售阶段推进, 丢单原因分析, 平均客单价 / 平均销售周期 (reports/opportunities.py): every
column against a hand-computed fixture, period edges in tenant time, the data scope per
persona, drill-downs equal to the numbers, exports equal to the pages, fixed query counts.

Times are days before now (the dwell of a stage an opportunity is still in runs up to now)."""

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
from crm.tenancy import tenant_scope
from opportunities.services import opportunities as services
from reports.periods import day_start, tenant_today
from tests.customers.factories import make_customer
from tests.factories import make_role, make_user
from tests.reports.opportunity_data import lost_reason, make_opportunity, stages

D = Decimal


def get(client, name, **query):
    response = client.get(f"{reverse(f'reports:{name}')}?{urlencode(query)}")
    assert response.status_code == 200, response.content.decode()[:800]
    return response


def values(response, columns) -> dict:
    table = response.context["table"]
    out = {row.key: tuple(row.values[c] for c in columns) for row in table.rows}
    if table.total is not None:
        out["total"] = tuple(table.total.values[c] for c in columns)
    return out


@pytest.fixture
def deals(world):
    """Opportunities of tenant A; stages A 初步接洽, B 需求确定, C 方案/报价, D 谈判/合同,
    W 赢单, L 输单; "@n": entered n days ago. Period: the last 60 days.

    P1 rep_east   A@50 B@40 C@30 W@20   100,000 won (created 50 days ago)
    P2 rep_east   A@50 C@44 L@30         40,000 lost at C, 价格太高
    P3 rep_east2  A@45 B@41 (still B)    20,000
    P4 rep_west   A@40 L@36              10,000 lost at A, 预算不足
    P5 rep_east2  A@30 B@20 A@10 (back)   5,000
    P6 rep_west   A@100 L@5               8,000 lost without a reason, created before
    P7 service_a  A@20                    3,000 (outside the sales manager's scope)
    P8 rep_east2  A@100 W@50             60,000 won, created before the period
    P9 tenant B   A@20 W@10                       never counted
    """
    w = world
    now = timezone.now()
    today = tenant_today(w.tenant_a)
    s = stages(w.tenant_a)
    a, b, c, _d = s["open"]
    won, lost = s["won"], s["lost"]

    def ago(days):
        return now - datetime.timedelta(days=days)

    def day(days):
        return today - datetime.timedelta(days=days)

    price, budget = lost_reason(w.tenant_a, "价格太高"), lost_reason(w.tenant_a, "预算不足")
    p = {}
    p[1] = make_opportunity(
        w.rep_east,
        path=[(a, ago(50)), (b, ago(40)), (c, ago(30)), (won, ago(20))],
        amount=100000,
        closed=day(20),
    )
    p[2] = make_opportunity(
        w.rep_east,
        path=[(a, ago(50)), (c, ago(44)), (lost, ago(30))],
        amount=40000,
        closed=day(30),
        reason=price,
    )
    p[3] = make_opportunity(w.rep_east2, path=[(a, ago(45)), (b, ago(41))], amount=20000)
    p[4] = make_opportunity(
        w.rep_west,
        path=[(a, ago(40)), (lost, ago(36))],
        amount=10000,
        closed=day(36),
        reason=budget,
    )
    p[5] = make_opportunity(
        w.rep_east2, path=[(a, ago(30)), (b, ago(20)), (a, ago(10))], amount=5000
    )
    p[6] = make_opportunity(
        w.rep_west, path=[(a, ago(100)), (lost, ago(5))], amount=8000, closed=day(5)
    )
    p[7] = make_opportunity(w.service_a, path=[(a, ago(20))], amount=3000)
    p[8] = make_opportunity(
        w.rep_east2, path=[(a, ago(100)), (won, ago(50))], amount=60000, closed=day(50)
    )
    sb = stages(w.tenant_b)
    make_opportunity(
        w.rep_b,
        path=[(sb["open"][0], ago(20)), (sb["won"], ago(10))],
        amount=1,
        closed=day(10),
    )
    w.p, w.s, w.today, w.now = p, s, today, now
    w.reasons = (price, budget)
    w.period = {"preset": "custom", "first": day(60).isoformat(), "last": today.isoformat()}
    return w


ADVANCE = ("reached", "staying", "lost", "loss_rate", "dwell", "conversion")


def test_stage_advancement_every_column(deals, as_user):
    w = deals
    a, b, c, d = w.s["open"]
    got = values(get(as_user(w.admin_a), "stage-advance", **w.period), ADVANCE)
    assert got == {
        # reached: furthest stage ever entered (P1 5 won, P2 C, P3 B, P4 A, P5 B, P7 A)
        a.pk: (6, 2, 1, "16.7%", D("9.1"), "66.7%"),  # dwell 10+6+4+4+10+10+20 = 64 / 7
        b.pk: (4, 1, 0, "0.0%", D("20.3"), "50.0%"),  # 10 + 41 + 10 = 61 / 3
        c.pk: (2, 0, 1, "50.0%", D("12.0"), "50.0%"),  # 10 + 14 = 24 / 2
        d.pk: (1, 0, 0, "0.0%", None, "100.0%"),  # P1 skipped D: reached through won
        w.s["won"].pk: (1, None, None, None, None, None),
    }


def test_stage_advancement_scope_per_persona(deals, as_user):
    w = deals
    a, b, c, _d = w.s["open"]
    manager = values(get(as_user(w.manager_sales), "stage-advance", **w.period), ADVANCE)
    assert manager[a.pk][:3] == (5, 1, 1)  # without service_a's P7
    with scopes_disabled():
        role = make_role(w.tenant_a, "看报表的代表", DataScope.OWN, ["reports.view"])
        w.rep_east.role = role
        w.rep_east.save(update_fields=["role"])
    rep = values(get(as_user(w.rep_east), "stage-advance", **w.period), ADVANCE)
    assert rep[a.pk][:4] == (2, 0, 0, "0.0%")
    assert rep[c.pk][:4] == (2, 0, 1, "50.0%")
    assert rep[b.pk][0] == 2  # P1 (won) and P2 (C) are past B, though P2 skipped it


def test_stage_advancement_cohort_edges_are_tenant_days(deals, as_user):
    w = deals
    a = w.s["open"][0]
    first = datetime.date(2025, 3, 1)
    midnight = day_start(first, w.tenant_a.tzinfo)
    make_opportunity(w.rep_east, path=[(a, midnight)], amount=1)
    make_opportunity(w.rep_east, path=[(a, midnight - datetime.timedelta(seconds=1))], amount=1)
    query = {"preset": "custom", "first": "2025-03-01", "last": "2025-03-31"}
    got = values(get(as_user(w.admin_a), "stage-advance", **query), ADVANCE)
    assert got[a.pk][:2] == (1, 1)


LOST = ("count", "count_share", "amount", "amount_share")


def test_lost_reasons_every_column(deals, as_user):
    w = deals
    price, budget = w.reasons
    response = get(as_user(w.admin_a), "lost-reasons", **w.period)
    assert values(response, LOST) == {
        price.pk: (1, "33.3%", D("40000.00"), "69.0%"),
        budget.pk: (1, "33.3%", D("10000.00"), "17.2%"),
        "none": (1, "33.3%", D("8000.00"), "13.8%"),  # P6: lost in the period, no reason
        "total": (3, "100.0%", D("58000.00"), "100.0%"),
    }
    assert [r.label for r in response.context["table"].rows] == [
        "价格太高",
        "预算不足",
        "No reason given",
    ]


def test_lost_reasons_period_edges_and_scope(deals, as_user):
    w = deals
    price, _budget = w.reasons
    client = as_user(w.manager_sales)
    on = (w.today - datetime.timedelta(days=30)).isoformat()
    after = (w.today - datetime.timedelta(days=29)).isoformat()
    got = values(get(client, "lost-reasons", preset="custom", first=on, last=on), LOST)
    assert got == {price.pk: (1, "100.0%", D("40000.00"), "100.0%"), "total": got["total"]}
    got = values(get(client, "lost-reasons", preset="custom", first=after, last=after), LOST)
    assert got == {"total": (0, "—", D("0.00"), "—")}


DEAL = ("count", "amount", "deal_size", "cycle")


def test_deal_size_and_sales_cycle_per_person_month_and_quarter(deals, as_user):
    w = deals
    client = as_user(w.admin_a)
    person = values(get(client, "deals", **w.period, group="person"), DEAL)
    assert person[w.rep_east.pk] == (1, D("100000.00"), D("100000.00"), D("30.0"))
    assert person[w.rep_east2.pk] == (1, D("60000.00"), D("60000.00"), D("50.0"))
    assert person[w.rep_west.pk] == (0, D("0.00"), None, None)
    assert person["total"] == (2, D("160000.00"), D("80000.00"), D("40.0"))
    month = values(get(client, "deals", **w.period, group="month"), DEAL)
    p1, p8 = (w.today - datetime.timedelta(days=n) for n in (20, 50))
    if p1.month == p8.month:
        assert month[f"{p1:%Y-%m}"] == (2, D("160000.00"), D("80000.00"), D("40.0"))
    else:
        assert month[f"{p1:%Y-%m}"] == (1, D("100000.00"), D("100000.00"), D("30.0"))
        assert month[f"{p8:%Y-%m}"] == (1, D("60000.00"), D("60000.00"), D("50.0"))
    assert month["total"] == person["total"]
    quarter = values(get(client, "deals", **w.period, group="quarter"), DEAL)
    assert quarter["total"] == person["total"]
    assert sum(v[0] for k, v in quarter.items() if k != "total") == 2


def test_deal_size_default_period_is_this_year_and_carried_into_links(deals, as_user):
    w = deals
    response = get(as_user(w.admin_a), "deals")
    link = response.context["table"].total.links["count"]
    assert "preset=this_year" in link


def _check_links(client, response, check):
    context = response.context
    table = context["table"]
    checked = 0
    cells = [*context["rows"]]
    if table.total is not None:
        cells.append((table.total, context["total_cells"]))
    for row, row_cells in cells:
        for column, value, link in row_cells:
            if not link:
                continue
            drill = client.get(link)
            assert drill.status_code == 200, link
            listed = drill.context["opportunities"]
            assert drill.context["count"] == len(listed)
            check(column.key, value, listed, row)
            checked += 1
    return checked


def test_every_number_opens_exactly_what_it_counts(deals, as_user):
    w = deals
    client = as_user(w.manager_sales)
    tz = w.tenant_a.tzinfo

    def advance(key, value, listed, row):
        assert all(o.owner_id != w.service_a.pk for o in listed)
        if key == "dwell":  # the opportunities that entered the stage: the average's parts
            assert bool(listed) == (value is not None)
        else:
            assert len(listed) == value, (row.label, key)

    def lost(key, value, listed, row):
        if key == "count":
            assert len(listed) == value
        else:
            assert sum((o.amount for o in listed), D("0.00")) == value
        assert {o.status for o in listed} == {"lost"}

    def deal(key, value, listed, row):
        n = len(listed)
        amount = sum((o.amount for o in listed), D("0.00"))
        if key == "count":
            assert n == value
        elif key == "amount":
            assert amount == value
        elif not n:
            assert value is None
        elif key == "deal_size":
            assert (amount / n).quantize(D("0.01")) == value
        else:
            days = sum((o.closed_date - o.created_at.astimezone(tz).date()).days for o in listed)
            assert D(days / n).quantize(D("0.1")) == value

    assert _check_links(client, get(client, "stage-advance", **w.period), advance) >= 12
    assert _check_links(client, get(client, "lost-reasons", **w.period), lost) >= 4
    for group in ("month", "quarter", "person"):
        response = get(client, "deals", **w.period, group=group)
        assert _check_links(client, response, deal) >= 4


def test_drill_downs_outside_the_numbers_or_the_scope_are_404(deals, as_user):
    w = deals
    client = as_user(w.manager_sales)
    url = reverse("reports:opportunities-list")

    def status(**query) -> int:
        return client.get(f"{url}?{urlencode({**w.period, **query})}").status_code

    a = w.s["open"][0]
    other_stage = stages(w.tenant_b)["open"][0]
    assert status(report="advance", column="reached", row=a.pk) == 200
    assert status(report="advance", column="reached", row=other_stage.pk) == 404
    assert status(report="advance", column="loss_rate", row=a.pk) == 404
    assert status(report="advance", column="reached", row="x") == 404
    assert status(report="lost", column="count", row="none") == 200
    other_reason = lost_reason(w.tenant_b, "价格太高")
    assert status(report="lost", column="count", row=other_reason.pk) == 404
    assert status(report="lost", column="count_share") == 404
    assert status(report="deals", group="person", column="count", row=w.rep_east.pk) == 200
    assert status(report="deals", group="person", column="count", row=w.service_a.pk) == 404
    assert status(report="deals", group="person", column="count", row=w.rep_b.pk) == 404
    assert status(report="deals", group="month", column="count", row="2026-13") == 404
    assert status(report="deals", group="quarter", column="count", row="2026-Q5") == 404


@pytest.mark.parametrize(
    ("name", "extra"),
    [("stage-advance", {}), ("lost-reasons", {}), ("deals", {"group": "person"})],
)
def test_the_export_is_the_table_as_shown(deals, as_user, name, extra):
    w = deals
    client = as_user(w.manager_sales)
    query = {**w.period, **extra}
    shown = get(client, name, **query)
    response = client.post(f"{reverse(f'reports:{name}')}?{urlencode(query)}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    out = [[c.value for c in r] for r in sheet.iter_rows()]
    assert w.period["first"] in out[0][0]
    table = shown.context["table"]
    assert out[1][1:] == [str(c.label) for c in table.columns]
    expected = [*table.rows, *([table.total] if table.total else [])]
    assert len(out) - 2 == len(expected)
    for got, row in zip(out[2:], expected, strict=True):
        assert got[0] == row.label
        assert [None if v is None else v if isinstance(v, str) else D(str(v)) for v in got[1:]] == [
            row.values[c.key] for c in table.columns
        ]
    html = shown.content.decode()
    assert 'data-testid="report-chart"' in html and "<svg" in html


@pytest.mark.parametrize(
    ("name", "extra"),
    [("stage-advance", {}), ("lost-reasons", {}), ("deals", {"group": "person"})],
)
def test_each_page_runs_a_fixed_number_of_queries(deals, as_user, name, extra):
    w = deals
    client = as_user(w.admin_a)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            get(client, name, **w.period, **extra)
        return len(ctx.captured_queries)

    few = count()
    a, b = w.s["open"][:2]
    now = timezone.now()
    for i in range(3):
        rep = make_user(w.tenant_a, f"extra{i}", department=w.west, manager=w.manager_sales)
        reason = lost_reason(w.tenant_a, f"原因{i}")
        for _ in range(2):
            make_opportunity(
                rep,
                path=[(a, now - datetime.timedelta(days=9)), (b, now - datetime.timedelta(days=3))],
            )
            make_opportunity(
                rep,
                path=[(a, now - datetime.timedelta(days=9)), (w.s["lost"], now)],
                closed=w.today,
                reason=reason,
            )
            make_opportunity(
                rep,
                path=[(a, now - datetime.timedelta(days=9)), (w.s["won"], now)],
                closed=w.today,
            )
    assert count() == few


def test_without_reports_view_no_page(deals, as_user):
    client = as_user(deals.rep_west)
    for name in ("stage-advance", "lost-reasons", "deals"):
        assert client.get(reverse(f"reports:{name}")).status_code == 403


def test_the_services_history_is_what_the_analyses_read(world, as_user):
    """An opportunity moved and lost through the services (not the fixture's rows): the
    advancement finds where it was lost and how long it stayed, the funnel its lost row."""
    w = world
    s = stages(w.tenant_a)
    offer = s["open"][2]
    price = lost_reason(w.tenant_a, "价格太高")
    with scopes_disabled():
        customer = make_customer(w.tenant_a, w.rep_east)
    with tenant_scope(w.tenant_a.pk):
        opp = services.opportunity_create(
            actor=w.rep_east,
            customer=customer,
            data={
                "name": "两台电动叉车",
                "amount": "50000",
                "expected_close_date": tenant_today(w.tenant_a),
            },
        )
        opp = services.opportunity_stage_change(actor=w.rep_east, opportunity=opp, stage=offer)
        services.opportunity_lose(actor=w.rep_east, opportunity=opp, reason=price)
    query = {"preset": "today"}
    client = as_user(w.manager_sales)
    got = values(get(client, "stage-advance", **query), ADVANCE)
    assert got[offer.pk][:3] == (1, 0, 1)  # reached, none staying, lost there
    assert got[offer.pk][4] is not None
    assert got[s["open"][0].pk][:3] == (1, 0, 0)  # passed through the first stage
    lost = values(get(client, "lost-reasons", **query), LOST)
    assert lost[price.pk][:3] == (1, "100.0%", D("50000.00"))
    funnel = get(client, "funnel", **query).context["funnel"]["table"]
    assert {row.key: row.values["count"] for row in funnel.rows}["lost"] == 1


def test_stage_advancement_vs_the_whole_company(deals, as_user):
    """An administrator who narrows the report to a department sees the whole tenant's
    reached, loss rate and conversion beside (VS 全公司); each opens its opportunities. A
    manager (scope: their department) never gets the columns."""
    w = deals
    a, _b, c, _d = w.s["open"]
    client = as_user(w.admin_a)
    whole = values(get(client, "stage-advance", **w.period), ADVANCE)
    response = get(client, "stage-advance", **w.period, department=w.east.pk)
    table = response.context["table"]
    assert [col.key for col in table.columns][-3:] == [
        "company_reached",
        "company_loss_rate",
        "company_conversion",
    ]
    got = {row.key: row.values for row in table.rows}
    assert got[a.pk]["reached"] == 4  # P1, P2 (rep_east), P3, P5 (rep_east2)
    for stage_id, figures in whole.items():
        assert got[stage_id]["company_reached"] == figures[0]
        if figures[3] is not None:
            assert got[stage_id]["company_loss_rate"] == figures[3]
            assert got[stage_id]["company_conversion"] == figures[5]
    drill = client.get(next(r for r in table.rows if r.key == c.pk).links["company_reached"])
    assert drill.context["count"] == whole[c.pk][0] == 2
    assert "department" not in drill.request["QUERY_STRING"]
    plain = get(as_user(w.manager_sales), "stage-advance", **w.period, department=w.east.pk)
    assert "company_reached" not in [col.key for col in plain.context["table"].columns]
    assert "company_reached" not in [
        col.key for col in get(client, "stage-advance", **w.period).context["table"].columns
    ]
