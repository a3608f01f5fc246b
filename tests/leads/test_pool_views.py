"""The lead pool pages: who sees which lead pool, masked fields, the actions through the
views (ids in the body, refusals as messages), a fixed query count, the lead pool settings
(lead.manage) and the wall with the customer pool's pages."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_scopes import scopes_disabled

from leads.models import Lead, LeadEvent
from pools.models import PoolGroup
from tests.leads.factories import make_lead, make_lead_pool, make_pooled_lead
from tests.pools.factories import DAY, make_group, pooled, return_reason


@pytest.fixture
def east_leads(world):
    """华东线索池: the east department are members, rep_east2 its pool admin."""
    return make_group(
        world.tenant_a,
        "华东线索池",
        kind=PoolGroup.Kind.LEAD,
        departments=[world.east],
        admins=[world.rep_east2],
    )


def _reload(lead) -> Lead:
    with scopes_disabled():
        return Lead.objects.get(pk=lead.pk)


def _messages(response) -> str:
    return " ".join(str(m) for m in response.context["messages"]) if response.context else ""


def test_pool_list_shows_the_members_lead_pool_with_contact_details_hidden(
    world, login, east_leads
):
    make_pooled_lead(east_leads, "池中人", mobile="13911112222", email="a@example.com")
    page = login(world.rep_east).get(reverse("leads:pool-list")).content.decode()
    assert "池中人" in page and "华东线索池" in page
    assert "13911112222" not in page and "a@example.com" not in page
    # The pool admin sees them.
    page = login(world.rep_east2).get(reverse("leads:pool-list")).content.decode()
    assert "13911112222" in page and "a@example.com" in page


def test_lead_page_of_a_pooled_lead_hides_what_its_pool_hides(world, login, east_leads):
    with scopes_disabled():
        east_leads.hidden_fields = ["contact_phones", "remark"]
        east_leads.save()
    lead = make_pooled_lead(
        east_leads,
        "池中人",
        mobile="13911112222",
        email="a@example.com",
        remark="预算三百万",
        address="麓谷大道1号",
    )
    url = reverse("leads:lead-detail", args=[lead.pk])
    page = login(world.rep_east).get(url).content.decode()
    assert "池中人" in page
    assert "13911112222" not in page and "预算三百万" not in page
    # What the group does not hide stays visible.
    assert "a@example.com" in page and "麓谷大道1号" in page
    # The pool admin sees everything; so does the owner once it is claimed.
    page = login(world.rep_east2).get(url).content.decode()
    assert "13911112222" in page and "预算三百万" in page
    with scopes_disabled():
        Lead.objects.filter(pk=lead.pk).update(
            owner=world.rep_east, pooled_at=None, owned_since=timezone.now()
        )
    page = login(world.rep_east).get(url).content.decode()
    assert "13911112222" in page and "预算三百万" in page


def test_pool_list_leaves_out_other_pools_other_tenants_and_customer_pools(
    world, login, east_leads
):
    make_pooled_lead(east_leads, "华东的线索")
    customer_pool = make_group(world.tenant_a, "全员公海", open_to_all=True)
    pooled(customer_pool, "公海里的客户")
    b_pool = make_lead_pool(world.tenant_b, "乙线索池")
    make_pooled_lead(b_pool, "乙的线索")
    page = login(world.rep_west).get(reverse("leads:pool-list")).content.decode()
    assert "华东的线索" not in page and "华东线索池" not in page
    assert "公海里的客户" not in page and "全员公海" not in page
    assert "乙的线索" not in page
    # The default lead pool exists from the first visit and is open to all.
    assert "默认线索池" in page


def test_pool_list_of_one_group_and_a_search(world, login, east_leads):
    make_pooled_lead(east_leads, "甲线索")
    other = make_lead_pool(world.tenant_a, "全员线索池")
    make_pooled_lead(other, "乙线索")
    client = login(world.rep_east)
    page = client.get(reverse("leads:pool-list") + f"?group={other.pk}").content.decode()
    assert "乙线索" in page and "甲线索" not in page
    page = client.get(reverse("leads:pool-list") + "?q=甲线").content.decode()
    assert "甲线索" in page and "乙线索" not in page


def test_pool_list_runs_a_fixed_number_of_queries(world, login, east_leads):
    client = login(world.rep_east)
    url = reverse("leads:pool-list")

    def run() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    make_pooled_lead(east_leads, previous_owner=world.rep_west)
    run()  # the default lead pool is created on the first visit
    small = run()
    for i in range(12):
        make_pooled_lead(
            east_leads,
            f"多{i}",
            previous_owner=world.rep_west,
            pooled_at=timezone.now() - datetime.timedelta(hours=i),
        )
    assert run() == small


def test_claim_through_the_view_opens_the_lead(world, login, east_leads):
    lead = make_pooled_lead(east_leads)
    response = login(world.rep_east).post(reverse("leads:pool-claim"), {"ids": [lead.pk]})
    assert response.status_code == 302
    assert response.url == reverse("leads:lead-detail", args=[lead.pk])
    assert _reload(lead).owner_id == world.rep_east.pk


def test_claim_refusal_is_a_message_and_changes_nothing(world, login, east_leads):
    lead = make_pooled_lead(east_leads)
    response = login(world.rep_west).post(
        reverse("leads:pool-claim"), {"ids": [lead.pk]}, follow=True
    )
    assert "线索" in _messages(response)
    assert _reload(lead).owner_id is None


def test_another_tenants_ids_in_the_body_are_refused(world, login):
    b_pool = make_lead_pool(world.tenant_b, "乙线索池")
    lead = make_pooled_lead(b_pool)
    client = login(world.admin_a)
    for name in ("leads:pool-claim", "leads:pool-assign", "leads:pool-move"):
        client.post(
            reverse(name),
            {"ids": [lead.pk], "users": [world.rep_east.pk], "distribution": "even"},
        )
    owned = make_lead(world.tenant_b, world.rep_b)
    client.post(
        reverse("leads:pool-return"),
        {"ids": [owned.pk], "reason": return_reason(world.tenant_a).pk},
    )
    assert _reload(lead).owner_id is None and _reload(lead).pool_group_id == b_pool.pk
    assert _reload(owned).owner_id == world.rep_b.pk
    with scopes_disabled():
        assert not LeadEvent.objects.filter(lead__in=[lead, owned]).exists()


def test_assign_and_move_by_the_pool_admin(world, login, east_leads):
    first, second = make_pooled_lead(east_leads), make_pooled_lead(east_leads)
    client = login(world.rep_east2)
    client.post(
        reverse("leads:pool-assign"),
        {"ids": [first.pk], "users": [world.rep_east.pk], "distribution": "even"},
    )
    assert _reload(first).owner_id == world.rep_east.pk
    other = make_group(
        world.tenant_a, "第二线索池", kind=PoolGroup.Kind.LEAD, admins=[world.rep_east2]
    )
    client.post(reverse("leads:pool-move"), {"ids": [second.pk], "group": other.pk})
    assert _reload(second).pool_group_id == other.pk


def test_move_form_offers_lead_pools_only(world, login, east_leads):
    customer_pool = make_group(world.tenant_a, "全员公海", open_to_all=True)
    make_pooled_lead(east_leads)
    page = login(world.manager_sales).get(reverse("leads:pool-list")).content.decode()
    assert "华东线索池" in page and "全员公海" not in page
    # Posting a customer pool anyway is refused by the form.
    lead = make_pooled_lead(east_leads)
    login(world.manager_sales).post(
        reverse("leads:pool-move"), {"ids": [lead.pk], "group": customer_pool.pk}
    )
    assert _reload(lead).pool_group_id == east_leads.pk


def test_return_from_the_lead_page_needs_a_reason_then_goes_to_the_list(world, login, east_leads):
    lead = make_lead(world.tenant_a, world.rep_east, pool_group=east_leads)
    client = login(world.rep_east)
    detail = reverse("leads:lead-detail", args=[lead.pk])
    response = client.post(
        reverse("leads:pool-return"), {"ids": [lead.pk], "next": detail}, follow=True
    )
    assert "原因" in _messages(response)
    assert _reload(lead).owner_id == world.rep_east.pk
    response = client.post(
        reverse("leads:pool-return"),
        {
            "ids": [lead.pk],
            "reason": return_reason(world.tenant_a).pk,
            "note": "空号",
            "next": detail,
        },
    )
    assert response.status_code == 302 and response.url == reverse("leads:lead-list")
    lead = _reload(lead)
    assert lead.owner_id is None and lead.pool_group_id == east_leads.pk
    assert lead.pool_note == "联系不上：空号"


def test_return_from_the_list_batch_bar_goes_back_to_the_list(world, login):
    leads = [make_lead(world.tenant_a, world.rep_east) for _ in range(2)]
    back = reverse("leads:lead-list") + "?view=mine"
    response = login(world.rep_east).post(
        reverse("leads:pool-return"),
        {
            "ids": [x.pk for x in leads],
            "reason": return_reason(world.tenant_a).pk,
            "next": back,
        },
    )
    assert response.url == back
    assert all(_reload(x).owner_id is None for x in leads)


# ---------------------------------------------------------------- settings


def test_lead_pool_settings_are_for_lead_managers(world, login, east_leads):
    assert login(world.rep_east).get(reverse("leads:pool-group-list")).status_code == 403
    assert (
        login(world.rep_east).get(reverse("leads:pool-group-edit", args=[east_leads.pk]))
    ).status_code == 403
    page = login(world.manager_sales).get(reverse("leads:pool-group-list")).content.decode()
    assert "华东线索池" in page


def test_settings_lists_show_one_kind_each(world, login, east_leads):
    make_group(world.tenant_a, "全员公海", open_to_all=True)
    client = login(world.admin_a)
    leads_page = client.get(reverse("leads:pool-group-list")).content.decode()
    customers_page = client.get(reverse("pools:group-list")).content.decode()
    assert "华东线索池" in leads_page and "全员公海" not in leads_page
    assert "全员公海" in customers_page and "华东线索池" not in customers_page


def test_a_group_of_the_other_kind_is_a_404_on_each_settings_page(world, login, east_leads):
    customer_pool = make_group(world.tenant_a, "全员公海", open_to_all=True)
    client = login(world.admin_a)
    assert client.get(reverse("pools:group-edit", args=[east_leads.pk])).status_code == 404
    assert client.post(reverse("pools:group-delete", args=[east_leads.pk])).status_code == 404
    assert client.get(reverse("leads:pool-group-edit", args=[customer_pool.pk])).status_code == 404
    assert (
        client.post(reverse("leads:pool-group-delete", args=[customer_pool.pk])).status_code == 404
    )
    with scopes_disabled():
        assert PoolGroup.objects.filter(pk__in=[east_leads.pk, customer_pool.pk]).count() == 2


def test_create_a_lead_pool_through_the_settings_page(world, login):
    client = login(world.manager_sales)
    form = client.get(reverse("leads:pool-group-create")).content.decode()
    # The lead form: no deal days, no level rules, lead wording for hidden fields.
    assert 'name="recycle_no_deal_days"' not in form and "levels-TOTAL_FORMS" not in form
    assert 'name="recycle_no_followup_days"' in form
    # The warning before recycling, in lead wording; the customer exemptions stay out.
    assert 'name="warn_days" value="3"' in form
    assert "在未关闭的线索退回线索池前提前该天数通知负责人" in form and "回收提醒" in form
    assert "不回收条件与提醒" not in form
    assert 'name="exempt_signed"' not in form and 'name="exempt_locked"' not in form
    response = client.post(
        reverse("leads:pool-group-create"),
        {
            "name": "展会线索池",
            "is_enabled": "on",
            "sort_order": 0,
            "claim_mode": "self",
            "daily_claim_limit": 5,
            "holding_limit": 0,
            "cooldown_days": 0,
            "recycle_no_followup_days": 7,
            "warn_days": 2,
            "departments": [world.east.pk],
            "admins": [world.rep_east2.pk],
            "hidden_fields": ["contact_phones"],
        },
    )
    assert response.status_code == 302 and response.url == reverse("leads:pool-group-list")
    with scopes_disabled():
        group = PoolGroup.objects.get(tenant=world.tenant_a, name="展会线索池")
    assert group.kind == PoolGroup.Kind.LEAD and group.recycle_no_followup_days == 7
    assert group.daily_claim_limit == 5 and group.hidden_fields == ["contact_phones"]
    assert group.warn_days == 2


def test_edit_and_delete_a_lead_pool(world, login):
    group = make_lead_pool(world.tenant_a, "旧线索池")
    client = login(world.admin_a)
    assert client.get(reverse("leads:pool-group-edit", args=[group.pk])).status_code == 200
    response = client.post(
        reverse("leads:pool-group-edit", args=[group.pk]),
        {
            "name": "新线索池",
            "is_enabled": "on",
            "open_to_all": "on",
            "sort_order": 1,
            "claim_mode": "admin",
            "daily_claim_limit": 0,
            "holding_limit": 3,
            "cooldown_days": 2,
            "warn_days": 0,
        },
    )
    assert response.status_code == 302
    with scopes_disabled():
        group.refresh_from_db()
    assert group.name == "新线索池" and group.claim_mode == "admin" and group.holding_limit == 3
    assert group.warn_days == 0
    client.post(reverse("leads:pool-group-delete", args=[group.pk]))
    with scopes_disabled():
        assert not PoolGroup.objects.filter(pk=group.pk).exists()


def test_menu_entries(world, login):
    rep_page = login(world.rep_east).get(reverse("leads:pool-list")).content.decode()
    assert reverse("leads:pool-list") in rep_page
    assert reverse("leads:pool-group-list") not in rep_page
    manager_page = login(world.manager_sales).get(reverse("leads:pool-list")).content.decode()
    assert reverse("leads:pool-group-list") in manager_page


@pytest.mark.parametrize(
    ("persona", "sees_east", "sees_open"),
    [
        ("rep_east", True, True),  # member of 华东线索池 (department), and of the open pool
        ("rep_east2", True, True),  # its pool admin
        ("rep_west", False, True),  # not a member of 华东线索池
        ("service_a", False, True),
        ("manager_sales", True, True),  # lead.manage: every lead pool
        ("admin_a", True, True),
        ("rep_b", False, False),  # another tenant
    ],
)
def test_visibility_of_pooled_leads_on_the_pool_list_and_the_lead_page(
    world, login, east_leads, persona, sees_east, sees_open
):
    open_pool = make_lead_pool(world.tenant_a, "全员线索池")
    east = make_pooled_lead(east_leads, "华东池中线索")
    anyone = make_pooled_lead(open_pool, "全员池中线索")
    client = login(getattr(world, persona))
    page = client.get(reverse("leads:pool-list")).content.decode()
    assert ("华东池中线索" in page) == sees_east
    assert ("全员池中线索" in page) == sees_open
    for lead, sees in ((east, sees_east), (anyone, sees_open)):
        status = client.get(reverse("leads:lead-detail", args=[lead.pk])).status_code
        assert status == (200 if sees else 404)


# ---------------------------------------------------------------- recycling forecast, workbench


def _owned_lead(group, owner, name=None, *, days_ago, **fields):
    since = timezone.now() - days_ago * DAY
    return make_lead(
        group.tenant, owner, name, pool_group=group, owned_since=since, created_at=since, **fields
    )


def test_lead_page_shows_when_and_why_it_falls_into_the_lead_pool(world, login):
    pool = make_lead_pool(world.tenant_a, "七天线索池", recycle_no_followup_days=7)
    lead = _owned_lead(pool, world.rep_east, days_ago=5)
    client = login(world.rep_east)
    body = client.get(reverse("leads:lead-detail", args=[lead.pk])).content.decode()
    assert 'data-testid="recycle-forecast"' in body
    assert "2 天后进入线索池：7 天未跟进" in body and "七天线索池" in body
    # Closed leads are never recycled; a pool without days recycles nothing.
    closed = _owned_lead(pool, world.rep_east, days_ago=5, status=Lead.Status.CLOSED)
    body = client.get(reverse("leads:lead-detail", args=[closed.pk])).content.decode()
    assert 'data-testid="recycle-forecast"' not in body
    kept = _owned_lead(make_lead_pool(world.tenant_a, "不回收"), world.rep_east, days_ago=50)
    body = client.get(reverse("leads:lead-detail", args=[kept.pk])).content.decode()
    assert 'data-testid="recycle-forecast"' not in body


def test_workbench_lists_my_leads_about_to_fall_into_the_lead_pool(world, login):
    pool = make_lead_pool(world.tenant_a, "七天线索池", recycle_no_followup_days=7, warn_days=3)
    client = login(world.rep_east)
    url = reverse("crm:workbench")

    def run() -> tuple[int, str]:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        assert response.status_code == 200
        return len(ctx.captured_queries), response.content.decode()

    _, body = run()
    assert 'data-testid="lead-recycle-soon"' not in body  # nothing due: no panel
    soon = _owned_lead(pool, world.rep_east, "快掉线索池", days_ago=5)
    _owned_lead(pool, world.rep_east, "还早的线索", days_ago=1)
    _owned_lead(pool, world.rep_east, "关闭的线索", days_ago=5, status=Lead.Status.CLOSED)
    _owned_lead(pool, world.rep_west, "别人的线索", days_ago=5)
    run()
    small, body = run()
    assert 'data-testid="lead-recycle-soon"' in body
    assert "快掉线索池" in body and reverse("leads:lead-detail", args=[soon.pk]) in body
    assert "2 天后进入线索池：7 天未跟进" in body
    assert "还早的线索" not in body and "关闭的线索" not in body and "别人的线索" not in body
    for i in range(8):
        _owned_lead(pool, world.rep_east, f"多{i}", days_ago=6)
    more, body = run()
    assert more == small
    assert "多7" in body
