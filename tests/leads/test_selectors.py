"""Lead selectors (CORE): the list views and their counts per persona, filters, sorting,
lead_get_for_actor's 404s, saved searches of the lead list."""

from __future__ import annotations

import datetime

import pytest
from django.http import Http404, QueryDict
from django.utils import timezone

from customers import selectors as customer_selectors
from customers import services as customer_services
from leads import selectors
from leads.models import Lead
from tests.leads.factories import make_campaign, make_lead, make_lead_pool, make_pooled_lead

pytestmark = pytest.mark.django_db


def _names(qs) -> set[str]:
    return set(qs.values_list("name", flat=True))


@pytest.fixture
def leads(world):
    a = world.tenant_a
    now = timezone.now()
    return {
        "east": make_lead(a, world.rep_east, "东一", next_followup_at=now),
        "east_closed": make_lead(a, world.rep_east, "东关", status=Lead.Status.CLOSED),
        "east_converted": make_lead(a, world.rep_east, "东转", status=Lead.Status.CONVERTED),
        "east2": make_lead(a, world.rep_east2, "东二"),
        "west": make_lead(a, world.rep_west, "西一"),
        "service": make_lead(a, world.service_a, "售后"),
        "pooled": make_pooled_lead(make_lead_pool(a), "池中"),
        "b": make_lead(world.tenant_b, world.rep_b, "乙方"),
    }


EXPECTED = {
    "rep_east": {
        "mine": {"东一"},
        "team": set(),
        "all": {"东一"},
        "today": {"东一"},
        "closed": {"东关"},
        "converted": {"东转"},
    },
    "manager_sales": {
        "mine": set(),
        "team": {"东一", "东二", "西一"},
        "all": {"东一", "东二", "西一"},
        "today": {"东一"},
        "closed": {"东关"},
        "converted": {"东转"},
    },
    "admin_a": {
        "mine": set(),
        "team": {"东一", "东二", "西一", "售后"},
        "all": {"东一", "东二", "西一", "售后"},
        "today": {"东一"},
        "closed": {"东关"},
        "converted": {"东转"},
    },
}


@pytest.mark.parametrize("persona", sorted(EXPECTED))
def test_views_and_counts_per_persona(world, scoped, leads, persona):
    actor = getattr(world, persona)
    with scoped(actor):
        counts = selectors.view_counts(actor=actor)
        for view, expected in EXPECTED[persona].items():
            assert _names(selectors.lead_base(actor=actor, view=view)) == expected, view
            assert counts[view] == (len(expected), False), view


def test_unknown_view_is_404(world, scoped):
    with scoped(world.rep_east), pytest.raises(Http404):
        selectors.lead_base(actor=world.rep_east, view="pool")


def test_counts_are_capped(world, scoped, leads, monkeypatch):
    monkeypatch.setattr(customer_selectors, "COUNT_CAP", 1)
    with scoped(world.admin_a):
        assert selectors.view_counts(actor=world.admin_a)["all"] == (1, True)


def test_filters(world, scoped):
    a = world.tenant_a
    campaign = make_campaign(a, "展会")
    make_lead(a, world.rep_east, "张三", company="东方机械", mobile="13800138000", city="上海市")
    make_lead(a, world.rep_east, "李四", company="西方贸易", campaign=campaign, province="四川省")
    make_lead(a, world.rep_east, "王五", status=Lead.Status.CONTACTED)
    with scoped(world.rep_east):

        def run(query):
            return {
                x.name
                for x in selectors.lead_list(
                    actor=world.rep_east, view="mine", filters=QueryDict(query)
                )
            }

        assert run("q=东方") == {"张三"}
        assert run("q=138001") == {"张三"}
        assert run("q=李") == {"李四"}
        assert run(f"campaign={campaign.pk}") == {"李四"}
        assert run("status=contacted") == {"王五"}
        assert run("province=四川") == {"李四"}
        assert run("city=上海") == {"张三"}
        assert run(f"owner={world.rep_east.pk}") == {"张三", "李四", "王五"}
        # An owner outside the actor's scope is not a valid choice: the filter is ignored.
        assert run(f"owner={world.rep_west.pk}") == {"张三", "李四", "王五"}


def test_filter_by_time_ranges(world, scoped):
    a = world.tenant_a
    now = timezone.now()
    make_lead(a, world.rep_east, "早", created_at=now - datetime.timedelta(days=10))
    make_lead(a, world.rep_east, "晚", next_followup_at=now + datetime.timedelta(days=2))
    day = (now - datetime.timedelta(days=1)).date().isoformat()
    with scoped(world.rep_east):
        rows = selectors.lead_list(
            actor=world.rep_east, view="mine", filters=QueryDict(f"created_after={day}")
        )
        assert {x.name for x in rows} == {"晚"}
        later = (now + datetime.timedelta(days=1)).date().isoformat()
        rows = selectors.lead_list(
            actor=world.rep_east, view="mine", filters=QueryDict(f"next_followup_after={later}")
        )
        assert {x.name for x in rows} == {"晚"}


def test_sorts(world, scoped):
    a = world.tenant_a
    now = timezone.now()
    make_lead(
        a,
        world.rep_east,
        "甲",
        company="b公司",
        created_at=now - datetime.timedelta(days=2),
        next_followup_at=now + datetime.timedelta(days=1),
    )
    make_lead(
        a,
        world.rep_east,
        "乙",
        company="a公司",
        created_at=now - datetime.timedelta(days=1),
        last_followup_at=now,
    )
    make_lead(
        a,
        world.rep_east,
        "丙",
        company="c公司",
        created_at=now,
        next_followup_at=now + datetime.timedelta(days=5),
    )
    with scoped(world.rep_east):

        def order(sort):
            return [x.name for x in selectors.lead_list(actor=world.rep_east, sort=sort)]

        assert order("created") == ["丙", "乙", "甲"]
        assert order("next_followup") == ["丙", "甲", "乙"]
        assert order("last_followup")[0] == "乙"
        assert order("company") == ["乙", "甲", "丙"]
        assert order("bogus") == ["丙", "乙", "甲"]


@pytest.mark.parametrize(
    ("persona", "key", "visible"),
    [
        ("rep_east", "east", True),
        ("rep_east", "east2", False),
        ("rep_east", "west", False),
        ("rep_east", "b", False),
        ("manager_sales", "east2", True),
        ("manager_sales", "west", True),
        ("manager_sales", "service", False),
        ("manager_sales", "b", False),
        ("admin_a", "service", True),
        ("admin_a", "pooled", True),
        ("rep_east", "pooled", True),  # a member of the open lead pool: the page, not the lists
        ("admin_a", "b", False),
    ],
)
def test_get_for_actor(world, scoped, leads, persona, key, visible):
    actor = getattr(world, persona)
    with scoped(actor):
        if visible:
            assert selectors.lead_get_for_actor(actor=actor, pk=leads[key].pk) == leads[key]
        else:
            with pytest.raises(Http404):
                selectors.lead_get_for_actor(actor=actor, pk=leads[key].pk)


def test_saved_searches_are_kept_apart_per_list(world, scoped):
    with scoped(world.rep_east):
        lead_search = customer_services.saved_search_create(
            actor=world.rep_east, name="重点", query="?status=new", list_kind="leads"
        )
        customer_search = customer_services.saved_search_create(
            actor=world.rep_east, name="重点", query="view=mine"
        )
        assert list(selectors.lead_saved_searches(actor=world.rep_east)) == [lead_search]
        assert list(customer_selectors.saved_searches(actor=world.rep_east)) == [customer_search]
        assert lead_search.query == "status=new"


def test_followups_due_for_the_workbench(world, scoped):
    a = world.tenant_a
    now = timezone.localtime()
    today = make_lead(a, world.rep_east, "今天", next_followup_at=now.replace(hour=23, minute=0))
    late = make_lead(a, world.rep_east, "过期", next_followup_at=now - datetime.timedelta(days=2))
    make_lead(
        a,
        world.rep_east,
        "关了",
        status=Lead.Status.CLOSED,
        next_followup_at=now - datetime.timedelta(days=2),
    )
    make_lead(a, world.rep_west, "别人", next_followup_at=now - datetime.timedelta(days=2))
    with scoped(world.rep_east):
        due, overdue = selectors.lead_followups_due(actor=world.rep_east)
        assert list(due) == [today] and list(overdue) == [late]
