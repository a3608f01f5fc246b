"""Campaigns (市场活动): campaign_save and campaign_delete with every refusal, and the
settings pages (lead.manage): list with lead counts, create, edit, delete."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation
from django.utils.html import escape
from django_scopes import scopes_disabled

from crm.exceptions import NotFoundError, PermissionRefusedError, ServiceError
from crm.models import ActivityLog
from crm.tenancy import tenant_scope
from leads import campaigns
from leads.models import Campaign
from tests.leads.factories import make_campaign, make_lead, make_rule

D = datetime.date


def _save(actor, data, campaign=None):
    with tenant_scope(actor.tenant_id):
        return campaigns.campaign_save(actor=actor, data=data, campaign=campaign)


def _delete(actor, campaign):
    with tenant_scope(actor.tenant_id):
        return campaigns.campaign_delete(actor=actor, campaign=campaign)


def _refused(code, call, *args, **kwargs) -> str:
    # A campaign of another tenant is "missing" (NotFoundError), never a refusal.
    with pytest.raises(NotFoundError if code == "not_found" else ServiceError) as info:
        call(*args, **kwargs)
    assert info.value.code == code
    return str(info.value.message)


def _exists(pk) -> bool:
    with scopes_disabled():
        return Campaign.objects.filter(pk=pk).exists()


def in_page(msgid: str) -> str:
    with translation.override("zh-hans"):
        return escape(translation.gettext(msgid))


# ---------------------------------------------------------------- services


def test_campaign_save_creates_and_changes_with_the_activity_log(world):
    campaign = _save(
        world.manager_sales,
        {
            "name": " 春季展会 ",
            "cost": "12000.5",
            "starts_on": D(2026, 3, 1),
            "ends_on": D(2026, 3, 3),
            "remark": "上海",
        },
    )
    assert (campaign.name, campaign.cost, campaign.is_active) == (
        "春季展会",
        Decimal("12000.50"),
        True,
    )
    _save(world.manager_sales, {"is_active": False, "cost": 0}, campaign=campaign)
    with scopes_disabled():
        campaign = Campaign.objects.get(pk=campaign.pk)
        logs = list(
            ActivityLog.objects.filter(action="campaign.saved", object_id=campaign.pk).order_by(
                "pk"
            )
        )
    assert campaign.is_active is False and campaign.cost == 0
    assert len(logs) == 2
    assert "cost" in logs[1].changes and "is_active" in logs[1].changes


def test_campaign_save_refused_without_lead_manage(world):
    with pytest.raises(PermissionRefusedError):
        _save(world.rep_east, {"name": "越权"})
    with scopes_disabled():
        assert not Campaign.objects.filter(name="越权").exists()


def test_campaign_save_refused_for_a_duplicate_name(world):
    make_campaign(world.tenant_a, "春季展会")
    message = _refused("duplicate", _save, world.admin_a, {"name": "春季展会 "})
    assert "春季展会" in message
    other = make_campaign(world.tenant_a, "秋季")
    _refused("duplicate", _save, world.admin_a, {"name": "春季展会"}, campaign=other)
    # Another tenant's name is no clash.
    make_campaign(world.tenant_b, "乙的活动")
    assert _save(world.admin_a, {"name": "乙的活动"}).pk


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"name": ""}, "required"),
        ({"cost": 5}, "required"),
        ({"name": "x" * 101}, "too_long"),
        ({"name": "负", "cost": -1}, "cost"),
        ({"name": "坏", "cost": "abc"}, "cost"),
        ({"name": "日", "starts_on": D(2026, 5, 2), "ends_on": D(2026, 5, 1)}, "dates"),
        ({"name": "日", "starts_on": "2026-05-01"}, "date"),
    ],
)
def test_campaign_save_refuses_bad_input(world, data, code):
    _refused(code, _save, world.admin_a, data)
    with scopes_disabled():
        assert not Campaign.objects.filter(tenant=world.tenant_a).exists()


def test_campaign_save_refused_for_another_tenants_campaign(world):
    b = make_campaign(world.tenant_b, "乙活动")
    _refused("not_found", _save, world.admin_a, {"name": "抢"}, campaign=b)


def test_campaign_delete(world):
    campaign = make_campaign(world.tenant_a, "空活动")
    _delete(world.admin_a, campaign)
    assert not _exists(campaign.pk)
    with scopes_disabled():
        assert ActivityLog.objects.filter(action="campaign.deleted").count() == 1


def test_campaign_delete_refused_while_leads_come_from_it(world):
    campaign = make_campaign(world.tenant_a, "有线索")
    make_lead(world.tenant_a, world.rep_east, campaign=campaign)
    make_lead(world.tenant_a, None, campaign=campaign)
    message = _refused("in_use", _delete, world.admin_a, campaign)
    assert "2" in message and "有线索" in message
    assert _exists(campaign.pk)


def test_campaign_delete_refused_while_a_rule_names_it(world):
    campaign = make_campaign(world.tenant_a, "规则用")
    make_rule(world.tenant_a, [world.rep_east], "展会规则", campaign=campaign)
    message = _refused("in_use", _delete, world.admin_a, campaign)
    assert "展会规则" in message
    assert _exists(campaign.pk)


def test_campaign_delete_refused_without_permission_or_for_another_tenant(world):
    campaign = make_campaign(world.tenant_a)
    with pytest.raises(PermissionRefusedError):
        _delete(world.rep_east, campaign)
    b = make_campaign(world.tenant_b)
    _refused("not_found", _delete, world.admin_a, b)
    assert _exists(campaign.pk) and _exists(b.pk)


# ---------------------------------------------------------------- pages


@pytest.mark.parametrize("persona", ["rep_east", "service_a"])
@pytest.mark.parametrize("name", ["leads:campaign-list", "leads:campaign-create"])
def test_campaign_pages_forbidden_without_lead_manage(world, login, name, persona):
    assert login(getattr(world, persona)).get(reverse(name)).status_code == 403


def test_campaign_pages_need_a_login(world, client):
    response = client.get(reverse("leads:campaign-list"))
    assert response.status_code == 302 and "login" in response["Location"]


def test_rep_cannot_edit_or_delete_a_campaign(world, login):
    campaign = make_campaign(world.tenant_a, "原样")
    client = login(world.rep_east)
    assert client.get(reverse("leads:campaign-edit", args=[campaign.pk])).status_code == 403
    assert client.post(reverse("leads:campaign-delete", args=[campaign.pk])).status_code == 403
    assert _exists(campaign.pk)


def test_campaign_list_shows_lead_counts_in_one_query_per_page(
    world, login, django_assert_num_queries
):
    spring = make_campaign(world.tenant_a, "春季展会")
    make_campaign(world.tenant_a, "空的活动")
    for _ in range(3):
        make_lead(world.tenant_a, world.rep_east, campaign=spring)
    client = login(world.manager_sales)
    response = client.get(reverse("leads:campaign-list"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "春季展会" in html and "空的活动" in html
    assert f'data-campaign="{spring.pk}"' in html
    assert re.search(r'<td class="num small lead-count"[^>]*>3</td>', html)
    # The query count does not grow with the number of campaigns.
    client.get(reverse("leads:campaign-list"))
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("leads:campaign-list"))
    for i in range(10):
        make_campaign(world.tenant_a, f"活动{i}")
    with django_assert_num_queries(len(few.captured_queries)):
        client.get(reverse("leads:campaign-list"))


def test_campaign_list_hides_another_tenants_campaigns(world, login):
    make_campaign(world.tenant_b, "乙的秘密活动")
    html = login(world.admin_a).get(reverse("leads:campaign-list")).content.decode()
    assert "乙的秘密活动" not in html


def test_campaign_create_and_edit_through_the_pages(world, login):
    client = login(world.manager_sales)
    assert client.get(reverse("leads:campaign-create")).status_code == 200
    response = client.post(
        reverse("leads:campaign-create"),
        {
            "name": "直播推广",
            "cost": "800",
            "starts_on": "2026-07-01",
            "ends_on": "",
            "is_active": "on",
        },
    )
    assert response.status_code == 302 and response["Location"] == reverse("leads:campaign-list")
    with scopes_disabled():
        campaign = Campaign.objects.get(tenant=world.tenant_a, name="直播推广")
    assert campaign.starts_on == D(2026, 7, 1) and campaign.cost == 800
    url = reverse("leads:campaign-edit", args=[campaign.pk])
    assert "直播推广" in client.get(url).content.decode()
    response = client.post(url, {"name": "直播推广二期", "cost": "900"})
    assert response.status_code == 302
    with scopes_disabled():
        campaign.refresh_from_db()
    assert (campaign.name, campaign.is_active) == ("直播推广二期", False)


def test_campaign_form_errors_are_422_with_the_reason(world, login):
    make_campaign(world.tenant_a, "已存在")
    client = login(world.admin_a)
    response = client.post(reverse("leads:campaign-create"), {"name": "已存在", "cost": "0"})
    assert response.status_code == 422
    assert escape("已存在") in response.content.decode()
    response = client.post(
        reverse("leads:campaign-create"),
        {"name": "倒序", "cost": "0", "starts_on": "2026-05-02", "ends_on": "2026-05-01"},
    )
    assert response.status_code == 422
    assert in_page("The campaign cannot end before it starts.") in response.content.decode()
    response = client.post(reverse("leads:campaign-create"), {"name": "负", "cost": "-5"})
    assert response.status_code == 422
    with scopes_disabled():
        assert not Campaign.objects.filter(name__in=["倒序", "负"]).exists()


def test_campaign_delete_through_the_page(world, login):
    used = make_campaign(world.tenant_a, "在用")
    make_lead(world.tenant_a, world.rep_east, campaign=used)
    unused = make_campaign(world.tenant_a, "闲置")
    client = login(world.admin_a)
    response = client.post(reverse("leads:campaign-delete", args=[used.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("leads:campaign-edit", args=[used.pk])
    assert any("在用" in str(m) for m in get_messages(response.wsgi_request))
    assert _exists(used.pk)
    response = client.post(reverse("leads:campaign-delete", args=[unused.pk]))
    assert response["Location"] == reverse("leads:campaign-list")
    assert not _exists(unused.pk)
    assert client.get(reverse("leads:campaign-delete", args=[used.pk])).status_code == 405


def test_settings_menu_shows_campaigns_and_rules_to_lead_managers_only(world, login):
    campaigns_url = reverse("leads:campaign-list")
    rules_url = reverse("leads:rule-list")
    html = login(world.manager_sales).get(reverse("crm:workbench")).content.decode()
    assert campaigns_url in html and rules_url in html
    html = login(world.rep_east).get(reverse("crm:workbench")).content.decode()
    assert campaigns_url not in html and rules_url not in html
