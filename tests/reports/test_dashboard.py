"""The report centre (/reports/) and the workbench block of today's follow-ups: the same
figures as the reports for today, 我的 or 团队, each number opening exactly its rows."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone
from django_scopes import scopes_disabled

from crm.models import DataScope
from crm.tenancy import tenant_scope
from customers import services
from tests.customers.factories import make_customer, make_followup
from tests.factories import make_role
from tests.leads.factories import make_lead
from tests.reports.test_followups import lead_followup, types


@pytest.fixture
def today(world):
    """Today: rep_east calls a development customer twice and visits a signed one, and calls
    a lead; rep_west writes a typeless follow-up; service_a (another department) a visit;
    yesterday's follow-up never counts. Tenant B: a call."""
    t = types(world.tenant_a)
    now = timezone.now()
    dev = make_customer(world.tenant_a, world.rep_east, "开发甲")
    signed = make_customer(world.tenant_a, world.rep_east, "签约乙", lifecycle="signed")
    make_followup(dev, world.rep_east, followed_at=now, kind=t["电话"])
    make_followup(dev, world.rep_east, followed_at=now, kind=t["电话"])
    make_followup(signed, world.rep_east, followed_at=now, kind=t["拜访"])
    lead_followup(make_lead(world.tenant_a, world.rep_east), world.rep_east, now, t["电话"])
    make_followup(make_customer(world.tenant_a, world.rep_west), world.rep_west, followed_at=now)
    make_followup(
        make_customer(world.tenant_a, world.service_a),
        world.service_a,
        followed_at=now,
        kind=t["拜访"],
    )
    make_followup(dev, world.rep_east, followed_at=now - datetime.timedelta(days=2))
    b = types(world.tenant_b)
    make_followup(
        make_customer(world.tenant_b, world.rep_b), world.rep_b, followed_at=now, kind=b["电话"]
    )
    return world


def cells(response) -> dict:
    """{(row, object index): (times, subjects)}"""
    return {
        (key, i): (c.times, c.subjects)
        for key, _label, row in response.context["followups"]
        for i, c in enumerate(row)
    }


def test_the_team_view_counts_the_scope_and_every_number_opens_its_rows(today, as_user):
    w = today
    client = as_user(w.manager_sales)
    response = client.get(reverse("reports:dashboard"))
    assert response.status_code == 200
    got = cells(response)
    assert got[("all", 0)] == (3, 2)  # two calls on 开发甲, rep_west's typeless one
    assert got[("phone", 0)] == (2, 1)
    assert got[("visit", 1)] == (1, 1)  # the signed customer; service_a is not the team
    assert got[("visit", 2)] == (None, None)  # leads are never visited
    assert got[("phone", 2)] == (1, 1)
    checked = 0
    for _key, _label, row in response.context["followups"]:
        for c in row:
            for number, link in ((c.times, c.link_times), (c.subjects, c.link_subjects)):
                if link:
                    drill = client.get(link)
                    assert drill.status_code == 200, link
                    assert drill.context["count"] == number, link
                    checked += 1
    assert checked >= 8


def test_the_mine_view_counts_the_viewer_only(today, as_user):
    w = today
    with scopes_disabled():
        w.rep_east.role = make_role(w.tenant_a, "看报表", DataScope.OWN, ["reports.view"])
        w.rep_east.save(update_fields=["role"])
    mine = cells(as_user(w.rep_east).get(reverse("reports:dashboard") + "?who=mine"))
    assert mine[("all", 0)] == (2, 1) and mine[("phone", 2)] == (1, 1)
    manager_mine = cells(as_user(w.manager_sales).get(reverse("reports:dashboard") + "?who=mine"))
    assert manager_mine[("all", 0)] == (0, 0)


def test_the_stock_block_is_todays_increment_and_stock_by_status(today, as_user):
    w = today
    response = as_user(w.admin_a).get(reverse("reports:dashboard"))
    from crm.models import Option

    with scopes_disabled():
        statuses = list(
            Option.objects.filter(tenant=w.tenant_a, kind="customer_status").values_list(
                "label", flat=True
            )
        )
    assert [row[0] for row in response.context["stock"]] == statuses
    for label, inc, inc_link, stk, stk_link in response.context["stock"]:
        for number, link in ((inc, inc_link), (stk, stk_link)):
            if number and link:
                assert as_user(w.admin_a).get(link).context["count"] == number


def test_the_workbench_shows_every_user_their_own_numbers_and_links_for_report_readers(
    today, as_user
):
    w = today
    page = as_user(w.rep_east).get(reverse("crm:workbench"))
    block = next(
        p for p in page.context["panels"] if p["template"] == "reports/workbench_today.html"
    )
    rows = {
        key: [(c.times, c.subjects, c.link_times) for c in cells]
        for key, _l, cells in block["context"]["rows"]
    }
    assert rows["all"][0][:2] == (2, 1)
    assert all(link == "" for row in rows.values() for _n, _c, link in row)  # no reports.view
    manager = as_user(w.manager_sales).get(reverse("crm:workbench"))
    block = next(
        p for p in manager.context["panels"] if p["template"] == "reports/workbench_today.html"
    )
    assert block["context"]["may_open"] is True


def test_the_report_centre_needs_the_permission(world, as_user):
    assert as_user(world.rep_east).get(reverse("reports:dashboard")).status_code == 403


def test_the_workbench_stock_block_is_the_viewers_own_increment_and_stock_today(world, as_user):
    """增量 / 存量 今天 on the workbench: the viewer's own development customers per status
    (created today: the increment; held now: the stock), never a colleague's; numbers open
    their rows for report readers only."""
    from crm.models import Option

    with scopes_disabled():
        first, second = Option.objects.filter(tenant=world.tenant_a, kind="customer_status")[:2]
    with tenant_scope(world.tenant_a.pk):
        services.customer_create(actor=world.rep_east, data={"name": "今天新建", "status": first})
        services.customer_create(actor=world.rep_west, data={"name": "别人的", "status": first})
    make_customer(world.tenant_a, world.rep_east, "老客户", status=second)

    def block(user):
        page = as_user(user).get(reverse("crm:workbench"))
        return next(
            p["context"]
            for p in page.context["panels"]
            if p["template"] == "reports/workbench_stock.html"
        )

    mine = {label: (inc, stk, link) for label, inc, _l, stk, link in block(world.rep_east)["rows"]}
    assert mine[first.label][:2] == (1, 1)  # rep_west's customer is not theirs
    assert mine[second.label][:2] == (0, 1)  # held, not new today
    assert mine[first.label][2] is None  # reps without reports.view: no links
    manager = block(world.manager_sales)
    assert manager["may_open"] is True
    assert {label: (inc, stk) for label, inc, _l, stk, _k in manager["rows"]}[first.label] == (
        0,
        0,
    )
