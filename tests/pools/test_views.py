"""The pool pages: who sees which pool, masked fields, actions through the views, the
customer page's pool part, and isolation of the POST endpoints that take ids in the body."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_scopes import scopes_disabled

from customers.models import Customer, OwnershipEvent
from tests.customers.factories import make_contact, make_customer
from tests.pools.factories import DAY, make_group, owned, pooled, return_reason


def _reload(customer) -> Customer:
    with scopes_disabled():
        return Customer.objects.get(pk=customer.pk)


@pytest.fixture
def east_pool(world):
    """A self-claim group of the east department (rep_east, rep_east2), rep_west not in it."""
    return make_group(world.tenant_a, "华东公海", departments=[world.east])


def test_pool_list_shows_the_members_pool_with_contact_phones_hidden(world, login, east_pool):
    customer = pooled(east_pool, "池中客户甲", pool_note="联系不上：换号了")
    make_contact(customer, "张三", mobile="13912345678")
    page = login(world.rep_east).get(reverse("customers:pool-list"))
    assert page.status_code == 200
    body = page.content.decode()
    assert "池中客户甲" in body
    assert "张三" in body
    assert "13912345678" not in body  # hidden until claimed (default hidden fields)
    assert "联系不上：换号了" in body  # why it came back


def test_pool_list_is_empty_for_non_members_and_never_shows_other_tenants(world, login, east_pool):
    pooled(east_pool, "池中客户乙")
    other_tenant_group = make_group(world.tenant_b, "乙公海", open_to_all=True)
    pooled(other_tenant_group, "乙的池中客户")
    west = login(world.rep_west).get(reverse("customers:pool-list")).content.decode()
    assert "池中客户乙" not in west
    assert "乙的池中客户" not in west
    # Even asking for the group by id shows nothing of it.
    west = login(world.rep_west).get(reverse("customers:pool-list") + f"?group={east_pool.pk}")
    assert "池中客户乙" not in west.content.decode()


def test_pool_customer_page_is_a_404_for_non_members(world, login, east_pool):
    customer = pooled(east_pool)
    url = reverse("customers:customer-detail", args=[customer.pk])
    assert login(world.rep_west).get(url).status_code == 404
    assert login(world.rep_b).get(url).status_code == 404
    page = login(world.rep_east).get(url)
    assert page.status_code == 200
    assert 'data-testid="pool-state"' in page.content.decode()
    assert 'data-testid="claim"' in page.content.decode()


def test_claim_through_the_view_gives_the_customer_and_shows_the_phone(world, login, east_pool):
    customer = pooled(east_pool, "待领取客户")
    make_contact(customer, "李四", mobile="13812345678")
    client = login(world.rep_east)
    response = client.post(reverse("customers:pool-claim"), {"ids": [customer.pk]})
    assert response.status_code == 302
    assert response["Location"] == reverse("customers:customer-detail", args=[customer.pk])
    after = _reload(customer)
    assert after.owner_id == world.rep_east.pk
    assert after.pooled_at is None
    contacts = client.get(reverse("customers:customer-tab", args=[customer.pk, "contacts"]))
    assert "13812345678" in contacts.content.decode()


def test_batch_claim_reports_the_customers_someone_else_got(world, login, east_pool):
    free = pooled(east_pool, "还在池里")
    gone = pooled(east_pool, "已被领走")
    with scopes_disabled():
        Customer.objects.filter(pk=gone.pk).update(owner=world.rep_east2, pooled_at=None)
    response = login(world.rep_east).post(
        reverse("customers:pool-claim"), {"ids": [free.pk, gone.pk]}, follow=True
    )
    body = response.content.decode()
    # SECURITY: rep_east does not see rep_east2's customer: counted, never named.
    assert "1 个客户不存在或已被他人领取" in body
    assert "已被领走" not in body
    assert _reload(free).owner_id == world.rep_east.pk
    assert _reload(gone).owner_id == world.rep_east2.pk


def test_claim_refusal_is_a_message_and_changes_nothing(world, login, east_pool):
    east_pool.daily_claim_limit = 1
    with scopes_disabled():
        east_pool.save()
    a, b = pooled(east_pool), pooled(east_pool)
    response = login(world.rep_east).post(
        reverse("customers:pool-claim"), {"ids": [a.pk, b.pk]}, follow=True
    )
    assert response.status_code == 200
    assert _reload(a).owner_id is None and _reload(b).owner_id is None
    with scopes_disabled():
        assert not OwnershipEvent.objects.filter(kind="claimed").exists()


def test_another_tenants_ids_in_the_body_are_refused(world, login):
    b_group = make_group(world.tenant_b, "乙公海", open_to_all=True)
    theirs = pooled(b_group, "乙的池中客户")
    b_owned = make_customer(world.tenant_b, world.rep_b, "乙的客户", pool_group=b_group)
    client = login(world.admin_a)
    reason = return_reason(world.tenant_a)
    posts = [
        ("customers:pool-claim", {"ids": [theirs.pk]}),
        ("customers:pool-assign", {"ids": [theirs.pk], "users": [world.rep_east.pk]}),
        ("customers:pool-return", {"ids": [b_owned.pk], "reason": reason.pk}),
    ]
    for name, data in posts:
        assert client.post(reverse(name), data).status_code == 302
    assert _reload(theirs).owner_id is None and _reload(theirs).pooled_at is not None
    assert _reload(b_owned).owner_id == world.rep_b.pk


def test_return_from_the_customer_list_batch_needs_a_reason(world, login, east_pool):
    mine = owned(east_pool, world.rep_east, "不想跟了")
    client = login(world.rep_east)
    client.post(reverse("customers:pool-return"), {"ids": [mine.pk]})
    assert _reload(mine).owner_id == world.rep_east.pk  # refused: no reason
    reason = return_reason(world.tenant_a)
    response = client.post(
        reverse("customers:pool-return"),
        {"ids": [mine.pk], "reason": reason.pk, "note": "打了三次", "next": "/customers/"},
    )
    assert response.status_code == 302
    after = _reload(mine)
    assert after.owner_id is None and after.pooled_at is not None
    assert after.pool_note == "联系不上：打了三次"
    assert after.previous_owner_id == world.rep_east.pk


def test_customer_page_shows_when_and_why_it_falls_into_the_pool(world, login, east_pool):
    east_pool.recycle_no_followup_days = 30
    with scopes_disabled():
        east_pool.save()
    customer = owned(east_pool, world.rep_east, since=timezone.now() - 26 * DAY)
    page = login(world.rep_east).get(reverse("customers:customer-detail", args=[customer.pk]))
    body = page.content.decode()
    assert 'data-testid="recycle-forecast"' in body
    assert "30" in body
    assert 'data-testid="return"' in body


def test_customer_lists_leave_pool_customers_out(world, login, east_pool):
    pooled(east_pool, "池里的客户")
    make_customer(world.tenant_a, None, "无人负责的客户")
    client = login(world.admin_a)
    everything = client.get(reverse("customers:customer-list") + "?view=all").content.decode()
    assert "池里的客户" not in everything
    unassigned = client.get(reverse("customers:customer-list") + "?view=unassigned")
    assert "无人负责的客户" in unassigned.content.decode()
    assert "池里的客户" not in unassigned.content.decode()


def test_pool_list_runs_a_fixed_number_of_queries(world, login, east_pool):
    client = login(world.rep_east)
    url = reverse("customers:pool-list")

    def run() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    first = pooled(east_pool)
    make_contact(first, "联系人")
    small = run()
    for i in range(8):
        customer = pooled(east_pool, f"多{i}", at=timezone.now() - datetime.timedelta(hours=i))
        make_contact(customer, f"联系人{i}")
    assert run() == small


def test_workbench_lists_my_customers_about_to_be_recycled(world, login, east_pool):
    east_pool.recycle_no_followup_days = 30
    east_pool.warn_days = 5
    with scopes_disabled():
        east_pool.save()
    owned(east_pool, world.rep_east, "快掉公海了", since=timezone.now() - 27 * DAY)
    owned(east_pool, world.rep_east, "还早着呢", since=timezone.now() - 2 * DAY)
    body = login(world.rep_east).get(reverse("crm:workbench")).content.decode()
    assert "快掉公海了" in body
    assert "还早着呢" not in body
