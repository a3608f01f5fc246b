"""最近浏览 (issue 16 §6, crm/recent.py): the last customers and leads a user opened, in the
top bar's dropdown, on its page and on the workbench. Only a full page load counts; a record
the user no longer sees (transferred away, returned to the pool, in the bin, another
tenant's) leaves the list; at most 10, newest first; a fixed number of queries."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_scopes import scopes_disabled

from crm import recent
from crm.models import RecentView
from customers.models import Customer
from leads.models import Lead
from tests.conftest import PASSWORD
from tests.customers.factories import make_customer
from tests.leads.factories import make_lead

HTMX = {"HTTP_HX_REQUEST": "true"}


def _client(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def _open(client, record) -> None:
    name = "customers:customer-detail" if isinstance(record, Customer) else "leads:lead-detail"
    assert client.get(reverse(name, args=[record.pk])).status_code == 200


def _rows(user) -> list[tuple[str, int]]:
    with scopes_disabled():
        return list(
            RecentView.objects.filter(user=user)
            .order_by("-viewed_at", "-id")
            .values_list("kind", "object_id")
        )


def _view(user, kind: str, object_id: int, minutes_ago: int) -> RecentView:
    with scopes_disabled():
        return RecentView.objects.create(
            tenant_id=user.tenant_id,
            user=user,
            kind=kind,
            object_id=object_id,
            viewed_at=timezone.now() - datetime.timedelta(minutes=minutes_ago),
        )


def _menu(client) -> str:
    response = client.get(reverse("crm:recent"), **HTMX)
    assert response.status_code == 200
    return response.content.decode()


def _listed(html: str) -> list[tuple[str, int]]:
    """(kind, id) of the lines of a rendered list, in their order."""
    import re

    return [
        (kind, int(pk))
        for kind, pk in re.findall(
            r'data-testid="recent-item" data-kind="(\w+)" data-object="(\d+)"', html
        )
    ]


@pytest.fixture
def mine(world):
    t = world.tenant_a
    return {
        "first": make_customer(t, world.rep_east, "最近客户甲"),
        "second": make_customer(t, world.rep_east, "最近客户乙"),
        "lead": make_lead(t, world.rep_east, "王经理", company="最近线索公司"),
    }


def test_a_full_page_load_records_a_view_and_tabs_and_htmx_do_not(world, mine):
    client = _client(world.rep_east)
    customer, lead = mine["first"], mine["lead"]
    client.get(reverse("customers:customer-detail", args=[customer.pk]), **HTMX)
    client.get(reverse("customers:customer-tab", args=[customer.pk, "followups"]), **HTMX)
    client.get(reverse("leads:lead-detail", args=[lead.pk]), **HTMX)
    assert _rows(world.rep_east) == []
    _open(client, customer)
    _open(client, lead)
    assert _rows(world.rep_east) == [("lead", lead.pk), ("customer", customer.pk)]


def test_opening_again_moves_the_record_to_the_top_without_a_second_row(world, mine):
    client = _client(world.rep_east)
    for record in (mine["first"], mine["second"], mine["lead"], mine["first"]):
        _open(client, record)
    assert _rows(world.rep_east) == [
        ("customer", mine["first"].pk),
        ("lead", mine["lead"].pk),
        ("customer", mine["second"].pk),
    ]


def test_the_dropdown_the_page_and_the_workbench_list_them_newest_first(world, mine):
    client = _client(world.rep_east)
    for record in (mine["first"], mine["lead"], mine["second"]):
        _open(client, record)
    expected = [
        ("customer", mine["second"].pk),
        ("lead", mine["lead"].pk),
        ("customer", mine["first"].pk),
    ]
    menu = _menu(client)
    assert _listed(menu) == expected
    assert "最近客户乙" in menu and "最近线索公司 王经理" in menu
    assert reverse("leads:lead-detail", args=[mine["lead"].pk]) in menu
    # The kind chips, and the time as the bell tells it (刚刚 for a view just made); these
    # words were translated before 最近浏览 (django.po).
    assert ">客户</span>" in menu and ">线索</span>" in menu and "刚刚" in menu
    page = client.get(reverse("crm:recent")).content.decode()
    workbench = client.get(reverse("crm:workbench")).content.decode()
    assert 'data-testid="recent-page"' in page and _listed(page) == expected
    panel = workbench[workbench.index('data-testid="recent-panel"') :]
    assert _listed(panel) == expected


def test_the_list_shows_the_ten_newest(world):
    t = world.tenant_a
    customers = [make_customer(t, world.rep_east, f"十个{i:02d}") for i in range(12)]
    for minutes_ago, customer in enumerate(customers):
        _view(world.rep_east, "customer", customer.pk, minutes_ago)
    listed = _listed(_menu(_client(world.rep_east)))
    assert listed == [("customer", c.pk) for c in customers[:10]]


def test_records_out_of_sight_leave_the_list_and_the_next_ones_fill_it(world, mine):
    t = world.tenant_a
    transferred = make_customer(t, world.rep_east, "转走的")
    returned = make_customer(t, world.rep_east, "退回公海的")
    binned = make_customer(t, world.rep_east, "删除的")
    lead_away = make_lead(t, world.rep_east, "李四", company="转走的线索")
    older = [make_customer(t, world.rep_east, f"更早{i}") for i in range(10)]
    client = _client(world.rep_east)
    newest_first = (lead_away, binned, returned, transferred, *older)
    for minutes_ago, record in enumerate(newest_first):
        kind = "customer" if isinstance(record, Customer) else "lead"
        _view(world.rep_east, kind, record.pk, minutes_ago)
    assert len(_listed(_menu(client))) == 10
    assert _listed(_menu(client))[0] == ("lead", lead_away.pk)
    # rep_west is in another department: outside rep_east's data scope.
    with scopes_disabled():
        Customer.objects.filter(pk=transferred.pk).update(owner=world.rep_west)
        Customer.objects.filter(pk=returned.pk).update(owner=None, pooled_at=timezone.now())
        Customer.objects.filter(pk=binned.pk).update(deleted_at=timezone.now())
        Lead.objects.filter(pk=lead_away.pk).update(owner=world.rep_west)
    listed = _listed(_menu(client))
    assert listed == [("customer", c.pk) for c in older]
    # The rows stay (the record may come back into sight); only the list leaves them out.
    assert len(_rows(world.rep_east)) == 14


def test_another_tenants_views_and_records_never_show(world, mine):
    b_customer = make_customer(world.tenant_b, world.rep_b, "乙的客户")
    b_lead = make_lead(world.tenant_b, world.rep_b, "乙的人", company="乙的线索")
    _open(_client(world.rep_b), b_customer)
    _open(_client(world.rep_b), b_lead)
    client = _client(world.rep_east)
    _open(client, mine["first"])
    # A row naming tenant B's records under a tenant A user (what no code path writes) shows
    # nothing either: the kinds read through the tenant wall and the data scope.
    _view(world.rep_east, "customer", b_customer.pk, 0)
    _view(world.rep_east, "lead", b_lead.pk, 0)
    menu = _menu(client)
    assert _listed(menu) == [("customer", mine["first"].pk)]
    assert "乙的" not in menu
    # And tenant B's user sees theirs, not tenant A's.
    b_menu = _menu(_client(world.rep_b))
    assert _listed(b_menu) == [("lead", b_lead.pk), ("customer", b_customer.pk)]
    assert "最近客户甲" not in b_menu


def test_another_users_views_never_show(world, mine):
    # rep_east2 (same department) opens a record rep_east also sees: only rep_east2's list
    # has it.
    with scopes_disabled():
        Customer.objects.filter(pk=mine["first"].pk).update(visibility=Customer.Visibility.PUBLIC)
    _open(_client(world.rep_east2), mine["first"])
    assert _listed(_menu(_client(world.rep_east))) == []
    assert _listed(_menu(_client(world.rep_east2))) == [("customer", mine["first"].pk)]


def test_an_unknown_kind_is_left_out_and_recording_one_is_refused(world, mine, rf):
    # A kind no app registers (opportunities register theirs since issue 20).
    _view(world.rep_east, "contract", 1, 0)
    client = _client(world.rep_east)
    _open(client, mine["first"])
    assert _listed(_menu(client)) == [("customer", mine["first"].pk)]
    request = rf.get("/")
    request.user = world.rep_east
    with pytest.raises(ValueError):
        recent.record_view(request, "contract", mine["first"])


def test_nothing_opened_yet_says_so(world):
    menu = _menu(_client(world.rep_east))
    assert 'data-testid="recent-empty"' in menu and _listed(menu) == []


def test_trim_keeps_the_newest_rows(world):
    for i in range(recent.KEEP + 5):
        _view(world.rep_east, "customer", 1000 + i, i)
    _view(world.rep_east2, "customer", 1, 999)
    with scopes_disabled():
        assert recent.trim(world.rep_east) == 5
    kept = _rows(world.rep_east)
    assert kept == [("customer", 1000 + i) for i in range(recent.KEEP)]
    assert len(_rows(world.rep_east2)) == 1  # another user's rows are theirs


def test_reading_the_list_trims_beyond_keep_and_a_page_view_never_does(world, mine):
    for i in range(recent.KEEP):
        _view(world.rep_east, "customer", 1000 + i, 10 + i)
    client = _client(world.rep_east)
    _open(client, mine["first"])
    _open(client, mine["second"])
    assert len(_rows(world.rep_east)) == recent.KEEP + 2  # a page view only upserts
    assert _listed(_menu(client))[:2] == [
        ("customer", mine["second"].pk),
        ("customer", mine["first"].pk),
    ]
    rows = _rows(world.rep_east)
    assert len(rows) == recent.KEEP
    assert rows[:3] == [
        ("customer", mine["second"].pk),
        ("customer", mine["first"].pk),
        ("customer", 1000),
    ]


def test_a_record_page_costs_the_same_queries_however_many_views(world, mine):
    """One upsert per page view, never a trim drawn by chance: the record pages keep their
    fixed query counts (tests/customers/test_views.py)."""
    client = _client(world.rep_east)
    url = reverse("customers:customer-detail", args=[mine["first"].pk])
    _queries(client, url)
    first = _queries(client, url)
    for i in range(recent.KEEP + 5):
        _view(world.rep_east, "customer", 1000 + i, 10 + i)
    assert all(_queries(client, url) == first for _i in range(5))


def _queries(client, url, **headers) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url, **headers).status_code == 200
    return len(ctx.captured_queries)


def test_the_dropdown_and_the_workbench_run_a_fixed_number_of_queries(world, mine):
    client = _client(world.rep_east)
    _open(client, mine["first"])
    _open(client, mine["lead"])
    _queries(client, reverse("crm:workbench"))  # warm the session and per-process caches
    menu = _queries(client, reverse("crm:recent"), **HTMX)
    workbench = _queries(client, reverse("crm:workbench"))
    t = world.tenant_a
    for i in range(8):
        _open(client, make_customer(t, world.rep_east, f"多{i}"))
        _open(client, make_lead(t, world.rep_east, f"多人{i}"))
    assert len(_listed(_menu(client))) == 10
    assert _queries(client, reverse("crm:recent"), **HTMX) == menu
    assert _queries(client, reverse("crm:workbench")) == workbench


def test_pages_read_nothing_for_the_top_bar(world, mine):
    """The dropdown is loaded when opened: a page with the top bar costs the same with or
    without recent views, and carries only the menu's URL."""
    client = _client(world.rep_east)
    url = reverse("crm:notification-list")
    _queries(client, url)
    before = _queries(client, url)
    for record in mine.values():
        _open(client, record)
    assert _queries(client, url) == before
    html = client.get(url).content.decode()
    assert f'hx-get="{reverse("crm:recent")}"' in html
    assert 'hx-trigger="toggle once"' in html
    assert "最近客户甲" not in html


def test_anonymous_users_are_sent_to_sign_in(client):
    response = client.get(reverse("crm:recent"))
    assert response.status_code == 302 and "/login" in response["Location"]
