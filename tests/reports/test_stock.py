"""增量 / 存量对比 (reports/stock_report.py, reports/stock.py): increments from the field
changes, stock live today and from the day's snapshot before, the lifecycle filter, scope,
drill-downs equal to their numbers, the export equal to the page."""

from __future__ import annotations

import datetime
import io
import zoneinfo
from urllib.parse import urlencode

import openpyxl
import pytest
from django.urls import reverse
from django.utils import timezone
from django_scopes import scopes_disabled

from crm.models import Option
from customers.models import CustomerAttrEvent
from reports import stock, summary
from reports.models import DailyCount
from tests.customers.factories import make_customer

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
OCTOBER = {"preset": "custom", "first": "2026-10-01", "last": "2026-10-31"}


def at(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=SHANGHAI)


def statuses(tenant) -> dict[str, Option]:
    with scopes_disabled():
        return {o.label: o for o in Option.objects.filter(tenant=tenant, kind="customer_status")}


def change(customer, owner, value, moment, lifecycle="development", field="status"):
    with scopes_disabled():
        CustomerAttrEvent.objects.create(
            tenant_id=customer.tenant_id,
            customer=customer,
            field=field,
            old_value="",
            new_value=str(value),
            owner=owner,
            lifecycle=lifecycle,
            at=moment,
        )


@pytest.fixture
def data(world):
    """October: rep_east's customers A and B entered status s1, C entered s2 (signed); rep_west's
    D entered s1 on 30 Sep 23:30 (September in Shanghai). Now: rep_east owns A, B (s1) and C
    (s2, signed); rep_west owns D (s1). Tenant B: one customer in its own s1."""
    a = world.tenant_a
    s1, s2 = list(statuses(a).values())[:2]
    A = make_customer(a, world.rep_east, "甲", status=s1)
    B = make_customer(a, world.rep_east, "乙", status=s1)
    C = make_customer(a, world.rep_east, "丙", status=s2, lifecycle="signed")
    D = make_customer(a, world.rep_west, "丁", status=s1)
    change(A, world.rep_east, s1.pk, at(2026, 10, 1, 0, 0))
    change(B, world.rep_east, s1.pk, at(2026, 10, 31, 23, 59))
    change(C, world.rep_east, s2.pk, at(2026, 10, 15, 9, 0), lifecycle="signed")
    change(D, world.rep_west, s1.pk, at(2026, 9, 30, 23, 30))
    b_status = next(iter(statuses(world.tenant_b).values()))
    E = make_customer(world.tenant_b, world.rep_b, "戊", status=b_status)
    change(E, world.rep_b, b_status.pk, at(2026, 10, 5, 9, 0))
    with scopes_disabled():
        for tenant in (world.tenant_a, world.tenant_b):
            summary.refresh(tenant.pk, datetime.date(2026, 9, 1), datetime.date(2026, 11, 30))
    world.s1, world.s2 = s1, s2
    return world


def page(client, **query):
    response = client.get(f"{reverse('reports:stock')}?{urlencode(query)}")
    assert response.status_code == 200, response.content.decode()[:500]
    return response


def values(response) -> dict:
    t = response.context["table"]
    out = {row.key: row.values for row in t.rows}
    out["total"] = t.total.values
    return out


def test_increments_per_person_and_value_with_the_lifecycle_at_the_change(data, as_user):
    w, s1, s2 = data, data.s1, data.s2
    client = as_user(w.admin_a)
    dev = values(page(client, **OCTOBER))
    assert dev[w.rep_east.pk][f"in:{s1.pk}"] == 2
    assert dev[w.rep_east.pk][f"in:{s2.pk}"] == 0  # C changed as a signed customer
    assert w.rep_west.pk not in dev or dev[w.rep_west.pk][f"in:{s1.pk}"] == 0
    assert dev["total"][f"in:{s1.pk}"] == 2
    everything = values(page(client, **OCTOBER, lifecycle="all"))
    assert everything[w.rep_east.pk][f"in:{s2.pk}"] == 1
    september = values(page(client, preset="custom", first="2026-09-30", last="2026-09-30"))
    assert september[w.rep_west.pk][f"in:{s1.pk}"] == 1


def test_the_stock_of_a_period_ending_today_is_live(data, as_user):
    w, s1, s2 = data, data.s1, data.s2
    got = values(page(as_user(w.admin_a), preset="this_month", lifecycle="all"))
    assert got[w.rep_east.pk][f"stock:{s1.pk}"] == 2
    assert got[w.rep_east.pk][f"stock:{s2.pk}"] == 1
    assert got[w.rep_west.pk][f"stock:{s1.pk}"] == 1
    assert got["total"][f"stock:{s1.pk}"] == 3
    dev = values(page(as_user(w.admin_a), preset="this_month"))
    assert dev[w.rep_east.pk][f"stock:{s2.pk}"] == 0  # C is signed now


def test_a_past_period_reads_the_snapshot_of_its_last_day_or_says_there_is_none(data, as_user):
    w, s1 = data, data.s1
    client = as_user(w.admin_a)
    response = page(client, **OCTOBER)
    assert response.context["has_stock"] is False
    assert values(response)["total"][f"stock:{s1.pk}"] is None
    assert "—" in response.content.decode()
    with scopes_disabled():
        # The snapshot taken on 31 October (the day's last refresh), with today's data.
        stock.snapshot(w.tenant_a.pk, datetime.date(2026, 10, 31))
        DailyCount.objects.filter(
            tenant=w.tenant_a, day=datetime.date(2026, 10, 31), user=w.rep_west
        ).update(value=7)
    got = values(page(client, **OCTOBER))
    assert got[w.rep_east.pk][f"stock:{s1.pk}"] == 2
    assert got[w.rep_west.pk][f"stock:{s1.pk}"] == 7
    # The reconciliation recomputes summaries, never a snapshot it cannot recompute.
    with scopes_disabled():
        summary.reconcile(w.tenant_a.pk, datetime.date(2026, 10, 1), datetime.date(2026, 10, 31))
    assert values(page(client, **OCTOBER))[w.rep_west.pk][f"stock:{s1.pk}"] == 7


def test_the_tag_dimension(world, as_user):
    from customers.models import CustomerTag, Tag

    with scopes_disabled():
        vip = Tag.objects.create(tenant=world.tenant_a, name="VIP")
    customer = make_customer(world.tenant_a, world.rep_east)
    with scopes_disabled():
        CustomerTag.objects.create(tenant=world.tenant_a, customer=customer, tag=vip)
    change(customer, world.rep_east, vip.pk, timezone.now(), field="tag")
    got = values(page(as_user(world.admin_a), preset="today", dimension="tag"))
    assert got[world.rep_east.pk] == {f"in:{vip.pk}": 1, f"stock:{vip.pk}": 1}


def test_each_persona_sees_its_scope_only(data, as_user):
    w = data
    manager = values(page(as_user(w.manager_sales), preset="this_month", lifecycle="all"))
    assert set(manager) - {"total"} <= {
        w.rep_east.pk,
        w.rep_east2.pk,
        w.rep_west.pk,
        w.manager_sales.pk,
    }
    assert w.rep_b.pk not in manager
    assert as_user(w.rep_east).get(reverse("reports:stock")).status_code == 403


def test_every_number_opens_exactly_its_rows(data, as_user):
    w = data
    client = as_user(w.manager_sales)
    checked = 0
    for query in (OCTOBER, {"preset": "this_month", "lifecycle": "all"}):
        response = page(client, **query)
        for _row, cells in [*response.context["rows"], (None, response.context["total_cells"])]:
            for column, value, link in cells:
                if not link:
                    continue
                drill = client.get(link)
                assert drill.status_code == 200
                assert drill.context["count"] == value, (column.key, value)
                checked += 1
    assert checked > 10
    url = reverse("reports:stock-rows")
    outside = {**OCTOBER, "kind": "in", "value": data.s1.pk, "user": w.service_a.pk}
    assert client.get(f"{url}?{urlencode(outside)}").status_code == 404
    assert client.get(f"{url}?{urlencode({**outside, 'user': w.rep_b.pk})}").status_code == 404


def test_the_export_is_the_table_as_shown(data, as_user):
    w = data
    client = as_user(w.admin_a)
    query = {"preset": "this_month", "lifecycle": "all"}
    shown = page(client, **query).context["table"]
    response = client.post(f"{reverse('reports:stock')}?{urlencode(query)}")
    rows = [
        [c.value for c in r]
        for r in openpyxl.load_workbook(io.BytesIO(response.content)).active.iter_rows()
    ]
    assert rows[1][1:] == [str(c.label) for c in shown.columns]
    body = {r[0]: r[1:] for r in rows[2:]}
    for row in [*shown.rows, shown.total]:
        assert body[row.label] == [row.values[c.key] for c in shown.columns]
