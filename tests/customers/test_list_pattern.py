"""The list pattern on the customer list (issue 16): quick-filter chips, 今日待跟进 by the
time of day, overdue rows, sort headers, page size and page count, the 高级筛选 panel's
widgets (全部, not "---------" or 未知; date pickers), empty states with a way out."""

from __future__ import annotations

import datetime
import re

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone, translation

from crm.views.lists import PER_PAGE, chips, page_size, sort_headers
from tests.customers.factories import make_customer

URL = "customers:customer-list"


def _names(response) -> list[str]:
    return [c.name for c in response.context["page"]]


@pytest.fixture
def day(world):
    """Customers of rep_east with next follow-ups today (out of order), yesterday and none."""
    noon = timezone.localtime().replace(hour=12, minute=0, second=0, microsecond=0)
    at = {
        "下午四点": noon + datetime.timedelta(hours=4),
        "上午九点": noon - datetime.timedelta(hours=3),
        "中午": noon,
        "昨天的": noon - datetime.timedelta(days=1),
        "不跟进": None,
    }
    for name, when in at.items():
        make_customer(world.tenant_a, world.rep_east, name, next_followup_at=when)
    return at


def test_due_today_runs_by_the_time_of_day(world, login, day):
    response = login(world.rep_east).get(reverse(URL), {"due": "today"})
    assert _names(response) == ["上午九点", "中午", "下午四点"]
    assert response.context["sort"] == "next_followup_soon"
    # The 跟进今天 view too, when no other order is asked for.
    response = login(world.rep_east).get(reverse(URL), {"view": "today"})
    assert response.context["sort"] == "next_followup_soon"
    names = _names(response)
    assert names == sorted(names, key=lambda n: day[n])


def test_overdue_chip_and_rows(world, login, day):
    response = login(world.rep_east).get(reverse(URL), {"due": "overdue"})
    names = set(_names(response))
    assert "昨天的" in names and "下午四点" not in names and "不跟进" not in names
    overdue = {c.name for c in response.context["page"] if c.overdue}
    assert "昨天的" in overdue and "下午四点" not in overdue
    body = response.content.decode()
    assert re.search(r'<tr data-customer="\d+" class="overdue">', body)


def test_chips_toggle_and_keep_the_rest_of_the_query():
    request = RequestFactory().get("/customers/", {"view": "team", "page": "3", "per": "50"})
    got = chips(request, [("due", "今日待跟进", {"due": "today"})])
    assert not got[0].active
    assert "due=today" in got[0].url and "view=team" in got[0].url and "per=50" in got[0].url
    assert "page=" not in got[0].url  # a new filter starts on page 1
    request = RequestFactory().get("/customers/", {"view": "team", "due": "today"})
    got = chips(request, [("due", "今日待跟进", {"due": "today"})])
    assert got[0].active and "due=" not in got[0].url and "view=team" in got[0].url


def test_sort_headers_point_to_their_sort_and_turn_it_round():
    columns = {
        "name": ("客户", "name", None, "asc"),
        "next": ("下次跟进", "next_followup_soon", "next_followup", "asc"),
    }
    request = RequestFactory().get("/customers/", {"sort": "name", "after": "x"})
    headers = sort_headers(request, "name", columns)
    assert headers["name"].direction == "asc" and headers["next"].direction == ""
    assert "sort=next_followup_soon" in headers["next"].url and "after" not in headers["next"].url
    headers = sort_headers(request, "next_followup_soon", columns)
    assert headers["next"].direction == "asc" and "sort=next_followup&" in headers["next"].url + "&"
    headers = sort_headers(request, "next_followup", columns)
    assert headers["next"].direction == "desc" and "sort=next_followup_soon" in headers["next"].url


@pytest.mark.parametrize(
    ("value", "expected"), [("50", 50), ("100", 100), ("20", 20), ("7", PER_PAGE), ("x", PER_PAGE)]
)
def test_page_size_is_one_of_the_offered(value, expected):
    assert page_size(RequestFactory().get("/", {"per": value})) == expected


def test_page_size_and_page_count(world, login):
    for i in range(45):
        make_customer(world.tenant_a, world.rep_east, f"客户{i:02d}")
    client = login(world.rep_east)
    page = client.get(reverse(URL)).context["page"]
    assert (len(page), page.num_pages, page.total) == (20, 3, 45)
    page = client.get(reverse(URL), {"per": "50"}).context["page"]
    assert (len(page), page.num_pages, page.has_next) == (45, 1, False)
    with translation.override("zh-hans"):
        body = client.get(reverse(URL), {"per": "20", "page": "2"}).content.decode()
    assert "第 2 / 3 页" in body and "共 45 条" in body
    # The next page's link keeps the page size.
    assert re.search(r'rel="next" href="\?[^"]*per=20', body)


def test_the_advanced_panel_reads_as_a_user_expects(world, login):
    client = login(world.rep_east)
    with translation.override("zh-hans"):
        body = client.get(reverse(URL)).content.decode()
    start = body.index("data-advanced")
    panel = body[start : body.index("</details>", start)]
    assert "<details" not in panel[:0] and " open" not in panel[: panel.index(">")]
    assert "---------" not in panel and "未知" not in panel
    assert '<option value="" selected>全部</option>' in panel
    assert 'type="date" name="created_after"' in panel
    assert 'type="date" name="created_before"' in panel
    # The search box is outside the panel, always on screen.
    search = body[body.index("data-list-search") : body.index("data-advanced")]
    assert 'name="q"' in search
    # An advanced filter in use opens the panel; a search alone does not.
    body = client.get(reverse(URL), {"is_locked": "true"}).content.decode()
    assert re.search(r"data-advanced open", body)
    body = client.get(reverse(URL), {"q": "客户"}).content.decode()
    assert not re.search(r"data-advanced open", body)


def test_empty_states_offer_the_next_step(world, login):
    client = login(world.rep_east)
    with translation.override("zh-hans"):
        body = client.get(reverse(URL)).content.decode()
        assert reverse("customers:customer-create") in body.split('class="empty-state"')[1]
        assert reverse("customers:pool-list") in body.split('class="empty-state"')[1]
        body = client.get(reverse(URL), {"q": "没有这个客户"}).content.decode()
    state = body.split('class="empty-state"')[1]
    assert "没有符合条件的客户" in state and "清除筛选" in state


def test_the_batch_bar_lists_actions_and_counts_in_words(world, login):
    make_customer(world.tenant_a, world.rep_east, "甲")
    with translation.override("zh-hans"):
        body = login(world.rep_east).get(reverse(URL)).content.decode()
    bar = body[body.index("data-batch-bar") : body.index("</form>", body.index("data-batch-bar"))]
    assert "已选 <b data-batch-count>0</b> 项" in bar
    assert "退回公海" in bar and "加标签" in bar
    # The form asks nothing of the browser: every missing choice is answered by the server.
    assert re.search(r'<form[^>]*id="batch-form"[^>]*novalidate', body)


def test_contacts_sort_by_their_headers_and_count_their_pages(world, login):
    from tests.customers.factories import make_contact

    for name, customer in [("乙联系人", "客户甲"), ("甲联系人", "客户乙"), ("丙联系人", "客户丙")]:
        make_contact(make_customer(world.tenant_a, world.rep_east, customer), name)
    client = login(world.rep_east)
    url = reverse("customers:contact-list")
    response = client.get(url, {"sort": "name"})
    names = [c.name for c in response.context["page"]]
    assert names == sorted(names)
    assert response.context["page"].total == 3 and response.context["page"].num_pages == 1
    by_customer = [c.customer.name for c in client.get(url, {"sort": "customer"}).context["page"]]
    assert by_customer == sorted(by_customer)
    body = client.get(url).content.decode()
    assert body.count("data-sort-link") == 2 and "sort=customer" in body


def test_the_follow_up_feed_searches_and_counts(world, login):
    from crm.models import OptionKind
    from tests.customers.factories import make_followup, option

    kind = option(world.tenant_a, OptionKind.FOLLOWUP_TYPE)
    customer = make_customer(world.tenant_a, world.rep_east, "搜索客户")
    make_followup(customer, world.rep_east, "谈了价格", kind=kind)
    make_followup(customer, world.rep_east, "送了样品", kind=kind)
    client = login(world.rep_east)
    url = reverse("customers:followup-feed")
    page = client.get(url, {"q": "价格"}).context["page"]
    assert [f.content for f in page] == ["谈了价格"] and page.total == 1
    assert client.get(url, {"q": "搜索客户"}).context["page"].total == 2
    today = timezone.localdate().isoformat()
    with translation.override("zh-hans"):
        body = client.get(url).content.decode()
    assert f'href="?start={today}"' in body and "今天" in body
