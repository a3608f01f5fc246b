"""客户增量统计 (reports/increment.py): each column against a hand-computed fixture, the
lifecycle views, period edges in tenant time, the data scope per persona, drill-downs that
list exactly the number, the export equal to the page, a fixed number of queries."""

from __future__ import annotations

import datetime
import io
import zoneinfo
from urllib.parse import urlencode

import openpyxl
import pytest
from django.urls import reverse
from django_scopes import scopes_disabled

from crm.models import DataScope
from customers.models import OwnershipEvent
from reports import summary
from tests.customers.factories import make_customer
from tests.factories import make_role

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
K = OwnershipEvent.Kind
DEV, SIGNED = "development", "signed"
OCTOBER = {"preset": "custom", "first": "2026-10-01", "last": "2026-10-31"}


def at(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=SHANGHAI)


def event(world, kind, moment, *, to=None, frm=None, lifecycle=DEV, tenant=None, owner=None):
    tenant = tenant or world.tenant_a
    customer = make_customer(tenant, owner or to or frm)
    with scopes_disabled():
        return OwnershipEvent.objects.create(
            tenant=tenant,
            customer=customer,
            kind=kind,
            to_user=to,
            from_user=frm,
            lifecycle=lifecycle,
            created_at=moment,
        )


@pytest.fixture
def october(world):
    """rep_east: +2 created, +1 claimed, +1 transferred from rep_west, −1 returned, −1
    became signed; rep_west: −1 transferred away, −1 recycled (a signed customer), one
    created on 30 Sep 23:30 (September in Shanghai, though 15:30 UTC); rep_east2 (east, no
    manager rights): +1 imported; service_a (another department): +1 created. Tenant B: +1."""
    e, w = world.rep_east, world.rep_west
    event(world, K.CREATED, at(2026, 10, 1, 0, 0), to=e)
    event(world, K.CREATED, at(2026, 10, 31, 23, 59), to=e)
    event(world, K.CLAIMED, at(2026, 10, 2, 10, 0), to=e)
    event(world, K.TRANSFERRED, at(2026, 10, 3, 10, 0), to=e, frm=w)
    event(world, K.RETURNED, at(2026, 10, 5, 10, 0), frm=e)
    event(world, K.BECAME_SIGNED, at(2026, 10, 6, 10, 0), to=e, frm=e)
    event(world, K.RECYCLED, at(2026, 10, 7, 10, 0), frm=w, lifecycle=SIGNED)
    event(world, K.CREATED, at(2026, 9, 30, 23, 30), to=w)
    event(world, K.IMPORTED, at(2026, 10, 8, 10, 0), to=world.rep_east2)
    event(world, K.CREATED, at(2026, 10, 9, 10, 0), to=world.service_a)
    event(world, K.CREATED, at(2026, 10, 9, 10, 0), to=world.rep_b, tenant=world.tenant_b)
    with scopes_disabled():
        for tenant in (world.tenant_a, world.tenant_b):
            summary.refresh(tenant.pk, datetime.date(2026, 9, 1), datetime.date(2026, 11, 30))
    return world


def page(client, **query):
    response = client.get(f"{reverse('reports:increment')}?{urlencode(query)}")
    assert response.status_code == 200, response.content.decode()[:500]
    return response


def table(response) -> dict:
    """{user_id or 'total': {column key: value}} of the page's table."""
    t = response.context["table"]
    out = {row.key: row.values for row in t.rows}
    out["total"] = t.total.values
    return out


def test_each_column_of_the_development_view(october, as_user):
    w = october
    got = table(page(as_user(w.admin_a), **OCTOBER))
    east = got[w.rep_east.pk]
    assert east["in:created"] == 2 and east["in:pool"] == 1 and east["in:transferred"] == 1
    assert east["in:imported"] == 0 and east["in:converted"] == 0 and east["in:signed_back"] == 0
    assert east["in"] == 4
    assert east["out:returned"] == 1 and east["out:became_signed"] == 1
    assert east["out:recycled"] == 0 and east["out"] == 2
    west = got[w.rep_west.pk]
    # The signed customer's recycling is not a development figure; September's creation is
    # not October's.
    assert west["out:transferred"] == 1 and west["out"] == 1 and west["in"] == 0
    assert got[w.rep_east2.pk]["in:imported"] == 1
    assert got[w.service_a.pk]["in:created"] == 1
    assert got["total"]["in"] == 4 + 1 + 1 and got["total"]["out"] == 3
    assert w.rep_b.pk not in got
    # The restored column is hidden while nobody has one.
    assert "in:restored" not in got["total"]


def test_the_signed_and_all_views(october, as_user):
    w = october
    client = as_user(w.admin_a)
    signed = table(page(client, **OCTOBER, lifecycle="signed"))
    assert signed[w.rep_west.pk]["out:recycled"] == 1
    assert signed["total"]["in"] == 0 and signed["total"]["out"] == 1
    assert "out:became_signed" not in signed["total"] and "in:signed_back" not in signed["total"]
    everything = table(page(client, **OCTOBER, lifecycle="all"))
    assert everything[w.rep_west.pk]["out"] == 2  # transferred + recycled
    assert everything[w.rep_east.pk]["out"] == 1  # returned; becoming signed is no loss here


def test_the_net_view_is_gains_minus_losses(october, as_user):
    w = october
    got = table(page(as_user(w.admin_a), **OCTOBER, mode="net"))
    assert got[w.rep_east.pk]["net"] == 4 - 2
    assert got[w.rep_west.pk]["net"] == -1
    assert got["total"]["net"] == 6 - 3


def test_period_edges_are_tenant_days(october, as_user):
    w = october
    september = {"preset": "custom", "first": "2026-09-30", "last": "2026-09-30"}
    got = table(page(as_user(w.admin_a), **september))
    assert got[w.rep_west.pk]["in:created"] == 1
    assert got["total"]["in"] == 1


def test_each_persona_sees_its_scope_only(october, as_user):
    w = october
    manager = table(page(as_user(w.manager_sales), **OCTOBER))
    assert set(manager) - {"total"} <= {
        w.rep_east.pk,
        w.rep_east2.pk,
        w.rep_west.pk,
        w.manager_sales.pk,
    }
    assert w.service_a.pk not in manager
    assert manager["total"]["in"] == 4 + 1
    # A rep granted the reports sees their own row only, and totals of their own.
    with scopes_disabled():
        role = make_role(w.tenant_a, "看报表的代表", DataScope.OWN, ["reports.view"])
        w.rep_east.role = role
        w.rep_east.save(update_fields=["role"])
    rep = table(page(as_user(w.rep_east), **OCTOBER))
    assert set(rep) == {w.rep_east.pk, "total"}
    assert rep["total"]["in"] == 4
    # Without the permission: no page.
    response = as_user(w.rep_west).get(reverse("reports:increment"))
    assert response.status_code == 403


def test_every_number_opens_exactly_the_events_it_counts(october, as_user):
    w = october
    client = as_user(w.manager_sales)
    response = page(client, **OCTOBER)
    checked = 0
    for row, cells in [*response.context["rows"], (None, response.context["total_cells"])]:
        for column, value, link in cells:
            if not link:
                continue
            drill = client.get(link)
            assert drill.status_code == 200
            assert drill.context["count"] == value, (column.key, row and row.label, value)
            assert len(drill.context["events"]) == value
            checked += 1
    assert checked > 20


def test_a_drill_down_for_someone_outside_the_scope_is_a_404(october, as_user):
    w = october
    query = {**OCTOBER, "side": "in", "column": "created"}
    client = as_user(w.manager_sales)
    url = reverse("reports:increment-events")
    assert client.get(f"{url}?{urlencode({**query, 'user': w.service_a.pk})}").status_code == 404
    assert client.get(f"{url}?{urlencode({**query, 'user': w.rep_b.pk})}").status_code == 404
    assert client.get(f"{url}?{urlencode({**query, 'side': 'sideways'})}").status_code == 404
    assert client.get(f"{url}?{urlencode({**query, 'user': w.rep_east.pk})}").status_code == 200


def test_the_export_is_the_table_as_shown(october, as_user):
    w = october
    client = as_user(w.manager_sales)
    shown = page(client, **OCTOBER)
    response = client.post(f"{reverse('reports:increment')}?{urlencode(OCTOBER)}")
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = [[c.value for c in r] for r in sheet.iter_rows()]
    # The first line names the filters (this client reads English).
    assert "2026-10-01" in rows[0][0] and "Development customers" in rows[0][0]
    header = rows[1]
    t = shown.context["table"]
    assert header[1:] == [str(c.label) for c in t.columns]
    body = {r[0]: r[1:] for r in rows[2:]}
    for row in t.rows:
        assert body[row.label] == [row.values[c.key] for c in t.columns]
    assert body[t.total.label] == [t.total.values[c.key] for c in t.columns]


def test_an_export_needs_a_post_and_a_get_shows_the_page(october, as_user):
    response = page(as_user(october.admin_a), **OCTOBER)
    assert response["Content-Type"].startswith("text/html")


def test_today_counts_at_once_without_waiting_for_the_beat(world, as_user):
    from django.utils import timezone

    event(world, K.CREATED, timezone.now(), to=world.rep_east)
    got = table(page(as_user(world.admin_a), preset="today"))
    assert got[world.rep_east.pk]["in:created"] == 1


def test_the_page_runs_a_fixed_number_of_queries(world, as_user, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = as_user(world.admin_a)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            page(client, **OCTOBER)
        return len(ctx.captured_queries)

    few = count()
    for rep in (world.rep_east, world.rep_west, world.rep_east2, world.service_a):
        for moment in (at(2026, 10, 2, 9, 0), at(2026, 10, 3, 9, 0)):
            event(world, K.CREATED, moment, to=rep)
            event(world, K.RETURNED, moment, frm=rep)
    with scopes_disabled():
        summary.refresh(world.tenant_a.pk, datetime.date(2026, 10, 1), datetime.date(2026, 10, 31))
    assert count() == few
