"""公海分析 (reports/pool.py): each column against a hand-computed fixture, moves between groups
(source found from the customer's history), period edges in tenant time, which groups each
persona sees, drill-downs that list exactly the number, the export equal to the page, a fixed
number of queries."""

from __future__ import annotations

import datetime
import io
import zoneinfo
from urllib.parse import urlencode

import openpyxl
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_scopes import scopes_disabled

from crm.models import DataScope
from customers.models import OwnershipEvent
from pools.services import default_group_for
from tests.customers.factories import make_customer
from tests.factories import make_role
from tests.pools.factories import levels, make_group, pooled

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
K = OwnershipEvent.Kind
OCTOBER = {"preset": "custom", "first": "2026-10-01", "last": "2026-10-31"}


def at(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=SHANGHAI)


def event(tenant, kind, moment, *, group=None, customer=None, to=None, frm=None):
    customer = customer or make_customer(tenant, None)
    with scopes_disabled():
        OwnershipEvent.objects.create(
            tenant=tenant,
            customer=customer,
            kind=kind,
            pool_group=group,
            to_user=to,
            from_user=frm,
            created_at=moment,
        )
    return customer


@pytest.fixture
def pools(world):
    """Groups of tenant A: 全员 (open to all), 华东 (the east department), 售后 (service_a);
    tenant B: 乙 (open to all). October (Shanghai) in 华东: +1 returned, +1 imported, +1
    created in the pool, −1 claimed, −1 assigned, −1 moved out (to 全员), −1 deleted; in 全员:
    +1 recycled (1 Oct 07:00, still 30 Sep in UTC), +2 moved in (from 华东, and one
    initialised from no group); in 售后: +1 returned. Outside: a return on 30 Sep 23:30 and
    one on 1 Nov 00:00, an owned import, an owned customer's deletion, tenant B's return.
    Stock now: 华东 2 × level A (10 and 20 days) + 1 without level (3 days), a deleted and an
    owned one not counted; 全员 1 × level B (5 days); 售后 none; tenant B 1."""
    w = world
    a = w.tenant_a
    w.g_all = make_group(a, "全员公海", open_to_all=True)
    w.g_east = make_group(a, "华东公海", departments=[w.east])
    w.g_service = make_group(a, "售后公海", users=[w.service_a])
    w.g_b = make_group(w.tenant_b, "乙公海", open_to_all=True)
    # Every tenant has its default group (open to all; empty here).
    w.g_default = default_group_for(a.pk, "customer")
    w.g_default_b = default_group_for(w.tenant_b.pk, "customer")
    east, everyone = w.g_east, w.g_all
    event(a, K.RETURNED, at(2026, 10, 1, 0, 0), group=east, frm=w.rep_east)
    event(a, K.RETURNED, at(2026, 9, 30, 23, 30), group=east, frm=w.rep_east)
    event(a, K.RETURNED, at(2026, 11, 1, 0, 0), group=east, frm=w.rep_east)
    imported = event(a, K.IMPORTED, at(2026, 10, 6, 10, 0), group=east)
    event(a, K.IMPORTED, at(2026, 10, 6, 10, 0), to=w.rep_east)  # imported for a rep
    created = event(a, K.CREATED, at(2026, 10, 7, 10, 0), group=east)
    event(a, K.CLAIMED, at(2026, 10, 10, 10, 0), group=east, to=w.rep_east)
    event(a, K.ASSIGNED, at(2026, 10, 11, 10, 0), group=east, to=w.rep_east2)
    event(a, K.MOVED, at(2026, 10, 12, 10, 0), group=everyone, customer=imported)
    event(a, K.DELETED, at(2026, 10, 13, 10, 0), customer=created)
    event(a, K.DELETED, at(2026, 10, 13, 10, 0), frm=w.rep_east)  # an owned customer
    event(a, K.MOVED, at(2026, 10, 14, 10, 0), group=everyone)  # initialised: no source
    event(a, K.RECYCLED, at(2026, 10, 1, 7, 0), group=everyone, frm=w.rep_west)
    event(a, K.RETURNED, at(2026, 10, 15, 10, 0), group=w.g_service, frm=w.service_a)
    event(w.tenant_b, K.RETURNED, at(2026, 10, 15, 10, 0), group=w.g_b, frm=w.rep_b)

    level_a, level_b = levels(a)[:2]
    w.level_a, w.level_b = level_a, level_b
    now = timezone.now()
    day = datetime.timedelta(days=1)
    pooled(east, at=now - 10 * day, level=level_a)
    pooled(east, at=now - 20 * day, level=level_a)
    pooled(east, at=now - 3 * day)
    pooled(east, at=now - 3 * day, level=level_a, deleted_at=now)
    make_customer(a, w.rep_east, pool_group=east, owned_since=now)
    pooled(everyone, at=now - 5 * day, level=level_b)
    pooled(w.g_b, at=now - 5 * day)
    return w


def page(client, **query):
    response = client.get(f"{reverse('reports:pool')}?{urlencode(query)}")
    assert response.status_code == 200, response.content.decode()[:500]
    return response


def table(response) -> dict:
    """{group id or 'total': {column key: value}} of the page's table."""
    t = response.context["table"]
    out = {row.key: row.values for row in t.rows}
    out["total"] = t.total.values
    return out


def test_each_entering_and_leaving_column(pools, as_user):
    w = pools
    got = table(page(as_user(w.admin_a), **OCTOBER))
    east = got[w.g_east.pk]
    assert east["in:returned"] == 1 and east["in:imported"] == 1 and east["in:created"] == 1
    assert east["in:recycled"] == 0 and east["in:moved"] == 0 and east["in"] == 3
    assert east["out:claimed"] == 1 and east["out:assigned"] == 1
    assert east["out:moved"] == 1 and east["out:deleted"] == 1 and east["out"] == 4
    everyone = got[w.g_all.pk]
    assert everyone["in:recycled"] == 1 and everyone["in:moved"] == 2 and everyone["in"] == 3
    assert everyone["out"] == 0 and everyone["out:moved"] == 0
    service = got[w.g_service.pk]
    assert service["in:returned"] == 1 and service["in"] == 1 and service["out"] == 0
    assert got["total"]["in"] == 7 and got["total"]["out"] == 4
    assert got["total"]["in:moved"] == 2 and got["total"]["out:moved"] == 1
    # Nothing was restored: that column is not shown.
    assert "in:restored" not in got["total"]


def test_the_stock_per_level_and_the_average_days(pools, as_user):
    w = pools
    response = page(as_user(w.admin_a), **OCTOBER)
    got = table(response)
    a, b = str(w.level_a.pk), str(w.level_b.pk)
    east = got[w.g_east.pk]
    assert east["stock"] == 3 and east[f"stock:{a}"] == 2 and east["stock:none"] == 1
    assert east[f"stock:{b}"] == 0
    assert east["days"] == 11.0  # (10 + 20 + 3) / 3
    assert got[w.g_all.pk]["stock"] == 1 and got[w.g_all.pk][f"stock:{b}"] == 1
    assert got[w.g_all.pk]["days"] == 5.0
    assert got[w.g_service.pk]["stock"] == 0 and got[w.g_service.pk]["days"] is None
    assert got["total"]["stock"] == 4 and got["total"]["days"] == 9.5  # 38 / 4
    # One column per level of the tenant (in their order), then 未分级.
    keys = [c.key for c in response.context["table"].columns if c.key.startswith("stock:")]
    assert keys == [f"stock:{o.pk}" for o in levels(w.tenant_a)] + ["stock:none"]
    # The stock is today's, whatever the period.
    assert table(page(as_user(w.admin_a), preset="this_month"))["total"]["stock"] == 4


def test_period_edges_are_tenant_days(pools, as_user):
    w = pools
    client = as_user(w.admin_a)
    september = table(page(client, preset="custom", first="2026-09-30", last="2026-09-30"))
    # The return at 23:30 on 30 Sep; the recycling at 07:00 on 1 Oct is October's.
    assert september[w.g_east.pk]["in:returned"] == 1 and september["total"]["in"] == 1
    november = table(page(client, preset="custom", first="2026-11-01", last="2026-11-01"))
    assert november[w.g_east.pk]["in:returned"] == 1 and november["total"]["in"] == 1


def test_a_restored_pooled_customer_enters_again(pools, as_user):
    w = pools
    with scopes_disabled():
        deleted = OwnershipEvent.objects.get(kind=K.DELETED, from_user__isnull=True).customer
    event(w.tenant_a, K.RESTORED, at(2026, 10, 20, 10, 0), customer=deleted)
    got = table(page(as_user(w.admin_a), **OCTOBER))
    assert got[w.g_east.pk]["in:restored"] == 1 and got[w.g_east.pk]["in"] == 4


def test_each_persona_sees_the_groups_open_to_them(pools, as_user):
    w = pools
    admin = table(page(as_user(w.admin_a), **OCTOBER))
    assert set(admin) == {w.g_default.pk, w.g_all.pk, w.g_east.pk, w.g_service.pk, "total"}
    # A rep granted the reports: the groups open to them (all, their department's).
    with scopes_disabled():
        role = make_role(w.tenant_a, "看报表的代表", DataScope.OWN, ["reports.view"])
        w.rep_east.role = role
        w.rep_east.save(update_fields=["role"])
        w.rep_west.role = role
        w.rep_west.save(update_fields=["role"])
    east = table(page(as_user(w.rep_east), **OCTOBER))
    assert set(east) == {w.g_default.pk, w.g_all.pk, w.g_east.pk, "total"}
    assert east["total"]["in"] == 6 and east["total"]["out"] == 4 and east["total"]["stock"] == 4
    west = table(page(as_user(w.rep_west), **OCTOBER))
    assert set(west) == {w.g_default.pk, w.g_all.pk, "total"}
    # 全员's move in from 华东 counts for 全员; 华东's side stays out of sight.
    assert west["total"]["in"] == 3 and west["total"]["out"] == 0
    assert west["total"]["stock"] == 1
    # Tenant B's admin: their group only.
    b = table(page(as_user(w.admin_b), **OCTOBER))
    assert (
        set(b) == {w.g_default_b.pk, w.g_b.pk, "total"}
        and b["total"]["in"] == 1
        and b["total"]["stock"] == 1
    )
    # Without the permission: no page.
    assert as_user(w.rep_east2).get(reverse("reports:pool")).status_code == 403


def _every_link(response):
    for row, cells in [*response.context["rows"], (None, response.context["total_cells"])]:
        for column, value, link in cells:
            if link:
                yield row, column, value, link


@pytest.mark.parametrize("persona", ["admin_a", "rep_east"])
def test_every_number_opens_exactly_the_rows_it_counts(pools, as_user, persona):
    w = pools
    with scopes_disabled():
        role = make_role(w.tenant_a, "看报表的代表", DataScope.OWN, ["reports.view"])
        w.rep_east.role = role
        w.rep_east.save(update_fields=["role"])
    client = as_user(getattr(w, persona))
    response = page(client, **OCTOBER)
    checked = 0
    for row, column, value, link in _every_link(response):
        drill = client.get(link)
        assert drill.status_code == 200, link
        assert drill.context["count"] == value, (column.key, row and row.label, value)
        assert len(drill.context["items"]) == value
        checked += 1
    assert checked > 40


def test_a_stock_drill_down_lists_the_customers(pools, as_user):
    w = pools
    client = as_user(w.admin_a)
    url = reverse("reports:pool-events")
    query = {**OCTOBER, "side": "stock", "column": str(w.level_a.pk), "group": w.g_east.pk}
    drill = client.get(f"{url}?{urlencode(query)}")
    assert drill.context["count"] == 2
    assert sorted(c.days_in_pool for c in drill.context["items"]) == [10.0, 20.0]
    assert all(c.pool_group_id == w.g_east.pk for c in drill.context["items"])


def test_a_drill_down_outside_the_viewer_s_groups_is_a_404(pools, as_user):
    w = pools
    with scopes_disabled():
        role = make_role(w.tenant_a, "看报表的代表", DataScope.OWN, ["reports.view"])
        w.rep_west.role = role
        w.rep_west.save(update_fields=["role"])
    url = reverse("reports:pool-events")
    query = {**OCTOBER, "side": "in", "column": "returned"}
    rep = as_user(w.rep_west)
    assert rep.get(f"{url}?{urlencode({**query, 'group': w.g_east.pk})}").status_code == 404
    assert rep.get(f"{url}?{urlencode({**query, 'group': w.g_all.pk})}").status_code == 200
    admin = as_user(w.admin_a)
    assert admin.get(f"{url}?{urlencode({**query, 'group': w.g_b.pk})}").status_code == 404
    for bad in (
        {"side": "sideways"},
        {"column": "stolen"},
        {"side": "stock", "column": "999999"},
        {"group": "x"},
    ):
        assert admin.get(f"{url}?{urlencode({**query, **bad})}").status_code == 404, bad
    # Another tenant's level is not a column here.
    with scopes_disabled():
        other = levels(w.tenant_b)[0]
    stock = {**query, "side": "stock", "column": other.pk}
    assert admin.get(f"{url}?{urlencode(stock)}").status_code == 404
    # A rep's unfiltered drill-down counts only their groups.
    drill = rep.get(f"{url}?{urlencode({**OCTOBER, 'side': 'out', 'column': 'moved'})}")
    assert drill.context["count"] == 0


def test_a_bad_period_is_a_422_with_a_message(pools, as_user):
    url = reverse("reports:pool")
    response = as_user(pools.admin_a).get(
        f"{url}?{urlencode({'preset': 'custom', 'first': '2026-10-31', 'last': '2026-10-01'})}"
    )
    assert response.status_code == 422
    assert response.context["form"].errors["last"]


def test_the_export_is_the_table_as_shown(pools, as_user):
    w = pools
    client = as_user(w.admin_a)
    shown = page(client, **OCTOBER)
    response = client.post(f"{reverse('reports:pool')}?{urlencode(OCTOBER)}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = [[c.value for c in r] for r in sheet.iter_rows()]
    assert "2026-10-01" in rows[0][0] and "2026-10-31" in rows[0][0]
    t = shown.context["table"]
    assert rows[1][1:] == [str(c.label) for c in t.columns]
    body = {r[0]: r[1:] for r in rows[2:]}
    assert len(body) == len(t.rows) + 1
    for row in [*t.rows, t.total]:
        assert body[row.label] == [row.values[c.key] for c in t.columns]


def test_the_chart_shows_entered_and_left_per_group(pools, as_user):
    html = page(as_user(pools.admin_a), **OCTOBER).content.decode()
    assert "<svg" in html and "华东公海" in html
    assert 'data-testid="report-chart"' in html


def test_the_page_runs_a_fixed_number_of_queries(pools, as_user):
    w = pools
    client = as_user(w.admin_a)
    url = f"{reverse('reports:pool')}?{urlencode(OCTOBER)}"
    client.get(url)  # warm the session and caches

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    few = count()
    for n in range(4):
        group = make_group(w.tenant_a, f"新公海{n}", open_to_all=True)
        for day in (2, 3):
            customer = event(w.tenant_a, K.RETURNED, at(2026, 10, day, 9, 0), group=group)
            event(w.tenant_a, K.MOVED, at(2026, 10, day, 10, 0), group=w.g_east, customer=customer)
            event(w.tenant_a, K.CLAIMED, at(2026, 10, day, 11, 0), group=w.g_east)
            pooled(group, at=timezone.now(), level=w.level_b)
    many = table(page(client, **OCTOBER))
    assert len(many) == 4 + 4 + 1 and many[w.g_east.pk]["in:moved"] == 8
    assert count() == few


def test_the_grouped_counts_classify_every_event_as_the_drill_downs_case(world):
    """The table counts grouped rows classified in Python (reports.pool.event_counts); the
    drill-downs filter the SQL CASE (pool_events). Both come from the same rules: every
    kind, with and without a group and owners on either side, lands in the same column and
    group both ways."""
    from reports import pool as report
    from reports.periods import resolve

    a = world.tenant_a
    east = make_group(a, "华东公海")
    west = make_group(a, "华西公海")
    user = world.rep_east
    moment = at(2026, 10, 10, 9, 0)
    for kind in K.values:
        for group in (None, west):
            for to, frm in ((None, None), (user, None), (None, user)):
                customer = make_customer(a, None)
                # An earlier event naming 华东: the previous group of moves and deletions.
                event(a, K.RETURNED, at(2026, 9, 1, 9, 0), group=east, customer=customer)
                event(a, kind, moment, group=group, customer=customer, to=to, frm=frm)
    period = resolve(
        "custom",
        datetime.date(2026, 12, 1),
        datetime.date(2026, 10, 1),
        datetime.date(2026, 10, 31),
    )
    ids = [east.pk, west.pk]
    with scopes_disabled():
        grouped = report.event_counts(tenant_id=a.pk, period=period, tz=SHANGHAI, group_ids=ids)
        by_case: dict[tuple, int] = {}
        rows = report.pool_events(tenant_id=a.pk, period=period, tz=SHANGHAI)
        for side in ("in", "out"):
            for r in rows.filter(**{f"{side}_column__isnull": False, f"{side}_group__in": ids}):
                key = (side, getattr(r, f"{side}_column"), getattr(r, f"{side}_group"))
                by_case[key] = by_case.get(key, 0) + 1
    assert dict(grouped) == by_case
    assert ("out", "moved", east.pk) in by_case and ("in", "restored", east.pk) in by_case
    assert ("out", "deleted", east.pk) in by_case and ("in", "returned", west.pk) in by_case
