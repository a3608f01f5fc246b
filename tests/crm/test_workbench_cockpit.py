"""The workbench as a cockpit (issue 16, point 5): a KPI row a rep acts on, each number a
link to the list showing exactly its rows; the work lists with "20 / 29" and 写跟进; a
manager's per-rep table inside their data scope; a fixed number of queries. Every number
counts through the data scope and the tenant wall: rows of reps outside the scope, of
another tenant, in the bin and in the pool never count."""

from __future__ import annotations

import datetime
from urllib.parse import urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone
from django_scopes import scopes_disabled

from customers.models import OwnershipEvent
from customers.selectors import today_bounds
from pools.models import PoolGroup
from tests.customers.factories import make_customer, make_followup
from tests.factories import make_user
from tests.pools.factories import DAY, make_group, owned, pooled, set_rules

OLD = timezone.now() - 60 * DAY  # never "this month"


def _today():
    start, _end = today_bounds()
    return start + datetime.timedelta(hours=12)


def _overdue():
    start, _end = today_bounds()
    return start - 2 * DAY


@pytest.fixture
def desk(world):
    """rep_east's desk, their team's (rep_east2, rep_west: the sales manager's scope), one
    person outside that scope (service_a) and another tenant (rep_b), each with rows due
    today and overdue."""
    # The tenant's default public pool (created with the tenant), with rules and a limit.
    with scopes_disabled():
        east_pool = PoolGroup.objects.get(tenant=world.tenant_a, kind="customer", is_default=True)
    set_rules(east_pool, recycle_no_followup_days=30, daily_claim_limit=20)
    # Another group with a rule recycling sooner, of which rep_east owns nothing: it
    # recycles none of their rows.
    make_group(world.tenant_a, "华西公海", departments=[world.west], recycle_no_followup_days=1)
    t = world.tenant_a
    rows = {
        "today": make_customer(t, world.rep_east, "东今日", next_followup_at=_today()),
        "overdue": make_customer(
            t, world.rep_east, "东逾期", next_followup_at=_overdue(), created_at=OLD
        ),
        "later": make_customer(
            t, world.rep_east, "东以后", next_followup_at=_today() + 5 * DAY, created_at=OLD
        ),
        # Recycled within 3 days: owned 28 of 30 days without a follow-up.
        "recycle": owned(
            east_pool,
            world.rep_east,
            "东快掉公海",
            since=timezone.now() - 28 * DAY,
            created_at=OLD,
        ),
        # Not yet: 20 of 30 days.
        "safe": owned(
            east_pool, world.rep_east, "东还早", since=timezone.now() - 20 * DAY, created_at=OLD
        ),
    }
    # In the bin and in the pool: never counted.
    make_customer(
        t, world.rep_east, "东已删除", next_followup_at=_today(), deleted_at=timezone.now()
    )
    pooled(east_pool, "池中客户", next_followup_at=_today())
    # The team, inside the manager's scope.
    make_customer(t, world.rep_east2, "东二今日", next_followup_at=_today())
    make_customer(t, world.rep_east2, "东二逾期", next_followup_at=_overdue(), created_at=OLD)
    make_customer(t, world.rep_west, "西逾期", next_followup_at=_overdue(), created_at=OLD)
    make_customer(t, world.manager_sales, "经理今日", next_followup_at=_today(), created_at=OLD)
    # Outside the scope, and another tenant.
    make_customer(t, world.service_a, "售后今日", next_followup_at=_today())
    make_customer(t, world.service_a, "售后逾期", next_followup_at=_overdue())
    make_customer(world.tenant_b, world.rep_b, "乙今日", next_followup_at=_today())
    make_customer(world.tenant_b, world.rep_b, "乙逾期", next_followup_at=_overdue())
    # Follow-ups: two of rep_east this month, one last month, one by rep_east2.
    make_followup(rows["today"], world.rep_east, "本月一")
    make_followup(rows["overdue"], world.rep_east, "本月二")
    make_followup(rows["later"], world.rep_east, "上月", followed_at=OLD)
    make_followup(rows["today"], world.rep_east2, "同事的")
    # One claim today from the default pool: 19 of 20 left.
    with scopes_disabled():
        OwnershipEvent.objects.create(
            tenant=t,
            customer=rows["safe"],
            kind=OwnershipEvent.Kind.CLAIMED,
            to_user=world.rep_east,
            actor=world.rep_east,
            pool_group=east_pool,
        )
    rows["pool"] = east_pool
    return rows


def _names(response) -> set[str]:
    assert response.status_code == 200
    return {row.name for row in response.context["page"]}


def _kpi_links(html: str) -> dict[str, str]:
    """{data-kpi: href} of the KPI row."""
    import re

    row = html[html.index('data-testid="workbench-kpis"') :]
    row = row[: row.index("</section>")]
    return {
        kpi: href.replace("&amp;", "&")
        for kpi, href in re.findall(r'data-kpi="(\w+)" href="([^"]+)"', row)
    }


def test_the_reps_kpi_row_counts_their_own_rows_only(world, login, desk):
    response = login(world.rep_east).get(reverse("crm:workbench"))
    assert response.status_code == 200
    kpis = next(p for p in response.context["panels"] if p["area"] == "kpi")["context"]
    numbers = kpis["numbers"]
    assert numbers["today"] == 1  # not the bin's, the pool's, a colleague's, tenant B's
    assert numbers["overdue"] == 1
    assert numbers["recycle"] == 1
    assert numbers["new"] == 1  # 东今日 (the others were created 60 days ago)
    assert numbers["followups"] == 2
    assert kpis["claims"]["left"] == 19 and kpis["claims"]["limit"] == 20
    html = response.content.decode()
    # The old stat cards are gone.
    assert "stat-text" not in html and response.context.get("unread_count_card") is None
    assert "写跟进" in html or "Write follow-up" in html


def test_every_kpi_links_to_a_list_of_exactly_its_rows(world, login, desk):
    client = login(world.rep_east)
    links = _kpi_links(client.get(reverse("crm:workbench")).content.decode())
    assert set(links) == {"today", "overdue", "recycle", "new", "followups", "claims"}
    assert _names(client.get(links["today"])) == {"东今日"}
    assert _names(client.get(links["overdue"])) == {"东逾期"}
    assert _names(client.get(links["recycle"])) == {"东快掉公海"}
    assert _names(client.get(links["new"])) == {"东今日"}
    feed = client.get(links["followups"])
    assert feed.status_code == 200
    assert {f.content for f in feed.context["page"]} == {"本月一", "本月二"}
    claims = urlsplit(links["claims"])
    assert claims.path == reverse("customers:pool-list")
    assert claims.query == f"group={desk['pool'].pk}"


def test_the_claims_card_is_hidden_without_a_daily_limit(world, login, desk):
    set_rules(desk["pool"], daily_claim_limit=0)
    links = _kpi_links(login(world.rep_east).get(reverse("crm:workbench")).content.decode())
    assert "claims" not in links


def test_the_recycle_filter_is_the_pool_rules_forecast(world, login, desk):
    client = login(world.rep_east)
    url = reverse("customers:customer-list")
    assert _names(client.get(url, {"view": "mine", "recycle_within": 3})) == {"东快掉公海"}
    assert _names(client.get(url, {"view": "mine", "recycle_within": 15})) == {
        "东快掉公海",
        "东还早",
    }
    # Another tenant's rules never reach tenant A's rows (and the reverse).
    assert _names(login(world.rep_b).get(url, {"view": "mine", "recycle_within": 30})) == set()


def test_a_reps_workbench_has_no_team_table(world, login, desk):
    response = login(world.rep_east).get(reverse("crm:workbench"))
    assert not [p for p in response.context["panels"] if p["area"] == "team"]
    assert 'data-testid="workbench-team"' not in response.content.decode()


def test_the_managers_team_table_holds_the_reps_of_their_scope_only(world, login, desk):
    response = login(world.manager_sales).get(reverse("crm:workbench"))
    team = next(p for p in response.context["panels"] if p["area"] == "team")["context"]
    by_user = {row["user"].username: row for row in team["rows"]}
    assert set(by_user) == {"manager_sales", "rep_east", "rep_east2", "rep_west"}
    counts = {name: (r["today"], r["overdue"], r["new"]) for name, r in by_user.items()}
    assert counts == {
        "manager_sales": (1, 0, 0),
        "rep_east": (1, 1, 1),
        "rep_east2": (1, 1, 1),
        "rep_west": (0, 1, 0),
    }
    # The manager's own KPI row is theirs, not the team's.
    kpis = next(p for p in response.context["panels"] if p["area"] == "kpi")["context"]
    assert (kpis["numbers"]["today"], kpis["numbers"]["overdue"]) == (1, 0)


def test_each_team_number_links_to_exactly_its_rows(world, login, desk):
    client = login(world.manager_sales)
    response = client.get(reverse("crm:workbench"))
    team = next(p for p in response.context["panels"] if p["area"] == "team")["context"]
    url = reverse("customers:customer-list")
    expected = {
        "rep_east": ({"东今日"}, {"东逾期"}, {"东今日"}),
        "rep_east2": ({"东二今日"}, {"东二逾期"}, {"东二今日"}),
        "rep_west": (set(), {"西逾期"}, set()),
        "manager_sales": ({"经理今日"}, set(), set()),
    }
    for row in team["rows"]:
        today, overdue, new = expected[row["user"].username]
        assert _names(client.get(f"{url}?{row['links'].today}")) == today
        assert _names(client.get(f"{url}?{row['links'].overdue}")) == overdue
        assert _names(client.get(f"{url}?{row['links'].new}")) == new
        assert f"?{row['links'].today}".replace("&", "&amp;") in response.content.decode()


def test_the_admins_team_table_covers_the_tenant_not_the_neighbour(world, login, desk):
    response = login(world.admin_a).get(reverse("crm:workbench"))
    team = next(p for p in response.context["panels"] if p["area"] == "team")["context"]
    names = {row["user"].username for row in team["rows"]}
    assert {"service_a", "rep_east", "manager_sales"} <= names
    assert "rep_b" not in names and "admin_b" not in names
    service = next(r for r in team["rows"] if r["user"].username == "service_a")
    assert (service["today"], service["overdue"]) == (1, 1)


def test_lists_show_shown_over_total_with_all_and_write_follow_up(world, login, desk):
    t = world.tenant_a
    for i in range(24):
        make_customer(t, world.rep_east, f"逾期{i:02d}", next_followup_at=_overdue())
    response = login(world.rep_east).get(reverse("crm:workbench"))
    html = response.content.decode()
    count = html[html.index('data-testid="followups-overdue-count"') :]
    assert count[count.index(">") + 1 : count.index("</span>")].strip() == "20 / 25"
    customer = desk["overdue"]
    write = reverse("customers:customer-detail", args=[customer.pk]) + "?tab=followups"
    assert write in html


def _workbench_queries(client) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        assert client.get(reverse("crm:workbench")).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("persona", ["rep_east", "manager_sales"])
def test_the_workbench_runs_a_fixed_number_of_queries(
    world, login, desk, persona, django_assert_num_queries
):
    client = login(getattr(world, persona))
    _workbench_queries(client)  # warm the session and the per-process caches
    expected = _workbench_queries(client)
    # More rows, more follow-ups and more reps in the scope: the same number of queries.
    t = world.tenant_a
    for i in range(6):
        rep = make_user(t, f"rep_more{i}", department=world.east, manager=world.manager_sales)
        make_customer(t, rep, f"多今日{i}", next_followup_at=_today())
        make_customer(t, world.rep_east, f"多逾期{i}", next_followup_at=_overdue())
        make_followup(desk["today"], world.rep_east, f"多跟进{i}")
        owned(desk["pool"], world.rep_east, f"多快掉{i}", since=timezone.now() - 29 * DAY)
    with django_assert_num_queries(expected):
        client.get(reverse("crm:workbench"))
