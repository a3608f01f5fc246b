"""The visibility matrix for leads (DESIGN §5, STYLE "Tests"), as tests/crm/test_visibility.py
and tests/customers/test_visibility_views.py hold it for the generic owned record and for
customers: data scope (or persona) × where the lead lies → what the lead list shows and
whether the lead page opens (200) or is missing (404).

The expected answers are derived here from the rules, not copied from the code's output:

* the lead lists (我负责的 … 全部) hold the leads a user owns and those owned by users inside
  their data scope; a lead without owner only for scope ``all``; never a pooled lead (the
  pool list shows those);
* a lead lying in a lead pool opens for the pool's members (every member of a pool open to
  all; the members of a department's pool) and for holders of ``lead.manage`` (pool managers:
  every lead pool), whatever their data scope; scope ``all`` is every lead of the tenant,
  pooled ones included;
* participants: a lead has none today (``Lead.participants`` does not exist), so "participated"
  is a lead owned elsewhere that the viewer works on through nothing; should leads gain
  participants, the viewer takes part in it and it becomes visible, as for customers;
* another tenant's lead is never seen, whatever the scope.
"""

from __future__ import annotations

import re

import pytest
from django.http import Http404
from django.test import Client
from django.urls import reverse
from django_scopes import scopes_disabled

from crm.models import DataScope
from crm.tenancy import tenant_scope
from crm.visibility import participants_relation
from leads import selectors
from leads.models import Lead
from pools.models import PoolGroupDepartment
from tests.factories import make_role, make_user
from tests.leads.factories import make_lead, make_lead_pool, make_pooled_lead

LEADS_HAVE_PARTICIPANTS = participants_relation(Lead) is not None

# ------------------------------------------------------------------ by data scope

# Where a lead lies relative to the viewer (who sits in 销售部 and has a subordinate in 总经办).
PLACES = [
    "own",
    "participated",
    "same_department",
    "child_department",
    "other_department",
    "subordinate",
    "no_owner",
    "pool_open",  # a lead pool every member of the tenant belongs to
    "pool_service",  # the lead pool of 售后部 only
    "other_tenant",
]

OWNED_BY_SCOPE = {
    DataScope.OWN: {"own"},
    DataScope.OWN_AND_SUBORDINATES: {"own", "subordinate"},
    DataScope.DEPARTMENT: {"own", "same_department"},
    DataScope.DEPARTMENT_AND_BELOW: {"own", "same_department", "child_department"},
    DataScope.ALL: {
        "own",
        "participated",
        "same_department",
        "child_department",
        "other_department",
        "subordinate",
        "no_owner",
    },
}


def expected_list(scope: str) -> set[str]:
    listed = set(OWNED_BY_SCOPE[scope])
    if LEADS_HAVE_PARTICIPANTS:
        listed.add("participated")
    return listed


def expected_detail(scope: str) -> set[str]:
    if scope == DataScope.ALL:
        # Scope "all" is every lead of the tenant, those lying in any pool included.
        return set(PLACES) - {"other_tenant"}
    # The viewer's role has no lead.manage: of the pools only the one open to all.
    return expected_list(scope) | {"pool_open"}


def test_the_derived_lead_expectations_are_not_trivial():
    assert expected_list(DataScope.OWN) >= {"own"}
    assert "pool_open" not in expected_list(DataScope.ALL)
    assert "pool_service" not in expected_detail(DataScope.DEPARTMENT_AND_BELOW)
    assert "pool_service" in expected_detail(DataScope.ALL)
    assert "other_tenant" not in expected_detail(DataScope.ALL)
    sizes = [len(expected_list(scope)) for scope in OWNED_BY_SCOPE]
    assert len(set(sizes)) > 2  # the scopes really differ


def build(world, scope: str):
    a = world.tenant_a
    viewer = make_user(
        a, f"viewer_{scope}", role=make_role(a, f"r-{scope}", scope), department=world.sales
    )
    colleague = make_user(a, "colleague", department=world.sales)
    subordinate = make_user(a, "subordinate", department=world.head_office, manager=viewer)
    open_pool = make_lead_pool(a, "全员线索池")
    service_pool = make_lead_pool(a, "售后线索池", open_to_all=False)
    with scopes_disabled():
        PoolGroupDepartment.objects.create(tenant=a, group=service_pool, department=world.service)
    leads = {
        "own": make_lead(a, viewer, company="own"),
        "participated": make_lead(a, world.service_a, company="participated"),
        "same_department": make_lead(a, colleague, company="same_department"),
        "child_department": make_lead(a, world.rep_east, company="child_department"),
        "other_department": make_lead(a, world.service_a, company="other_department"),
        "subordinate": make_lead(a, subordinate, company="subordinate"),
        "no_owner": make_lead(a, None, company="no_owner"),
        "pool_open": make_pooled_lead(open_pool, company="pool_open"),
        "pool_service": make_pooled_lead(service_pool, company="pool_service"),
        "other_tenant": make_lead(world.tenant_b, world.rep_b, company="other_tenant"),
    }
    if LEADS_HAVE_PARTICIPANTS:
        through, fk_name = participants_relation(Lead)
        with scopes_disabled():
            through.objects.create(tenant=a, user=viewer, **{fk_name: leads["participated"]})
    return viewer, leads


@pytest.mark.parametrize("scope", list(OWNED_BY_SCOPE))
def test_lead_list_shows_exactly_what_the_scope_allows(world, scope):
    viewer, _leads = build(world, scope)
    with tenant_scope(viewer.tenant_id):
        listed = set(
            selectors.lead_base(actor=viewer, view="all").values_list("company", flat=True)
        )
    assert listed == expected_list(scope)


@pytest.mark.parametrize("scope", list(OWNED_BY_SCOPE))
def test_team_list_is_the_scope_without_the_viewer(world, scope):
    viewer, _leads = build(world, scope)
    with tenant_scope(viewer.tenant_id):
        team = set(selectors.lead_base(actor=viewer, view="team").values_list("company", flat=True))
    expected = OWNED_BY_SCOPE[scope] - {"own", "no_owner"}
    if scope != DataScope.ALL:
        expected -= {"participated"}
    assert team == expected


@pytest.mark.parametrize("scope", list(OWNED_BY_SCOPE))
def test_lead_detail_opens_exactly_where_the_scope_and_the_pools_allow(world, scope):
    viewer, leads = build(world, scope)
    with tenant_scope(viewer.tenant_id):
        for place, lead in leads.items():
            if place in expected_detail(scope):
                assert selectors.lead_get_for_actor(actor=viewer, pk=lead.pk) == lead, place
            else:
                with pytest.raises(Http404):
                    selectors.lead_get_for_actor(actor=viewer, pk=lead.pk)


def test_a_pool_manager_opens_every_lead_pool_whatever_the_scope(world):
    viewer, leads = build(world, DataScope.OWN)
    viewer.role.permissions = ["lead.manage"]
    with scopes_disabled():
        viewer.role.save(update_fields=["permissions"])
    with tenant_scope(viewer.tenant_id):
        for place in ("pool_open", "pool_service"):
            assert selectors.lead_get_for_actor(actor=viewer, pk=leads[place].pk) == leads[place]
        # Managing the pools adds no owned leads to the lists.
        listed = set(
            selectors.lead_base(actor=viewer, view="all").values_list("company", flat=True)
        )
    assert listed == expected_list(DataScope.OWN)


# ------------------------------------------------------------------ personas, through the pages

# lead key -> (company, owner persona or None, tenant, pool: None / "open" / "service")
LEADS = {
    "own_rep_east": ("东一线索", "rep_east", "a", None),
    "same_dept_rep_east2": ("东二线索", "rep_east2", "a", None),
    "child_dept_rep_west": ("西组线索", "rep_west", "a", None),
    "other_dept_service_a": ("售后线索", "service_a", "a", None),
    "nobody": ("无主线索", None, "a", None),
    "pool_open": ("公池线索", None, "a", "open"),
    "pool_service": ("售后池线索", None, "a", "service"),
    "tenant_b_rep_b": ("乙方线索", "rep_b", "b", None),
}

PERSONAS = ["rep_east", "manager_sales", "admin_a", "service_a"]

# The data scope of each persona as the users whose leads it covers (None: all), and whether
# the persona manages lead pools (lead.manage: admin_a has every right, the sales manager's
# built-in role holds it).
SCOPE_OWNERS = {
    "rep_east": {"rep_east"},
    "service_a": {"service_a"},
    "manager_sales": {"manager_sales", "rep_east", "rep_east2", "rep_west"},
    "admin_a": None,
}
POOL_MANAGERS = {"admin_a", "manager_sales"}
POOL_MEMBERS = {"open": set(PERSONAS), "service": {"service_a"}}


def listed(persona: str, key: str) -> bool:
    _company, owner, tenant, pool = LEADS[key]
    if tenant != "a" or pool is not None:
        return False
    scope = SCOPE_OWNERS[persona]
    return scope is None or owner in scope


def opens(persona: str, key: str) -> bool:
    _company, _owner, tenant, pool = LEADS[key]
    if tenant != "a":
        return False
    if pool is not None:
        return persona in POOL_MANAGERS or persona in POOL_MEMBERS[pool]
    return listed(persona, key)


def test_the_derived_persona_expectations_are_not_trivial():
    table = {p: {k for k in LEADS if opens(p, k)} for p in PERSONAS}
    assert table == {
        "rep_east": {"own_rep_east", "pool_open"},
        "manager_sales": {
            "own_rep_east",
            "same_dept_rep_east2",
            "child_dept_rep_west",
            "pool_open",
            "pool_service",
        },
        "admin_a": set(LEADS) - {"tenant_b_rep_b"},
        "service_a": {"other_dept_service_a", "pool_open", "pool_service"},
    }


@pytest.fixture
def persona_leads(world):
    open_pool = make_lead_pool(world.tenant_a, "全员线索池")
    service_pool = make_lead_pool(world.tenant_a, "售后线索池", open_to_all=False)
    with scopes_disabled():
        PoolGroupDepartment.objects.create(
            tenant=world.tenant_a, group=service_pool, department=world.service
        )
    pools = {"open": open_pool, "service": service_pool}
    made = {}
    for key, (company, owner, tenant, pool) in LEADS.items():
        if pool is not None:
            made[key] = make_pooled_lead(pools[pool], company=company)
        else:
            tenant_obj = world.tenant_a if tenant == "a" else world.tenant_b
            made[key] = make_lead(
                tenant_obj, getattr(world, owner) if owner else None, company=company
            )
    return made


@pytest.mark.parametrize("persona", PERSONAS)
def test_lead_list_all_shows_exactly_the_leads_in_scope(persona, world, persona_leads):
    client = Client()
    client.force_login(getattr(world, persona))
    response = client.get(reverse("leads:lead-list"), {"view": "all"})
    assert response.status_code == 200
    html = response.content.decode()
    shown = {key for key, (company, *_rest) in LEADS.items() if company in html}
    assert shown == {key for key in LEADS if listed(persona, key)}
    assert response.context["total"] == len(shown)
    assert {lead.pk for lead in response.context["page"]} == {
        persona_leads[key].pk for key in shown
    }


@pytest.mark.parametrize("key", sorted(LEADS))
@pytest.mark.parametrize("persona", PERSONAS)
def test_lead_page_opens_only_when_visible(persona, key, world, persona_leads):
    client = Client()
    client.force_login(getattr(world, persona))
    lead = persona_leads[key]
    company = LEADS[key][0]
    visible = opens(persona, key)
    detail = client.get(reverse("leads:lead-detail", args=[lead.pk]))
    assert detail.status_code == (200 if visible else 404)
    assert (company in detail.content.decode()) is visible
    tab = client.get(reverse("leads:lead-tab", args=[lead.pk, "followups"]))
    assert tab.status_code == (200 if visible else 404)


@pytest.mark.parametrize("persona", PERSONAS)
def test_an_invisible_lead_looks_like_a_missing_one(persona, world, persona_leads):
    client = Client()
    client.force_login(getattr(world, persona))
    foreign = client.get(reverse("leads:lead-detail", args=[persona_leads["tenant_b_rep_b"].pk]))
    missing = client.get(reverse("leads:lead-detail", args=[999_999_999]))
    assert foreign.status_code == missing.status_code == 404
    assert _without_csrf(foreign) == _without_csrf(missing)


def _without_csrf(response) -> str:
    # The masked CSRF token differs on every response.
    return re.sub(r'"X-CSRFToken": "[^"]*"', "", response.content.decode())
