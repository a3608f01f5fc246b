"""跟进动态统计 (reports/followups.py): each column against a hand-computed fixture, the three
objects, period edges in tenant time, the data scope per persona, drill-downs that list
exactly the number, the export equal to the page, a fixed number of queries."""

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

from crm.models import DataScope, Option, OptionKind
from customers.models import FollowUp
from tests.customers.factories import make_customer, make_followup
from tests.factories import make_role
from tests.leads.factories import make_lead

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
OCTOBER = {"preset": "custom", "first": "2026-10-01", "last": "2026-10-31"}


def at(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=SHANGHAI)


def types(tenant) -> dict[str, Option]:
    with scopes_disabled():
        return {
            o.label: o for o in Option.objects.filter(tenant=tenant, kind=OptionKind.FOLLOWUP_TYPE)
        }


def lead_followup(lead, author, moment, kind=None, customer=None):
    with scopes_disabled():
        return FollowUp.objects.create(
            tenant_id=lead.tenant_id,
            record=lead,
            customer=customer,
            counts_as=FollowUp.LEAD,
            created_by=author,
            content="线索跟进",
            followed_at=moment,
            kind=kind,
        )


@pytest.fixture
def october(world):
    """Development view, October (Shanghai):
    rep_east: d1 电话 ×2 (one at 1 Oct 00:00), d2 拜访, d2 微信 (31 Oct 23:59), d1 no type
      → 总量 5/2; 电话 2/1, 拜访 1/1, 微信 1/1, 未分类 1/1. Also: d1 电话 on 30 Sep 23:30 and
      on 1 Nov 00:00 (other months), a deleted customer's 电话, s1 (signed) 电话,
      leads: L1 电话 ×2, L3 (converted into d1) 电话 → leads view 3/2.
    rep_west: d3 电话, d1 拜访 (rep_east's customer: counts for its author) → 2/2.
    rep_east2: d5 QQ (a type deactivated since) → 1/1; 邮件 deactivated, no data: hidden.
    service_a: d4 电话 → 1/1.  Tenant B: one 电话.
    总计: 总量 9 / 5 (d1 is counted once), 电话 4/3, 拜访 2/2, 微信 1/1, QQ 1/1, 未分类 1/1."""
    w = world
    t = types(w.tenant_a)
    with scopes_disabled():
        Option.objects.filter(pk__in=[t["QQ"].pk, t["邮件"].pk]).update(is_active=False)
    e, west = w.rep_east, w.rep_west
    d1 = make_customer(w.tenant_a, e, "开发一")
    d2 = make_customer(w.tenant_a, e, "开发二")
    s1 = make_customer(w.tenant_a, e, "签约一", lifecycle="signed")
    gone = make_customer(w.tenant_a, e, "已删除", deleted_at=timezone.now())
    d3 = make_customer(w.tenant_a, west, "开发三")
    d4 = make_customer(w.tenant_a, w.service_a, "开发四")
    d5 = make_customer(w.tenant_a, w.rep_east2, "开发五")
    fu = make_followup
    fu(d1, e, kind=t["电话"], followed_at=at(2026, 10, 1, 0, 0))
    fu(d1, e, kind=t["电话"], followed_at=at(2026, 10, 5, 10, 0))
    fu(d2, e, kind=t["拜访"], followed_at=at(2026, 10, 5, 11, 0))
    fu(d2, e, kind=t["微信"], followed_at=at(2026, 10, 31, 23, 59))
    fu(d1, e, followed_at=at(2026, 10, 6, 10, 0))
    fu(d1, e, kind=t["电话"], followed_at=at(2026, 9, 30, 23, 30))
    fu(d1, e, kind=t["电话"], followed_at=at(2026, 11, 1, 0, 0))
    fu(gone, e, kind=t["电话"], followed_at=at(2026, 10, 5, 12, 0))
    fu(s1, e, kind=t["电话"], followed_at=at(2026, 10, 5, 9, 0))
    fu(d3, west, kind=t["电话"], followed_at=at(2026, 10, 5, 9, 0))
    fu(d1, west, kind=t["拜访"], followed_at=at(2026, 10, 8, 9, 0))
    fu(d5, w.rep_east2, kind=t["QQ"], followed_at=at(2026, 10, 10, 9, 0))
    fu(d4, w.service_a, kind=t["电话"], followed_at=at(2026, 10, 9, 9, 0))
    l1 = make_lead(w.tenant_a, e)
    l3 = make_lead(w.tenant_a, e, customer=d1)
    lead_followup(l1, e, at(2026, 10, 2, 9, 0), t["电话"])
    lead_followup(l1, e, at(2026, 10, 3, 9, 0), t["电话"])
    lead_followup(l3, e, at(2026, 10, 4, 9, 0), t["电话"], customer=d1)
    b = make_customer(w.tenant_b, w.rep_b)
    fu(b, w.rep_b, kind=types(w.tenant_b)["电话"], followed_at=at(2026, 10, 5, 9, 0))
    w.types = t
    return w


def page(client, **query):
    response = client.get(f"{reverse('reports:followups')}?{urlencode(query)}")
    assert response.status_code == 200, response.content.decode()[:500]
    return response


def table(response) -> dict:
    """{user_id or 'total': {group key: (times, subjects)}} of the page."""
    out = {}
    for row, pairs in [*response.context["rows"], (None, response.context["total_pairs"])]:
        out[row.key if row else "total"] = {g.key: (n, c) for g, n, _l, c, _m in pairs}
    return out


def test_each_column_of_the_development_view(october, as_user):
    w, t = october, october.types
    got = table(page(as_user(w.admin_a), **OCTOBER))
    east = got[w.rep_east.pk]
    assert east["total"] == (5, 2)
    assert east[str(t["电话"].pk)] == (2, 1)
    assert east[str(t["拜访"].pk)] == (1, 1)
    assert east[str(t["微信"].pk)] == (1, 1)
    assert east["none"] == (1, 1)
    assert east[str(t["其他"].pk)] == (0, 0)
    assert got[w.rep_west.pk]["total"] == (2, 2)
    assert got[w.rep_west.pk][str(t["拜访"].pk)] == (1, 1)
    assert got[w.rep_east2.pk][str(t["QQ"].pk)] == (1, 1)
    assert got[w.service_a.pk]["total"] == (1, 1)
    assert w.rep_b.pk not in got


def test_totals_recount_the_customers(october, as_user):
    w, t = october, october.types
    total = table(page(as_user(w.admin_a), **OCTOBER))["total"]
    # d1 has follow-ups of rep_east and rep_west: one customer in the total, not two.
    assert total["total"] == (9, 5)
    assert total[str(t["电话"].pk)] == (4, 3)
    assert total[str(t["拜访"].pk)] == (2, 2)
    assert total[str(t["微信"].pk)] == (1, 1)
    assert total["none"] == (1, 1)


def test_columns_are_the_active_types_in_order_and_inactive_ones_with_data(october, as_user):
    w, t = october, october.types
    response = page(as_user(w.admin_a), **OCTOBER)
    labels = [g.label for g in response.context["pair_groups"]]
    assert labels == ["Total", "电话", "拜访", "微信", "QQ", "其他", "No type"]
    assert str(t["邮件"].pk) not in table(response)["total"]


def test_the_signed_and_lead_views(october, as_user):
    w, t = october, october.types
    client = as_user(w.admin_a)
    signed = table(page(client, **OCTOBER, object="signed"))
    assert signed[w.rep_east.pk]["total"] == (1, 1)
    assert signed["total"]["total"] == (1, 1)
    leads = page(client, **OCTOBER, object="leads")
    got = table(leads)
    # L1 twice, and L3's follow-up: a lead follow-up even once the lead became d1.
    assert got[w.rep_east.pk]["total"] == (3, 2)
    assert got[w.rep_east.pk][str(t["电话"].pk)] == (3, 2)
    assert got["total"]["total"] == (3, 2)
    assert "Leads followed" in [c.label.split(" ", 1)[1] for c in leads.context["table"].columns]


def test_period_edges_are_tenant_days(october, as_user):
    w, t = october, october.types
    client = as_user(w.admin_a)
    first = table(page(client, preset="custom", first="2026-10-01", last="2026-10-01"))
    assert first[w.rep_east.pk]["total"] == (1, 1)  # 00:00 Shanghai is 30 Sep 16:00 UTC
    september = table(page(client, preset="custom", first="2026-09-30", last="2026-09-30"))
    assert september[w.rep_east.pk]["total"] == (1, 1)
    last = table(page(client, preset="custom", first="2026-10-31", last="2026-10-31"))
    assert last[w.rep_east.pk][str(t["微信"].pk)] == (1, 1)
    november = table(page(client, preset="custom", first="2026-11-01", last="2026-11-01"))
    assert november[w.rep_east.pk]["total"] == (1, 1)


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
    assert manager["total"]["total"] == (8, 4)  # without service_a's d4
    with scopes_disabled():
        role = make_role(w.tenant_a, "看报表的代表", DataScope.OWN, ["reports.view"])
        w.rep_east.role = role
        w.rep_east.save(update_fields=["role"])
    rep = table(page(as_user(w.rep_east), **OCTOBER))
    assert set(rep) == {w.rep_east.pk, "total"}
    assert rep["total"]["total"] == (5, 2)
    assert as_user(w.rep_west).get(reverse("reports:followups")).status_code == 403
    b = table(page(as_user(w.admin_b), **OCTOBER))
    assert b["total"]["total"] == (1, 1)


@pytest.mark.parametrize("obj", ["development", "signed", "leads"])
def test_every_number_opens_exactly_what_it_counts(october, as_user, obj):
    client = as_user(october.manager_sales)
    response = page(client, **OCTOBER, object=obj)
    checked = 0
    for _row, pairs in [*response.context["rows"], (None, response.context["total_pairs"])]:
        for g, n, n_link, c, c_link in pairs:
            for value, link, listed in ((n, n_link, "followups"), (c, c_link, "subjects")):
                drill = client.get(link)
                assert drill.status_code == 200
                assert drill.context["count"] == value, (g.key, link)
                assert len(drill.context[listed]) == value
                checked += 1
    assert checked >= 2 * 7 * 2


def test_a_drill_down_lists_subject_time_type_author_and_content(october, as_user):
    w, t = october, october.types
    client = as_user(w.admin_a)
    query = {**OCTOBER, "type": t["电话"].pk, "measure": "n", "user": w.rep_east.pk}
    drill = client.get(f"{reverse('reports:followups-list')}?{urlencode(query)}")
    html = drill.content.decode()
    assert drill.context["count"] == 2
    assert "开发一" in html and "rep_east" in html
    rows = drill.context["followups"]
    assert {f.customer.name for f, _s in rows} == {"开发一"}
    assert all(f.kind_id == t["电话"].pk and f.created_by_id == w.rep_east.pk for f, _s in rows)
    assert "2026-10-05 10:00" in html and "电话沟通" in html


def test_a_drill_down_outside_the_scope_is_a_404(october, as_user):
    w = october
    url = reverse("reports:followups-list")
    client = as_user(w.manager_sales)
    query = {**OCTOBER, "type": "total", "measure": "n"}
    assert client.get(f"{url}?{urlencode({**query, 'user': w.service_a.pk})}").status_code == 404
    assert client.get(f"{url}?{urlencode({**query, 'user': w.rep_b.pk})}").status_code == 404
    assert client.get(f"{url}?{urlencode({**query, 'type': 'x'})}").status_code == 404
    assert client.get(f"{url}?{urlencode({**query, 'measure': 'x'})}").status_code == 404
    b_type = types(w.tenant_b)["电话"].pk
    assert client.get(f"{url}?{urlencode({**query, 'type': b_type})}").status_code == 404
    assert client.get(f"{url}?{urlencode({**query, 'user': w.rep_east.pk})}").status_code == 200


def test_the_export_is_the_table_as_shown(october, as_user):
    w = october
    client = as_user(w.manager_sales)
    shown = page(client, **OCTOBER)
    response = client.post(f"{reverse('reports:followups')}?{urlencode(OCTOBER)}")
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = [[c.value for c in r] for r in sheet.iter_rows()]
    assert "2026-10-01" in rows[0][0] and "Development customers" in rows[0][0]
    t = shown.context["table"]
    assert rows[1][1:3] == ["Total Times", "Total Customers followed"]
    assert rows[1][1:] == [str(c.label) for c in t.columns]
    body = {r[0]: r[1:] for r in rows[2:]}
    for row in t.rows:
        assert body[row.label] == [row.values[c.key] for c in t.columns]
    assert body[t.total.label] == [t.total.values[c.key] for c in t.columns]
    assert body[t.total.label][:2] == [8, 4]


def test_the_page_runs_a_fixed_number_of_queries(world, as_user):
    client = as_user(world.admin_a)
    t = types(world.tenant_a)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            page(client, **OCTOBER)
            page(client, **OCTOBER, object="leads")
        return len(ctx.captured_queries)

    count()  # warm caches (content types, session)
    few = count()
    for rep in (world.rep_east, world.rep_west, world.rep_east2, world.service_a):
        for label in ("电话", "拜访", "QQ"):
            customer = make_customer(world.tenant_a, rep)
            make_followup(customer, rep, kind=t[label], followed_at=at(2026, 10, 2, 9, 0))
            lead_followup(make_lead(world.tenant_a, rep), rep, at(2026, 10, 3, 9, 0), t[label])
    assert count() == few
