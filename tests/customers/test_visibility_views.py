"""The visibility matrix at the view level (DESIGN §5, STYLE "Tests"): personas × customers
owned by people at different places of the organisation → which names the list ``?view=all``
shows and whether the customer page opens (200) or is missing (404).

The expected answers are derived here from the rules of crm/visibility.py, not copied from
its output:

* a user sees what they own, what they participate in, and what is owned by users inside
  their data scope;
* data scopes of the personas: rep_east and service_a "own"; manager_sales "department and
  below" in 销售部 (销售部, 华东组, 华西组: manager_sales, rep_east, rep_east2, rep_west);
  admin_a "all";
* a customer without owner is seen by scope "all" only (no owner is inside a smaller
  scope);
* another tenant's customer is never seen, whatever the scope.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from tests.customers.factories import make_customer, make_participant

# customer key -> (name, owner persona or None, tenant, participants)
CUSTOMERS = {
    "own_rep_east": ("东一客户", "rep_east", "a", ()),
    "same_dept_rep_east2": ("东二客户", "rep_east2", "a", ()),
    "child_dept_rep_west": ("西组客户", "rep_west", "a", ()),
    "other_dept_service_a": ("售后客户", "service_a", "a", ()),
    "nobody": ("公海客户", None, "a", ()),
    "tenant_b_rep_b": ("乙方客户", "rep_b", "b", ()),
    "participated": ("参与客户", "rep_west", "a", ("rep_east",)),
}

PERSONAS = ["rep_east", "manager_sales", "admin_a", "service_a"]

# The data scope of each persona, as the users whose customers it covers (None: all).
SCOPE_OWNERS = {
    "rep_east": {"rep_east"},
    "service_a": {"service_a"},
    "manager_sales": {"manager_sales", "rep_east", "rep_east2", "rep_west"},
    "admin_a": None,
}


def expected_visible(persona: str, key: str) -> bool:
    _name, owner, tenant, participants = CUSTOMERS[key]
    if tenant != "a":
        return False
    scope = SCOPE_OWNERS[persona]
    if scope is None:
        return True
    return owner in scope or persona in participants


@pytest.fixture
def customers(world):
    made = {}
    for key, (name, owner, tenant, participants) in CUSTOMERS.items():
        tenant_obj = world.tenant_a if tenant == "a" else world.tenant_b
        owner_obj = getattr(world, owner) if owner else None
        made[key] = make_customer(tenant_obj, owner_obj, name)
        for persona in participants:
            make_participant(made[key], getattr(world, persona))
    return made


def test_the_derived_expectations_are_not_trivial():
    table = {p: {k for k in CUSTOMERS if expected_visible(p, k)} for p in PERSONAS}
    assert table == {
        "rep_east": {"own_rep_east", "participated"},
        "manager_sales": {
            "own_rep_east",
            "same_dept_rep_east2",
            "child_dept_rep_west",
            "participated",
        },
        "admin_a": set(CUSTOMERS) - {"tenant_b_rep_b"},
        "service_a": {"other_dept_service_a"},
    }


@pytest.mark.parametrize("persona", PERSONAS)
def test_list_all_shows_exactly_the_visible_customers(persona, world, customers):
    client = Client()
    client.force_login(getattr(world, persona))
    response = client.get(reverse("customers:customer-list"), {"view": "all"})
    assert response.status_code == 200
    html = response.content.decode()
    shown = {key for key, (name, *_rest) in CUSTOMERS.items() if name in html}
    assert shown == {key for key in CUSTOMERS if expected_visible(persona, key)}
    assert response.context["total"] == len(shown)
    assert {c.pk for c in response.context["page"]} == {customers[key].pk for key in shown}


@pytest.mark.parametrize("key", sorted(CUSTOMERS))
@pytest.mark.parametrize("persona", PERSONAS)
def test_customer_page_opens_only_when_visible(persona, key, world, customers):
    client = Client()
    client.force_login(getattr(world, persona))
    customer = customers[key]
    name = CUSTOMERS[key][0]
    visible = expected_visible(persona, key)
    detail = client.get(reverse("customers:customer-detail", args=[customer.pk]))
    assert detail.status_code == (200 if visible else 404)
    assert (name in detail.content.decode()) is visible
    tab = client.get(reverse("customers:customer-tab", args=[customer.pk, "followups"]))
    assert tab.status_code == (200 if visible else 404)


@pytest.mark.parametrize("persona", PERSONAS)
def test_an_invisible_customer_looks_like_a_missing_one(persona, world, customers):
    """Same status and same page for another tenant's row and for an id that never existed."""
    client = Client()
    client.force_login(getattr(world, persona))
    foreign = client.get(
        reverse("customers:customer-detail", args=[customers["tenant_b_rep_b"].pk])
    )
    missing = client.get(reverse("customers:customer-detail", args=[999_999_999]))
    assert foreign.status_code == missing.status_code == 404
    assert _without_csrf(foreign) == _without_csrf(missing)


def _without_csrf(response) -> str:
    # The masked CSRF token differs on every response.
    return re.sub(r'"X-CSRFToken": "[^"]*"', "", response.content.decode())
