"""The visibility matrix of the opportunity pages (pages helper), as
tests/leads/test_visibility_matrix.py holds it for leads: data scope × where the opportunity
lies → the list (全部), the kanban (全部) and the opportunity page (200 or 404).

Derived from the rules, not from the code's output: an opportunity is seen by its owner, by
users whose data scope covers the owner, and by its team members (我参与的), whatever their
scope; nothing is public; another tenant's never."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django_scopes import scopes_disabled

from crm.models import DataScope
from opportunities.models import Opportunity, OpportunityParticipant
from tests.customers.factories import make_customer
from tests.factories import make_role, make_user
from tests.opportunities.factories import stages

PLACES = [
    "own",
    "participated",
    "same_department",
    "child_department",
    "other_department",
    "subordinate",
    "other_tenant",
]

OWNED_BY_SCOPE = {
    DataScope.OWN: {"own"},
    DataScope.OWN_AND_SUBORDINATES: {"own", "subordinate"},
    DataScope.DEPARTMENT: {"own", "same_department"},
    DataScope.DEPARTMENT_AND_BELOW: {"own", "same_department", "child_department"},
    DataScope.ALL: set(PLACES) - {"other_tenant"},
}


def expected(scope: str) -> set[str]:
    # A team member sees the opportunity whatever their scope.
    return OWNED_BY_SCOPE[scope] | {"participated"}


def _opportunity(tenant, owner, name: str) -> Opportunity:
    """Written straight to the table (the owners' roles need no opportunity.create here)."""
    stage = stages(tenant)["初步接洽"]
    with scopes_disabled():
        return Opportunity.objects.create(
            tenant=tenant,
            name=name,
            customer=make_customer(tenant, owner, f"{name}客户"),
            owner=owner,
            created_by=owner,
            stage=stage,
            probability=stage.probability,
            expected_close_date=datetime.date(2026, 12, 31),
        )


def build(world, scope: str):
    a = world.tenant_a
    viewer = make_user(
        a, f"viewer_{scope}", role=make_role(a, f"r-{scope}", scope), department=world.sales
    )
    colleague = make_user(a, "colleague", department=world.sales)
    subordinate = make_user(a, "subordinate", department=world.head_office, manager=viewer)
    rows = {
        "own": _opportunity(a, viewer, "own"),
        "participated": _opportunity(a, world.service_a, "participated"),
        "same_department": _opportunity(a, colleague, "same_department"),
        "child_department": _opportunity(a, world.rep_east, "child_department"),
        "other_department": _opportunity(a, world.service_a, "other_department"),
        "subordinate": _opportunity(a, subordinate, "subordinate"),
        "other_tenant": _opportunity(world.tenant_b, world.rep_b, "other_tenant"),
    }
    with scopes_disabled():
        OpportunityParticipant.objects.create(
            tenant=a, opportunity=rows["participated"], user=viewer
        )
    return viewer, rows


def test_the_expectations_are_not_trivial():
    assert expected(DataScope.OWN) == {"own", "participated"}
    assert "other_department" in expected(DataScope.ALL)
    assert len({len(expected(s)) for s in OWNED_BY_SCOPE}) > 2


@pytest.mark.parametrize("scope", list(OWNED_BY_SCOPE))
def test_list_kanban_and_page_show_exactly_what_the_scope_allows(world, as_user, scope):
    viewer, rows = build(world, scope)
    client = as_user(viewer)
    listed = client.get(reverse("opportunities:opportunity-list"), {"view": "all", "per": 100})
    assert {o.name for o in listed.context["page"]} == expected(scope)
    board = client.get(reverse("opportunities:opportunity-kanban"), {"view": "all"})
    assert {o.name for c in board.context["columns"] for o in c["cards"]} == expected(scope)
    for place, row in rows.items():
        status = client.get(reverse("opportunities:opportunity-detail", args=[row.pk])).status_code
        assert status == (200 if place in expected(scope) else 404), (scope, place)
    participated = client.get(reverse("opportunities:opportunity-list"), {"view": "participated"})
    assert [o.name for o in participated.context["page"]] == ["participated"]
