"""The opportunity pages (pages helper): the lists and their views, the page with its tabs for
the owner, a manager and another rep (404 for what one may not see), create and edit, the
stage path, 赢单 / 输单 (reason required: 422 with the error in the dialog) / 重新打开, the batch
transfer, the export within the scope, the customer page's 商机 tab and the stage settings."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_scopes import scopes_disabled

from opportunities.models import Opportunity, OpportunityStageChange
from tests.customers.factories import make_contact, make_customer
from tests.opportunities.factories import (
    end_stage,
    lost_reason,
    make_opportunity,
    make_product,
    refreshed,
    stages,
)


@pytest.fixture
def deal(world):
    customer = make_customer(world.tenant_a, world.rep_east, "华东机械")
    return make_opportunity(world.rep_east, customer, "叉车采购", amount=Decimal("120000"))


def _detail(pk, tab=None):
    url = reverse("opportunities:opportunity-detail", args=[pk])
    return f"{url}?tab={tab}" if tab else url


# ---------------------------------------------------------------- lists


def test_list_views_for_the_owner_and_the_manager(world, as_user, deal):
    rep = as_user(world.rep_east)
    mine = rep.get(reverse("opportunities:opportunity-list"))
    assert mine.status_code == 200
    assert [o.pk for o in mine.context["page"]] == [deal.pk]
    manager = as_user(world.manager_sales)
    team = manager.get(reverse("opportunities:opportunity-list"), {"view": "team"})
    assert [o.pk for o in team.context["page"]] == [deal.pk]
    assert list(manager.get(reverse("opportunities:opportunity-list")).context["page"]) == []
    other = as_user(world.rep_west)
    assert (
        list(other.get(reverse("opportunities:opportunity-list"), {"view": "all"}).context["page"])
        == []
    )


def test_closing_this_month_and_stale_views(world, as_user):
    from opportunities.listing import month_bounds

    customer = make_customer(world.tenant_a, world.rep_east, "本月客户")
    _first, last = month_bounds(world.rep_east.tenant.today())
    soon = make_opportunity(world.rep_east, customer, "本月成交", expected_close_date=last)
    later = make_opportunity(
        world.rep_east, customer, "下月成交", expected_close_date=last + datetime.timedelta(days=3)
    )
    with scopes_disabled():
        Opportunity.objects.filter(pk=later.pk).update(
            created_at=datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
        )
    client = as_user(world.rep_east)
    closing = client.get(reverse("opportunities:opportunity-list"), {"view": "closing"})
    assert [o.pk for o in closing.context["page"]] == [soon.pk]
    stale = client.get(reverse("opportunities:opportunity-list"), {"view": "stale"})
    assert [o.pk for o in stale.context["page"]] == [later.pk]


def test_filters_by_stage_amount_and_close_date(world, as_user):
    customer = make_customer(world.tenant_a, world.rep_east, "筛选客户")
    s = stages(world.tenant_a)
    small = make_opportunity(world.rep_east, customer, "小单", amount=Decimal("1000"))
    big = make_opportunity(
        world.rep_east, customer, "大单", amount=Decimal("90000"), stage=s["谈判/合同"]
    )
    client = as_user(world.rep_east)
    url = reverse("opportunities:opportunity-list")
    by_stage = client.get(url, {"stage": s["谈判/合同"].pk})
    assert [o.pk for o in by_stage.context["page"]] == [big.pk]
    by_amount = client.get(url, {"amount_min": "500", "amount_max": "5000"})
    assert [o.pk for o in by_amount.context["page"]] == [small.pk]
    by_name = client.get(url, {"q": "筛选客"})
    assert {o.pk for o in by_name.context["page"]} == {small.pk, big.pk}
    none = client.get(url, {"expected_close_after": "2030-01-01"})
    assert list(none.context["page"]) == []
    sorted_rows = client.get(url, {"sort": "amount"})
    assert [o.pk for o in sorted_rows.context["page"]] == [big.pk, small.pk]


def _queries(client, params) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("opportunities:opportunity-list"), params)
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("persona", ["rep_east", "manager_sales", "admin_a"])
def test_list_queries_do_not_grow_with_the_page(world, as_user, persona):
    customer = make_customer(world.tenant_a, world.rep_east, "多商机客户")
    for i in range(3):
        make_opportunity(world.rep_east, customer, f"少{i}")
    client = as_user(getattr(world, persona))
    few = _queries(client, {"view": "all", "per": 20})
    for i in range(120):
        make_opportunity(world.rep_east, customer, f"多{i}")
    assert _queries(client, {"view": "all", "per": 20}) == few
    assert _queries(client, {"view": "all", "per": 100}) == few
    assert _queries(client, {"view": "all", "per": 100, "page": 2}) == few


# ---------------------------------------------------------------- the page


@pytest.mark.parametrize(
    "tab",
    ["overview", "lines", "contacts", "team", "followups", "attachments", "activity", "stages"],
)
def test_every_tab_renders_for_the_owner_and_the_manager(world, as_user, deal, tab):
    for user in (world.rep_east, world.manager_sales, world.admin_a):
        response = as_user(user).get(_detail(deal.pk, tab))
        assert response.status_code == 200, (user, tab)
        assert response.context["tab"] == tab
        fragment = as_user(user).get(reverse("opportunities:opportunity-tab", args=[deal.pk, tab]))
        assert fragment.status_code == 200


def test_another_rep_and_another_tenant_get_404(world, as_user, deal):
    for user in (world.rep_west, world.rep_east2, world.rep_b):
        client = as_user(user)
        assert client.get(_detail(deal.pk)).status_code == 404
        assert (
            client.get(reverse("opportunities:opportunity-edit", args=[deal.pk])).status_code == 404
        )
        response = client.post(
            reverse("opportunities:opportunity-stage", args=[deal.pk]),
            {"stage": stages(world.tenant_a)["需求确定"].pk},
        )
        assert response.status_code == 404
    assert refreshed(deal).stage.name == "初步接洽"


def test_the_stage_path_moves_the_opportunity(world, as_user, deal):
    s = stages(world.tenant_a)
    client = as_user(world.rep_east)
    response = client.post(
        reverse("opportunities:opportunity-stage", args=[deal.pk]),
        {"stage": s["方案/报价"].pk, "expected_stage_id": s["初步接洽"].pk},
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="http://testserver" + _detail(deal.pk),
    )
    assert response.status_code == 200
    assert 'id="record-header"' in response.content.decode()
    assert refreshed(deal).stage == s["方案/报价"]
    with scopes_disabled():
        assert OpportunityStageChange.objects.filter(opportunity=deal).count() == 2


def test_a_stale_stage_move_is_refused_with_the_message(world, as_user, deal, settings):
    s = stages(world.tenant_a)
    client = as_user(world.rep_east)
    response = client.post(
        reverse("opportunities:opportunity-stage", args=[deal.pk]),
        {"stage": s["方案/报价"].pk, "expected_stage_id": s["需求确定"].pk},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert response["HX-Reswap"] == "none"
    assert "初步接洽" in response.content.decode()
    assert refreshed(deal).stage == s["初步接洽"]


def test_lose_requires_a_reason_422_in_the_dialog(world, as_user, deal):
    client = as_user(world.rep_east)
    url = reverse("opportunities:opportunity-lose", args=[deal.pk])
    refused = client.post(url, {"note": "价格"}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 422
    body = refused.content.decode()
    assert 'id="lose-modal-form"' in body
    assert 'data-testid="modal-error"' in body
    assert refreshed(deal).status == "open"
    reason = lost_reason(world.tenant_a)
    done = client.post(
        url,
        {"reason": reason.pk, "note": "价格太高"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="http://testserver" + _detail(deal.pk),
    )
    assert done.status_code == 200
    lost = refreshed(deal)
    assert (lost.status, lost.lost_reason_id, lost.lost_note) == ("lost", reason.pk, "价格太高")


def test_win_then_read_only_and_the_manager_reopens(world, as_user, deal):
    with scopes_disabled():
        won = end_stage(world.tenant_a, "won")
        won.allow_reopen = True
        won.save()
    rep = as_user(world.rep_east)
    assert rep.post(reverse("opportunities:opportunity-win", args=[deal.pk])).status_code == 302
    assert refreshed(deal).status == "won"
    page = rep.get(_detail(deal.pk)).content.decode()
    assert 'data-testid="win"' not in page
    assert 'data-testid="edit-lines"' not in rep.get(_detail(deal.pk, "lines")).content.decode()
    # The edit form takes the remark only.
    form = rep.get(reverse("opportunities:opportunity-edit", args=[deal.pk])).context["form"]
    assert list(form.fields) == ["remark"]
    assert 'data-testid="reopen"' not in page  # reps do not reopen
    manager = as_user(world.manager_sales)
    assert 'data-testid="reopen"' in manager.get(_detail(deal.pk)).content.decode()
    s = stages(world.tenant_a)
    manager.post(
        reverse("opportunities:opportunity-reopen", args=[deal.pk]), {"stage": s["需求确定"].pk}
    )
    assert refreshed(deal).stage == s["需求确定"]


def test_create_with_lines_from_the_customer_page(world, as_user):
    customer = make_customer(world.tenant_a, world.rep_east, "新客户")
    a = make_product(world.tenant_a, "电动叉车", price="50000")
    b = make_product(world.tenant_a, "电池", price="8000")
    client = as_user(world.rep_east)
    url = reverse("opportunities:opportunity-create")
    page = client.get(url, {"customer": customer.pk})
    assert page.status_code == 200
    assert page.context["form"].initial["customer"] == customer.pk
    data = {
        "name": "三台叉车",
        "customer": customer.pk,
        "stage": stages(world.tenant_a)["初步接洽"].pk,
        "expected_close_date": "2026-12-20",
        "lines-TOTAL_FORMS": "3",
        "lines-INITIAL_FORMS": "0",
        "lines-0-product": a.pk,
        "lines-0-qty": "3",
        "lines-0-unit_price": "48000",
        "lines-1-product": b.pk,
        "lines-1-qty": "3",
        "lines-2-product": "",
    }
    response = client.post(url, data)
    assert response.status_code == 302
    with scopes_disabled():
        created = Opportunity.objects.get(name="三台叉车")
        assert created.customer == customer
        assert created.amount == Decimal("168000.00")
        assert created.lines.count() == 2


def test_create_refuses_a_customer_the_user_may_not_edit(world, as_user):
    other = make_customer(world.tenant_a, world.rep_west, "别人的客户")
    client = as_user(world.rep_east)
    response = client.post(
        reverse("opportunities:opportunity-create"),
        {
            "name": "抢单",
            "customer": other.pk,
            "stage": stages(world.tenant_a)["初步接洽"].pk,
            "expected_close_date": "2026-12-20",
            "lines-TOTAL_FORMS": "0",
            "lines-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 422
    assert "customer" in response.context["form"].errors
    with scopes_disabled():
        assert not Opportunity.objects.filter(name="抢单").exists()


def test_contacts_tab_adds_a_contact_with_a_role(world, as_user, deal):
    from tests.opportunities.factories import contact_role

    contact = make_contact(deal.customer, "王经理")
    role = contact_role(world.tenant_a)
    client = as_user(world.rep_east)
    response = client.post(
        reverse("opportunities:opportunity-contact-add", args=[deal.pk]),
        {"contact": contact.pk, "role": role.pk, "is_primary": "on"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert "王经理" in response.content.decode()
    assert refreshed(deal).primary_contact_id == contact.pk


def test_team_member_added_sees_it_in_participated(world, as_user, deal):
    client = as_user(world.rep_east)
    client.post(
        reverse("opportunities:opportunity-participants-add", args=[deal.pk]),
        {"users": [world.rep_west.pk]},
    )
    other = as_user(world.rep_west)
    listed = other.get(reverse("opportunities:opportunity-list"), {"view": "participated"})
    assert [o.pk for o in listed.context["page"]] == [deal.pk]
    assert other.get(_detail(deal.pk)).status_code == 200


def test_follow_up_on_the_opportunity(world, as_user, deal):
    from crm.models import OptionKind
    from tests.opportunities.factories import option

    kind = option(world.tenant_a, OptionKind.FOLLOWUP_TYPE)
    client = as_user(world.rep_east)
    response = client.post(
        reverse("opportunities:opportunity-followup-add", args=[deal.pk]),
        {"kind": kind.pk, "content": "电话沟通报价"},
    )
    assert response.status_code == 302
    page = client.get(_detail(deal.pk, "followups"))
    assert "电话沟通报价" in page.content.decode()


def test_batch_transfer_from_the_list(world, as_user, deal):
    client = as_user(world.manager_sales)
    response = client.post(
        reverse("opportunities:opportunity-transfer"),
        {"ids": [deal.pk], "to_user": world.rep_east2.pk},
    )
    assert response.status_code == 302
    assert refreshed(deal).owner_id == world.rep_east2.pk


def test_batch_transfer_refused_as_a_whole_for_an_invisible_row(world, as_user, deal):
    hidden = make_opportunity(world.rep_west, make_customer(world.tenant_a, world.rep_west))
    client = as_user(world.rep_east)
    client.post(
        reverse("opportunities:opportunity-transfer"),
        {"ids": [deal.pk, hidden.pk], "to_user": world.rep_east2.pk},
    )
    assert refreshed(deal).owner_id == world.rep_east.pk
    assert refreshed(hidden).owner_id == world.rep_west.pk


# ---------------------------------------------------------------- export


def _export_rows(response) -> list[list]:
    from io import BytesIO

    from openpyxl import load_workbook

    sheet = load_workbook(
        BytesIO(b"".join(response.streaming_content) if response.streaming else response.content)
    ).active
    return [list(r) for r in sheet.iter_rows(values_only=True)]


def test_export_equals_the_list_within_the_scope(world, as_user, deal):
    other = make_opportunity(
        world.rep_west, make_customer(world.tenant_a, world.rep_west), "西区单"
    )
    client = as_user(world.manager_sales)
    listed = client.get(reverse("opportunities:opportunity-list"), {"view": "all", "sort": "name"})
    names = [o.name for o in listed.context["page"]]
    response = client.post(reverse("opportunities:opportunity-export") + "?view=all&sort=name")
    assert response.status_code == 200
    rows = _export_rows(response)
    assert [r[0] for r in rows[1:]] == names
    assert set(names) == {deal.name, other.name}
    rep = as_user(world.rep_east)
    mine = _export_rows(rep.post(reverse("opportunities:opportunity-export") + "?view=all"))
    assert [r[0] for r in mine[1:]] == [deal.name]


# ---------------------------------------------------------------- customer tab, settings


def test_customer_page_has_the_opportunities_tab(world, as_user, deal):
    client = as_user(world.rep_east)
    url = reverse("customers:customer-detail", args=[deal.customer_id]) + "?tab=opportunities"
    response = client.get(url)
    assert response.status_code == 200
    body = response.content.decode()
    assert deal.name in body
    assert 'data-testid="new-opportunity"' in body
    hidden = make_opportunity(world.manager_sales, deal.customer, "经理自己的单")
    assert hidden.name not in as_user(world.rep_east).get(url).content.decode()


def test_stage_settings_add_and_delete(world, as_user):
    client = as_user(world.admin_a)
    url = reverse("opportunities:stage-settings")
    assert client.get(url).status_code == 200
    response = client.post(
        reverse("opportunities:stage-create"),
        {"name": "技术交流", "probability": "20", "allow_rollback_open": "on", "is_active": "on"},
    )
    assert response.status_code == 302
    added = stages(world.tenant_a)["技术交流"]
    assert added.probability == 20
    client.post(reverse("opportunities:stage-delete", args=[added.pk]))
    assert "技术交流" not in stages(world.tenant_a)
    assert as_user(world.rep_east).get(url).status_code == 403


def test_stage_in_use_cannot_be_deleted(world, as_user, deal):
    client = as_user(world.admin_a)
    first = stages(world.tenant_a)["初步接洽"]
    client.post(reverse("opportunities:stage-delete", args=[first.pk]))
    assert "初步接洽" in stages(world.tenant_a)


def test_workbench_shows_my_opportunities_closing_this_month(world, as_user):
    from opportunities.listing import month_bounds

    customer = make_customer(world.tenant_a, world.rep_east, "工作台客户")
    _first, last = month_bounds(world.rep_east.tenant.today())
    make_opportunity(
        world.rep_east, customer, "本月一", amount=Decimal("1000"), expected_close_date=last
    )
    make_opportunity(
        world.rep_east, customer, "本月二", amount=Decimal("2500"), expected_close_date=last
    )
    make_opportunity(
        world.rep_east,
        customer,
        "下月",
        amount=Decimal("9000"),
        expected_close_date=last + datetime.timedelta(days=1),
    )
    client = as_user(world.rep_east)
    body = client.get(reverse("crm:workbench")).content.decode()
    assert 'data-kpi="closing"' in body
    panel = body[body.index('data-testid="workbench-opportunity-kpis"') :]
    assert ">2<" in panel and "3,500.00" in panel
    link = reverse("opportunities:opportunity-list") + "?view=mine&amp;status=open"
    assert link in panel
    listed = client.get(
        reverse("opportunities:opportunity-list"),
        {
            "view": "mine",
            "status": "open",
            "expected_close_after": _first.isoformat(),
            "expected_close_before": last.isoformat(),
        },
    )
    assert sorted(o.name for o in listed.context["page"]) == ["本月一", "本月二"]


def test_saved_search_of_the_opportunity_list(world, as_user):
    from customers.models import SavedSearch

    client = as_user(world.rep_east)
    response = client.post(
        reverse("customers:saved-search-create"),
        {"name": "大单", "query": "view=mine&amount_min=50000", "list_kind": "opportunity"},
    )
    assert response.status_code == 302
    assert response["Location"] == (
        reverse("opportunities:opportunity-list") + "?view=mine&amount_min=50000"
    )
    with scopes_disabled():
        search = SavedSearch.objects.get(user=world.rep_east)
    page = client.get(reverse("opportunities:opportunity-list"))
    assert list(page.context["saved_searches"]) == [search]
    assert page.context["saved_kind"] == "opportunity"


def test_stage_settings_edit_reorder_and_mode(world, as_user):
    from opportunities.models import OpportunitySettings

    client = as_user(world.admin_a)
    s = stages(world.tenant_a)
    # The won stage keeps its kind and probability: its form has neither.
    won_form = client.get(reverse("opportunities:stage-edit", args=[s["赢单"].pk]))
    assert "probability" not in won_form.context["form"].fields
    assert "allow_reopen" in won_form.context["form"].fields
    client.post(
        reverse("opportunities:stage-edit", args=[s["需求确定"].pk]),
        {"name": "需求确认", "probability": "35", "allow_rollback_open": "on", "is_active": "on"},
    )
    renamed = stages(world.tenant_a)["需求确认"]
    assert renamed.probability == 35
    client.post(reverse("opportunities:stage-move", args=[renamed.pk]), {"direction": "up"})
    with scopes_disabled():
        order = [
            st.name
            for st in type(renamed).objects.filter(tenant=world.tenant_a).order_by("sort", "id")
        ]
    assert order == ["需求确认", "初步接洽", "方案/报价", "谈判/合同", "赢单", "输单"]
    client.post(
        reverse("opportunities:stage-settings"),
        {"stage_mode": "strict", "probability_override": "on"},
    )
    with scopes_disabled():
        saved = OpportunitySettings.objects.get(tenant=world.tenant_a)
    assert (saved.stage_mode, saved.probability_override) == ("strict", True)
    # Strict now: the first stage → 谈判/合同 skips stages and is refused on the page.
    deal = make_opportunity(world.rep_east, make_customer(world.tenant_a, world.rep_east))
    rep = as_user(world.rep_east)
    response = rep.post(
        reverse("opportunities:opportunity-stage", args=[deal.pk]),
        {"stage": s["谈判/合同"].pk},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert refreshed(deal).stage.name == "需求确认"  # the first open stage now
    # The probability may be typed now: the edit form has it.
    form = rep.get(reverse("opportunities:opportunity-edit", args=[deal.pk])).context["form"]
    assert "probability" in form.fields


def test_this_month_is_the_tenants_month(world, as_user):
    """本月预计成交 at 01:30 on 1 December in Shanghai for a tenant in New York, where it is
    still 30 November: November's opportunity is this month's, December's is not."""
    from unittest import mock

    from django.utils import timezone

    with scopes_disabled():
        world.tenant_a.time_zone = "America/New_York"
        world.tenant_a.save(update_fields=["time_zone"])
    moment = datetime.datetime(2026, 11, 30, 17, 30, tzinfo=datetime.UTC)
    customer = make_customer(world.tenant_a, world.rep_east, "月底客户")
    november = make_opportunity(
        world.rep_east, customer, "十一月", expected_close_date=datetime.date(2026, 11, 30)
    )
    make_opportunity(
        world.rep_east, customer, "十二月", expected_close_date=datetime.date(2026, 12, 1)
    )
    client = as_user(world.rep_east)
    with mock.patch.object(timezone, "now", return_value=moment):
        closing = client.get(reverse("opportunities:opportunity-list"), {"view": "closing"})
    assert [o.pk for o in closing.context["page"]] == [november.pk]
