"""Customer reads: every list view for a rep, a manager and an administrator, counts, sorts,
the follow-up feed, the duplicate search and single-customer lookups."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_scopes import scopes_disabled

from customers import selectors
from customers.models import Customer
from tests.customers.factories import (
    make_contact,
    make_customer,
    make_followup,
    make_participant,
    make_star,
    make_tag,
    tag_customer,
)

DAY = datetime.timedelta(days=1)


@pytest.fixture
def book(world):
    """Customers of tenant A (and one of B) placed so that each view has something to show."""
    now = timezone.now()
    a = world.tenant_a
    recent = {"last_followup_at": now - DAY}
    c = {
        "east_today": make_customer(a, world.rep_east, "华东今日", next_followup_at=now, **recent),
        "east_stale": make_customer(
            a, world.rep_east, "华东久未跟进", last_followup_at=now - 10 * DAY
        ),
        "east_never": make_customer(a, world.rep_east, "华东从未跟进", created_at=now - 10 * DAY),
        "east2": make_customer(
            a, world.rep_east2, "华东二", next_followup_at=now + 3 * DAY, **recent
        ),
        "west": make_customer(a, world.rep_west, "华西", **recent),
        "manager_own": make_customer(a, world.manager_sales, "经理自己", **recent),
        "service": make_customer(a, world.service_a, "售后", **recent),
        "admin_own": make_customer(a, world.admin_a, "总部", **recent),
        "pool": make_customer(a, None, "无人负责", created_at=now - 30 * DAY),
        "public_pool": make_customer(
            a, None, "公开无人负责", visibility=Customer.Visibility.PUBLIC
        ),
        "trashed": make_customer(a, world.rep_east, "已删除", deleted_at=now, next_followup_at=now),
        "b": make_customer(
            world.tenant_b, world.rep_b, "乙方客户", next_followup_at=now, created_at=now - 9 * DAY
        ),
        "b_pool": make_customer(
            world.tenant_b, None, "乙方公开", visibility=Customer.Visibility.PUBLIC
        ),
    }
    make_participant(c["east2"], world.rep_east)
    make_participant(c["b"], world.rep_b)
    make_star(c["east_today"], world.rep_east)
    make_star(c["east2"], world.rep_east)
    make_star(c["west"], world.rep_east)  # invisible to rep_east: never listed
    make_star(c["east_stale"], world.manager_sales)
    make_star(c["b"], world.rep_b)
    return c


EXPECTED = {
    "rep_east": {
        "all": {"east_today", "east_stale", "east_never", "east2", "public_pool"},
        "mine": {"east_today", "east_stale", "east_never"},
        "participated": {"east2"},
        "team": set(),
        "today": {"east_today"},
        "starred": {"east_today", "east2"},
        "unassigned": {"public_pool"},
        "stale": {"east_stale", "east_never"},
        "bin": {"trashed"},
    },
    "manager_sales": {
        "all": {
            "east_today",
            "east_stale",
            "east_never",
            "east2",
            "west",
            "manager_own",
            "public_pool",
        },
        "mine": {"manager_own"},
        "participated": set(),
        "team": {"east_today", "east_stale", "east_never", "east2", "west"},
        "today": {"east_today"},
        "starred": {"east_stale"},
        "unassigned": {"public_pool"},
        "stale": {"east_stale", "east_never"},
        "bin": {"trashed"},
    },
    "admin_a": {
        "all": {
            "east_today",
            "east_stale",
            "east_never",
            "east2",
            "west",
            "manager_own",
            "service",
            "admin_own",
            "pool",
            "public_pool",
        },
        "mine": {"admin_own"},
        "participated": set(),
        "team": {
            "east_today",
            "east_stale",
            "east_never",
            "east2",
            "west",
            "manager_own",
            "service",
        },
        "today": {"east_today"},
        "starred": set(),
        "unassigned": {"pool", "public_pool"},
        "stale": {"east_stale", "east_never"},
        "bin": {"trashed"},
    },
    "service_a": {
        "all": {"service", "public_pool"},
        "mine": {"service"},
        "participated": set(),
        "team": set(),
        "today": set(),
        "starred": set(),
        "unassigned": {"public_pool"},
        "stale": set(),
        "bin": set(),
    },
}
CASES = [(persona, view) for persona, views in EXPECTED.items() for view in views]


def _keys(book, qs):
    names = {c.pk: key for key, c in book.items()}
    return {names.get(pk, pk) for pk in qs.values_list("pk", flat=True)}


def test_expected_views_cover_every_view_key():
    for views in EXPECTED.values():
        assert set(views) == selectors.VIEW_KEYS


@pytest.mark.parametrize(("persona", "view"), CASES)
def test_customer_base_view_lists_exactly_the_expected_customers(
    world, scoped, book, persona, view
):
    actor = getattr(world, persona)
    with scoped(actor):
        qs = selectors.customer_base(actor=actor, view=view)
        assert _keys(book, qs) == EXPECTED[persona][view]


@pytest.mark.parametrize(("persona", "view"), CASES)
def test_customer_list_returns_the_same_rows_as_the_base_view(world, scoped, book, persona, view):
    actor = getattr(world, persona)
    with scoped(actor):
        assert (
            _keys(book, selectors.customer_list(actor=actor, view=view))
            == (EXPECTED[persona][view])
        )


@pytest.mark.parametrize("view", sorted(selectors.VIEW_KEYS))
def test_customer_base_of_tenant_b_never_shows_tenant_a(world, scoped, book, view):
    expected = {
        "all": {"b", "b_pool"},
        "mine": {"b"},
        "participated": {"b"},
        "team": set(),
        "today": {"b"},
        "starred": {"b"},
        "unassigned": {"b_pool"},
        "stale": {"b"},
        "bin": set(),
    }
    with scoped(world.rep_b):
        assert _keys(book, selectors.customer_base(actor=world.rep_b, view=view)) == expected[view]
    with scoped(world.admin_b):
        assert _keys(book, selectors.customer_base(actor=world.admin_b, view=view)) <= {
            "b",
            "b_pool",
        }


def test_customer_base_refuses_unknown_view(world, scoped):
    with scoped(world.rep_east), pytest.raises(Http404):
        selectors.customer_base(actor=world.rep_east, view="everything")


def test_customer_base_is_empty_for_deactivated_user(world, scoped, book):
    world.rep_east.is_active = False
    with scoped(world.rep_east):
        assert not selectors.customer_base(actor=world.rep_east).exists()


# ---------------------------------------------------------------- counts


def test_capped_count_caps_at_count_cap(world, scoped, book, monkeypatch):
    monkeypatch.setattr(selectors, "COUNT_CAP", 3)
    with scoped(world.admin_a):
        assert selectors.capped_count(selectors.customer_base(actor=world.admin_a)) == (3, True)
    with scoped(world.rep_east):
        mine = selectors.customer_base(actor=world.rep_east, view="mine")
        assert selectors.capped_count(mine) == (3, False)
        today = selectors.customer_base(actor=world.rep_east, view="today")
        assert selectors.capped_count(today) == (1, False)


def test_view_counts_for_every_menu_view(world, scoped, book, monkeypatch):
    monkeypatch.setattr(selectors, "COUNT_CAP", 4)
    with scoped(world.manager_sales):
        counts = selectors.view_counts(actor=world.manager_sales)
    assert counts == {
        "mine": (1, False),
        "participated": (0, False),
        "team": (4, True),
        "all": (4, True),
        "today": (1, False),
        "starred": (1, False),
        "unassigned": (1, False),
        "stale": (2, False),
    }


# ---------------------------------------------------------------- customer_list


@pytest.fixture
def sortable(world):
    now = timezone.now()
    a = world.tenant_a
    return {
        "b": make_customer(
            a, world.rep_east, "b乙", created_at=now - 3 * DAY, last_followup_at=now - DAY
        ),
        "a": make_customer(a, world.rep_east, "a甲", created_at=now - 1 * DAY),
        "c": make_customer(
            a, world.rep_east, "c丙", created_at=now - 2 * DAY, last_followup_at=now - 5 * DAY
        ),
        "d": make_customer(a, world.rep_east, "d丁", created_at=now - 4 * DAY),
    }


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ("name", ["a", "b", "c", "d"]),
        ("created", ["a", "c", "b", "d"]),
        ("last_followup", ["b", "c", "d", "a"]),  # newest first, never followed last
        ("unknown", ["a", "c", "b", "d"]),  # falls back to created
    ],
)
def test_customer_list_sorts(world, scoped, sortable, sort, order):
    names = {c.pk: key for key, c in sortable.items()}
    with scoped(world.rep_east):
        rows = selectors.customer_list(actor=world.rep_east, view="mine", sort=sort)
        assert [names[c.pk] for c in rows] == order


def test_customer_list_marks_stars_and_prefetches_tags_in_name_order(world, scoped, sortable):
    tag_customer(sortable["a"], make_tag(world.tenant_a, "z末"), make_tag(world.tenant_a, "a首"))
    make_star(sortable["a"], world.rep_east)
    make_star(sortable["b"], world.manager_sales)
    with scoped(world.rep_east):
        rows = {c.pk: c for c in selectors.customer_list(actor=world.rep_east, view="mine")}
    assert rows[sortable["a"].pk].is_starred
    assert not rows[sortable["b"].pk].is_starred
    assert [t.name for t in rows[sortable["a"].pk].tags.all()] == ["a首", "z末"]


def test_customer_list_takes_the_same_number_of_queries_whatever_the_size(world, scoped):
    tag = make_tag(world.tenant_a, "重点")

    def run():
        with scoped(world.rep_east), CaptureQueriesContext(connection) as ctx:
            for customer in selectors.customer_list(actor=world.rep_east, view="mine"):
                str(customer.owner), list(customer.tags.all()), customer.is_starred
        return len(ctx.captured_queries)

    tag_customer(make_customer(world.tenant_a, world.rep_east, "一"), tag)
    small = run()
    for i in range(6):
        tag_customer(make_customer(world.tenant_a, world.rep_east, f"多{i}"), tag)
    assert run() == small


def test_customer_list_accepts_a_narrowed_queryset(world, scoped, sortable):
    with scoped(world.rep_east):
        base = selectors.customer_base(actor=world.rep_east).filter(name__startswith="c")
        assert [c.pk for c in selectors.customer_list(actor=world.rep_east, queryset=base)] == [
            sortable["c"].pk
        ]


# ---------------------------------------------------------------- customer_get_for_actor


def test_customer_get_for_actor_returns_visible_customer(world, scoped, book):
    with scoped(world.manager_sales):
        found = selectors.customer_get_for_actor(actor=world.manager_sales, pk=book["west"].pk)
    assert found.pk == book["west"].pk


@pytest.mark.parametrize(
    ("persona", "key"),
    [
        ("rep_east", "west"),  # another rep's private customer
        ("manager_sales", "service"),  # outside the manager's scope
        ("rep_east", "pool"),  # nobody's, private
        ("admin_a", "b"),  # other tenant
        ("admin_a", "trashed"),  # recycle bin
    ],
)
def test_customer_get_for_actor_is_404(world, scoped, book, persona, key):
    actor = getattr(world, persona)
    with scoped(actor), pytest.raises(Http404):
        selectors.customer_get_for_actor(actor=actor, pk=book[key].pk)


def test_customer_get_for_actor_in_bin_only_with_deleted(world, scoped, book):
    with scoped(world.rep_east):
        found = selectors.customer_get_for_actor(
            actor=world.rep_east, pk=book["trashed"].pk, deleted=True
        )
        assert found.pk == book["trashed"].pk
        with pytest.raises(Http404):
            selectors.customer_get_for_actor(
                actor=world.rep_east, pk=book["east_today"].pk, deleted=True
            )


def test_customer_get_for_actor_is_404_for_missing_id(world, scoped):
    with scoped(world.admin_a), pytest.raises(Http404):
        selectors.customer_get_for_actor(actor=world.admin_a, pk=987654)


# ---------------------------------------------------------------- contacts


def test_contact_list_follows_customer_visibility(world, scoped, book):
    mine = make_contact(book["east_today"], "我的联系人")
    shared = make_contact(book["east2"], "参与的联系人")
    make_contact(book["west"], "别人的联系人")
    make_contact(book["trashed"], "回收站的联系人")
    make_contact(book["b"], "乙方联系人")
    with scoped(world.rep_east):
        pks = set(selectors.contact_list(actor=world.rep_east).values_list("pk", flat=True))
        assert pks == {mine.pk, shared.pk}
        assert selectors.contact_get_for_actor(actor=world.rep_east, pk=mine.pk) == mine


def test_contact_get_for_actor_is_404_for_invisible_contact(world, scoped, book):
    theirs = make_contact(book["west"], "别人的联系人")
    foreign = make_contact(book["b"], "乙方联系人")
    with scoped(world.rep_east):
        for contact in (theirs, foreign):
            with pytest.raises(Http404):
                selectors.contact_get_for_actor(actor=world.rep_east, pk=contact.pk)


# ---------------------------------------------------------------- follow-ups


@pytest.fixture
def feed(world, book):
    now = timezone.now()
    shared_service = book["service"]
    make_participant(shared_service, world.rep_east)
    return {
        "east": make_followup(book["east_today"], world.rep_east, followed_at=now - DAY),
        "east_on_service": make_followup(shared_service, world.rep_east, followed_at=now - 2 * DAY),
        "east2": make_followup(book["east2"], world.rep_east2, followed_at=now - 3 * DAY),
        "west": make_followup(book["west"], world.rep_west, followed_at=now - 4 * DAY),
        "service": make_followup(shared_service, world.service_a, followed_at=now - 5 * DAY),
        "admin": make_followup(book["admin_own"], world.admin_a, followed_at=now - 6 * DAY),
        "b": make_followup(book["b"], world.rep_b, followed_at=now - 7 * DAY),
    }


@pytest.mark.parametrize(
    ("persona", "scope", "expected"),
    [
        ("rep_east", "mine", ["east", "east_on_service"]),
        ("rep_east", "team", ["east", "east_on_service"]),
        ("manager_sales", "mine", []),
        # rep_east's follow-up on the after-sales customer: author in scope, customer not.
        ("manager_sales", "team", ["east", "east2", "west"]),
        ("admin_a", "mine", ["admin"]),
        ("admin_a", "team", ["east", "east_on_service", "east2", "west", "service", "admin"]),
        ("rep_b", "team", ["b"]),
    ],
)
def test_followup_feed(world, scoped, feed, persona, scope, expected):
    actor = getattr(world, persona)
    names = {f.pk: key for key, f in feed.items()}
    with scoped(actor):
        rows = selectors.followup_feed(actor=actor, scope=scope)
        assert [names[f.pk] for f in rows] == expected


def test_followup_get_for_actor_follows_customer_visibility(world, scoped, feed):
    with scoped(world.manager_sales):
        found = selectors.followup_get_for_actor(actor=world.manager_sales, pk=feed["west"].pk)
        assert found.pk == feed["west"].pk
        for key in ("service", "east_on_service", "admin", "b"):
            with pytest.raises(Http404):
                selectors.followup_get_for_actor(actor=world.manager_sales, pk=feed[key].pk)


def test_followups_due_today_and_overdue_of_own_customers(world, scoped):
    now = timezone.now()
    start, _end = selectors.today_bounds()
    today = make_customer(world.tenant_a, world.rep_east, "今天", next_followup_at=now)
    overdue = make_customer(
        world.tenant_a, world.rep_east, "逾期", next_followup_at=start - datetime.timedelta(hours=1)
    )
    make_customer(world.tenant_a, world.rep_east, "以后", next_followup_at=now + 3 * DAY)
    make_customer(world.tenant_a, world.rep_east, "未定")
    make_customer(world.tenant_a, world.rep_east, "已删", next_followup_at=now, deleted_at=now)
    make_customer(world.tenant_a, world.rep_west, "别人的", next_followup_at=now)
    with scoped(world.rep_east):
        due, late = selectors.followups_due(actor=world.rep_east)
        assert [c.pk for c in due] == [today.pk]
        assert [c.pk for c in late] == [overdue.pk]


# ---------------------------------------------------------------- duplicate_search


def test_duplicate_search_by_name_marks_invisible_matches(world, scoped, book):
    twin = make_customer(world.tenant_a, world.rep_east, "Ａ公司（上海）")
    hidden = make_customer(world.tenant_a, world.service_a, "a公司上海")
    make_customer(world.tenant_b, world.rep_b, "A公司上海")
    with scoped(world.rep_east):
        rows = selectors.duplicate_search(actor=world.rep_east, name="a 公司 上海")
    # The one rep_east may not open (hidden) comes without its object: only its owner.
    assert hidden.pk not in [r["customer"] and r["customer"].pk for r in rows]
    assert [(r["customer"] and r["customer"].pk, r["visible"], r["owner"]) for r in rows] == [
        (twin.pk, True, "rep_east"),
        (None, False, "service_a"),
    ]


def test_duplicate_search_by_name_fragment(world, scoped, book):
    with scoped(world.rep_east):
        rows = selectors.duplicate_search(actor=world.rep_east, name="华东")
    assert {r["customer"].name: r["visible"] for r in rows} == {
        "华东今日": True,
        "华东久未跟进": True,
        "华东从未跟进": True,
        "华东二": True,
    }


def test_duplicate_search_shows_pool_customer_without_owner(world, scoped, book):
    with scoped(world.rep_east):
        rows = selectors.duplicate_search(actor=world.rep_east, name="无人负责")
    assert [
        (r["customer"] and r["customer"].pk, r["visible"], r["owner"], r["in_pool"]) for r in rows
    ] == [
        (book["public_pool"].pk, True, None, False),  # "公开无人负责" contains the fragment
        (None, False, None, False),  # book["pool"], nobody's: "owned by nobody", nothing else
    ]


def test_duplicate_search_by_phone(world, scoped, book):
    make_contact(book["west"], "西边", mobile="13800138000")
    make_contact(book["east_today"], "东边", phone="13800138000")
    make_contact(book["b"], "乙方", mobile="13800138000")
    make_contact(book["trashed"], "删除的", mobile="13800138000")
    with scoped(world.rep_east):
        rows = selectors.duplicate_search(actor=world.rep_east, phone="+86 138 0013 8000")
    assert [(r["customer"] and r["customer"].pk, r["visible"], r["owner"]) for r in rows] == [
        (book["east_today"].pk, True, "rep_east"),
        (None, False, "rep_west"),  # book["west"]
    ]


def test_duplicate_search_by_unparseable_phone_uses_it_as_typed(world, scoped, book):
    make_contact(book["west"], "分机", phone="8888-1")
    with scoped(world.rep_east):
        rows = selectors.duplicate_search(actor=world.rep_east, phone=" 8888-1 ")
    assert [(r["customer"], r["owner"]) for r in rows] == [(None, "rep_west")]  # book["west"]


def test_duplicate_search_without_input_finds_nothing(world, scoped, book):
    with scoped(world.rep_east):
        assert selectors.duplicate_search(actor=world.rep_east) == []


def test_duplicate_search_with_punctuation_only_name_finds_nothing(world, scoped, book):
    with scoped(world.rep_east):
        assert selectors.duplicate_search(actor=world.rep_east, name="（ ）") == []


def test_saved_searches_are_per_user(world, scoped):
    from customers.models import SavedSearch

    with scopes_disabled():
        mine = SavedSearch.objects.create(
            tenant=world.tenant_a, user=world.rep_east, name="我的", query="a=1"
        )
        SavedSearch.objects.create(
            tenant=world.tenant_a, user=world.rep_west, name="他的", query="a=2"
        )
    with scoped(world.rep_east):
        assert list(selectors.saved_searches(actor=world.rep_east)) == [mine]


# ---------------------------------------------------------------- visible parts (PERF)


@pytest.mark.parametrize("actor", ["rep_east", "manager_sales", "admin_a"])
def test_pages_and_counts_read_from_the_visible_parts_match_the_plain_query(
    world, scoped, book, actor
):
    user = getattr(world, actor)
    with scoped(user):
        for view in sorted(selectors.VIEW_KEYS):
            listed = selectors.customer_base(actor=user, view=view)
            plain = listed.distinct()  # any change but filter/exclude drops the parts
            assert plain._visible_parts is None
            assert selectors.capped_count(listed) == selectors.capped_count(plain), view
            expected = [c.pk for c in plain.order_by("-created_at", "-id")]
            for start, stop in [(0, 2), (1, 3), (2, 50)]:
                page = selectors.customer_list(actor=user, queryset=listed)[start:stop]
                assert [c.pk for c in page] == expected[start:stop], (view, start)


def test_a_reps_list_reads_the_union_of_its_visible_parts(world, scoped, book):
    with scoped(world.rep_east), CaptureQueriesContext(connection) as ctx:
        rows = list(selectors.customer_list(actor=world.rep_east, view="all")[0:25])
        count = selectors.capped_count(selectors.customer_base(actor=world.rep_east, view="all"))
    assert count == (len(rows), False) == (5, False)
    assert sum("UNION ALL" in q["sql"] for q in ctx.captured_queries) == 2  # page and count
