"""Keyset pagination of the customer list: the next/previous links carry a cursor (the sort
key of the page's last/first row) for the default and the time and name sorts, so a deep
page seeks its index instead of skipping rows; ``?page=N`` still works for users who type it.

What the cursor path must keep: every row exactly once across page boundaries (ties on the
sort key included), the list's filters and visibility (a cursor never shows an invisible
row), page 1 for a cursor that does not parse, and a fixed number of queries.
"""

from __future__ import annotations

import base64
import datetime
import html
import json
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_scopes import scopes_disabled

from crm.tenancy import tenant_scope
from crm.views.lists import PER_PAGE
from customers import selectors
from customers.models import Customer
from tests.customers.factories import make_customer, make_participant, make_star

URL = reverse("customers:customer-list")
CURSOR_SORTS = ["created", "last_followup", "next_followup", "name"]


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def crowd(world):
    """71 customers of tenant A (about three pages for the manager) whose sort keys tie in
    runs: created in bursts of 7 at the same instant, last follow-ups in runs of 5 with a
    third never followed, names repeated, next follow-ups mostly empty. Owners rotate over
    rep_east, rep_east2, rep_west and nobody; every 9th is public; rep_east participates in
    a few of rep_west's."""
    w = world
    base = timezone.now() - datetime.timedelta(days=40)
    owners = [w.rep_east, w.rep_east2, w.rep_west, None]
    rows = []
    for i in range(71):
        owner = owners[i % 4]
        customer = make_customer(
            w.tenant_a,
            owner,
            f"客户{i % 6}",
            city="长沙" if i % 3 else "武汉",
            visibility="public" if i % 9 == 0 else "private",
        )
        rows.append(customer)
        with scopes_disabled():
            Customer.objects.filter(pk=customer.pk).update(
                created_at=base + datetime.timedelta(hours=i // 7),
                last_followup_at=None if i % 3 == 0 else base + datetime.timedelta(days=i // 5),
                next_followup_at=base + datetime.timedelta(days=i // 10) if i % 4 == 1 else None,
            )
        if owner == w.rep_west and i % 8 == 2:
            make_participant(customer, w.rep_east)
        if i % 5 == 0 and owner is not None:
            make_star(customer, w.manager_sales)
    return rows


def _expected(user, view: str, sort: str, params: dict | None = None) -> list[int]:
    """The whole list in its order, read as one plain query (no cursor, no union)."""
    from customers.filters import CustomerFilter

    with tenant_scope(user.tenant_id):
        user = type(user).objects.get(pk=user.pk)
        base = selectors.customer_base(actor=user, view=view)
        if params:
            base = CustomerFilter(params, queryset=base).qs
        ordered = base.order_by(*selectors.SORTS[sort])
        return list(ordered.values_list("pk", flat=True))


def _link(page_html: str, rel: str) -> str | None:
    found = re.search(rf'rel="{rel}" href="(\?[^"]*)"', page_html)
    return html.unescape(found.group(1)) if found else None


def _ids(response) -> list[int]:
    return [c.pk for c in response.context["page"]]


def _walk(client, params: dict) -> tuple[list[list[int]], list]:
    """Follow the next links from page 1 to the end: the ids of every page, the responses."""
    response = client.get(URL, params)
    pages, responses = [_ids(response)], [response]
    while (href := _link(response.content.decode(), "next")) is not None:
        response = client.get(URL + href)
        assert response.status_code == 200
        pages.append(_ids(response))
        responses.append(response)
        assert len(pages) < 20, "the links go round in circles"
    return pages, responses


@pytest.mark.parametrize("sort", CURSOR_SORTS)
@pytest.mark.parametrize("persona", ["manager_sales", "admin_a", "rep_east"])
def test_next_links_read_every_row_once_in_order_with_ties(crowd, world, persona, sort):
    user = getattr(world, persona)
    pages, responses = _walk(_client(user), {"view": "all", "sort": sort})
    expected = _expected(user, "all", sort)
    assert [pk for page in pages for pk in page] == expected
    assert all(len(page) == PER_PAGE for page in pages[:-1])
    assert [r.context["page"].number for r in responses] == list(range(1, len(pages) + 1))
    if persona != "rep_east":
        assert len(pages) >= 3
    # Past page 1 the links carry cursors, not page numbers.
    for response in responses[1:]:
        body = response.content.decode()
        assert "after=" in (_link(body, "next") or "after=")
        assert "page=" not in (_link(body, "next") or "")


@pytest.mark.parametrize("sort", CURSOR_SORTS)
def test_previous_links_read_the_same_pages_back(crowd, world, sort):
    client = _client(world.manager_sales)
    pages, responses = _walk(client, {"view": "all", "sort": sort})
    response = responses[-1]
    back = [pages[-1]]
    while (href := _link(response.content.decode(), "prev")) is not None:
        response = client.get(URL + href)
        back.append(_ids(response))
    assert back[::-1] == pages
    assert response.context["page"].number == 1


@pytest.mark.parametrize(
    "view", ["mine", "participated", "team", "all", "starred", "unassigned", "stale"]
)
@pytest.mark.parametrize("persona", ["manager_sales", "admin_a", "rep_east"])
def test_each_list_view_pages_by_cursor(crowd, world, persona, view):
    user = getattr(world, persona)
    pages, _responses = _walk(_client(user), {"view": view})
    assert [pk for page in pages for pk in page] == _expected(user, view, "created")


@pytest.mark.parametrize("sort", ["created", "name"])
def test_cursor_pages_keep_the_filters(crowd, world, sort):
    user = world.manager_sales
    params = {"view": "all", "city": "长沙", "sort": sort}
    pages, _responses = _walk(_client(user), params)
    ids = [pk for page in pages for pk in page]
    assert ids == _expected(user, "all", sort, {"city": "长沙"})
    with scopes_disabled():
        assert set(Customer.objects.filter(pk__in=ids).values_list("city", flat=True)) == {"长沙"}


def _token(data) -> str:
    raw = json.dumps(data, ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_a_cursor_never_shows_invisible_rows(crowd, world):
    w = world
    client = _client(w.rep_east)
    visible = set(_expected(w.rep_east, "all", "created"))
    with scopes_disabled():
        hidden = Customer.objects.filter(tenant=w.tenant_a).exclude(pk__in=visible)
        anchor = hidden.order_by("-created_at", "-id")[3]
        assert hidden.exists() and Customer.objects.filter(tenant=w.tenant_b).count() == 0
        other = make_customer(w.tenant_b, w.rep_b, "乙的客户")
    # A cursor made from an invisible row (and one far in the future) still shows only
    # what rep_east sees: the key says where to start, not what to read.
    future = (timezone.now() + datetime.timedelta(days=1)).isoformat()
    seen = set()
    for key in ([anchor.created_at.isoformat(), anchor.pk], [future, other.pk + 1000]):
        for name in ("after", "before"):
            response = client.get(URL, {"view": "all", name: _token(["created", 2, *key])})
            assert response.status_code == 200
            shown = set(_ids(response))
            assert shown <= visible
            seen |= shown
    assert len(seen) >= PER_PAGE  # the cursors did read rows, all of them visible


@pytest.mark.parametrize(
    "token",
    [
        "nonsense",
        "%%%",
        _token(["created", 3]),  # no key
        _token(["name", 3, "客户1", 1]),  # another sort's cursor
        _token(["created", 0, "2026-01-01T00:00:00+00:00", 5]),  # page 0
        _token(["created", "3", "2026-01-01T00:00:00+00:00", 5]),  # page as text
        _token(["created", 3, "2026-01-01T00:00:00", 5]),  # a time without its zone
        _token(["created", 3, "yesterday", 5]),
        _token(["created", 3, None, 5]),  # created_at is never empty
        _token(["created", 3, "2026-01-01T00:00:00+00:00", "x"]),
        _token(["created", 3, "2026-01-01T00:00:00+00:00", [5]]),
        _token({"sort": "created"}),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_a_cursor_that_does_not_parse_gives_page_one(crowd, world, token):
    client = _client(world.manager_sales)
    first = client.get(URL, {"view": "all"})
    for name in ("after", "before"):
        response = client.get(URL, {"view": "all", name: token})
        assert response.status_code == 200
        assert response.context["page"].number == 1
        assert _ids(response) == _ids(first)


def test_typed_page_numbers_still_work_and_link_by_cursor(crowd, world):
    client = _client(world.manager_sales)
    pages, _responses = _walk(client, {"view": "all"})
    second = client.get(URL, {"view": "all", "page": 2})
    assert second.context["page"].number == 2
    assert _ids(second) == pages[1]
    body = second.content.decode()
    assert "after=" in _link(body, "next") and "page=" not in _link(body, "next")
    # Page 2 goes back to the plain first page.
    assert _link(body, "prev") == "?view=all&page=1"
    assert _ids(client.get(URL + _link(body, "next"))) == pages[2]


def test_sorts_without_a_cursor_keep_page_numbers(crowd, world):
    client = _client(world.manager_sales)
    response = client.get(URL, {"view": "all", "sort": "level"})
    assert _link(response.content.decode(), "next") == "?view=all&sort=level&page=2"
    # A cursor on such a sort is ignored: the page number decides.
    token = _token(["level", 3, 1, 5])
    assert client.get(URL, {"view": "all", "sort": "level", "after": token}).context[
        "page"
    ].number == (1)


def test_a_cursor_page_runs_as_many_queries_as_page_one(crowd, world):
    client = _client(world.manager_sales)
    first = client.get(URL, {"view": "all"})
    href = _link(first.content.decode(), "next")
    client.get(URL + href)  # warm caches
    with CaptureQueriesContext(connection) as on_first:
        client.get(URL, {"view": "all"})
    with CaptureQueriesContext(connection) as on_cursor:
        response = client.get(URL + href)
    assert len(_ids(response)) == PER_PAGE
    assert len(on_cursor.captured_queries) == len(on_first.captured_queries)
    # The manager's page is read from the union of his visible parts, seeking the key.
    assert any("row_created" in q["sql"] for q in on_cursor.captured_queries)


@pytest.mark.parametrize("params", [{"view": "all"}, {"view": "all", "city": "长沙"}])
def test_a_page_typed_past_the_end_is_empty_without_reading_it(crowd, world, params):
    client = _client(world.manager_sales)
    client.get(URL, params)  # warm caches
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(URL, {**params, "page": 500})
    assert response.status_code == 200
    assert response.context["page"].number == 500 and _ids(response) == []
    assert not response.context["page"].has_next
    assert not any("OFFSET" in q["sql"].upper() for q in ctx.captured_queries)
    # The last page that has rows is still read.
    total = len(_expected(world.manager_sales, "all", "created", {"city": params.get("city")}))
    last = (total - 1) // PER_PAGE + 1
    assert _ids(client.get(URL, {**params, "page": last}))
