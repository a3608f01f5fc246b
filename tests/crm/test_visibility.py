"""The visibility matrix (DESIGN §5): data scope × relationship to the record.

The viewer sits in the "sales" department (which has sub-departments east and west), has a
subordinate in another department, and participates in one record owned elsewhere.
"""

from __future__ import annotations

import pytest
from django.http import Http404
from django_scopes import scopes_disabled
from guardian.shortcuts import assign_perm

from crm.models import DataScope
from crm.tenancy import tenant_scope
from crm.visibility import can_edit, can_see, get_visible_or_404, visible_parts, visible_to
from tests.factories import make_role, make_user
from tests.testapp.models import Memo, MemoParticipant

ALL_A = {
    "own",
    "participated",
    "same_department",
    "child_department",
    "other_department",
    "subordinate",
    "no_owner",
}

EXPECTED = {
    DataScope.OWN: {"own", "participated"},
    DataScope.OWN_AND_SUBORDINATES: {"own", "participated", "subordinate"},
    DataScope.DEPARTMENT: {"own", "participated", "same_department"},
    DataScope.DEPARTMENT_AND_BELOW: {"own", "participated", "same_department", "child_department"},
    DataScope.ALL: ALL_A,
}


def build(world, scope: str):
    a = world.tenant_a
    viewer = make_user(
        a, f"viewer_{scope}", role=make_role(a, f"r-{scope}", scope), department=world.sales
    )
    colleague = make_user(a, "colleague", department=world.sales)
    subordinate = make_user(a, "subordinate", department=world.head_office, manager=viewer)
    # A subordinate's subordinate counts too ("本人及下属" is the whole reporting line).
    make_user(a, "sub_sub", department=world.head_office, manager=subordinate)
    with scopes_disabled():

        def memo(key, owner, tenant=a):
            return Memo.objects.create(tenant=tenant, title=key, owner=owner)

        records = {
            "own": memo("own", viewer),
            "participated": memo("participated", world.service_a),
            "same_department": memo("same_department", colleague),
            "child_department": memo("child_department", world.rep_east),
            "other_department": memo("other_department", world.service_a),
            "subordinate": memo("subordinate", subordinate),
            "no_owner": memo("no_owner", None),
            "other_tenant": memo("other_tenant", world.rep_b, world.tenant_b),
        }
        MemoParticipant.objects.create(tenant=a, memo=records["participated"], user=viewer)
    return viewer, records


@pytest.mark.parametrize("scope", list(EXPECTED))
def test_list_shows_exactly_what_the_scope_allows(world, scope):
    viewer, _records = build(world, scope)
    with tenant_scope(viewer.tenant_id):
        titles = set(visible_to(viewer, Memo.objects.all()).values_list("title", flat=True))
    assert titles == EXPECTED[scope]


@pytest.mark.parametrize("scope", list(EXPECTED))
def test_visible_parts_split_the_list_into_disjoint_parts(world, scope):
    """The UNION ALL of the parts (PERF: what list counts and pages read) is the list."""
    viewer, _records = build(world, scope)
    with tenant_scope(viewer.tenant_id):
        parts = visible_parts(viewer, Memo.objects.all())
        if scope == DataScope.ALL:
            assert parts is None  # no OR to split: the tenant's rows
            return
        titles = [t for part in parts.values() for t in part.values_list("title", flat=True)]
    assert list(parts) == ["owned", "participated"]
    assert sorted(titles) == sorted(EXPECTED[scope])  # each row in exactly one part


@pytest.mark.parametrize("scope", list(EXPECTED))
def test_detail_access_matches_the_list(world, scope):
    viewer, records = build(world, scope)
    with tenant_scope(viewer.tenant_id):
        for key, memo in records.items():
            visible = key in EXPECTED[scope]
            assert can_see(viewer, memo) is visible, key
            if visible:
                assert get_visible_or_404(viewer, Memo.objects.all(), pk=memo.pk) == memo
            else:
                with pytest.raises(Http404):
                    get_visible_or_404(viewer, Memo.objects.all(), pk=memo.pk)


def test_other_tenant_is_invisible_even_with_scope_all_and_no_tenant_scope_filter(world):
    viewer, _records = build(world, DataScope.ALL)
    # Even with the wall lowered (scopes disabled), the function filters by tenant itself.
    with scopes_disabled():
        titles = set(visible_to(viewer, Memo.objects.all()).values_list("title", flat=True))
    assert "other_tenant" not in titles
    assert titles == ALL_A


def test_manager_persona_sees_the_department_subtree(world):
    with scopes_disabled():
        east = Memo.objects.create(tenant=world.tenant_a, title="east", owner=world.rep_east)
        west = Memo.objects.create(tenant=world.tenant_a, title="west", owner=world.rep_west)
        service = Memo.objects.create(tenant=world.tenant_a, title="svc", owner=world.service_a)
    with tenant_scope(world.tenant_a.pk):
        seen = set(visible_to(world.manager_sales, Memo.objects.all()))
        rep_seen = set(visible_to(world.rep_east, Memo.objects.all()))
    assert seen == {east, west}
    assert rep_seen == {east}
    assert service not in seen


def test_inactive_or_roleless_users(world):
    viewer, _records = build(world, DataScope.ALL)
    roleless = make_user(world.tenant_a, "roleless", role=None, department=world.sales)
    with scopes_disabled():
        Memo.objects.create(tenant=world.tenant_a, title="mine", owner=roleless)
    viewer.is_active = False
    with tenant_scope(world.tenant_a.pk):
        assert list(visible_to(viewer, Memo.objects.all())) == []
        # No role means the narrowest scope: own records only.
        assert [m.title for m in visible_to(roleless, Memo.objects.all())] == ["mine"]


def test_department_scope_without_a_department_falls_back_to_own(world):
    lone = make_user(
        world.tenant_a,
        "lone",
        role=make_role(world.tenant_a, "dept", DataScope.DEPARTMENT_AND_BELOW),
    )
    with scopes_disabled():
        Memo.objects.create(tenant=world.tenant_a, title="lone", owner=lone)
        Memo.objects.create(tenant=world.tenant_a, title="nobody", owner=None)
    with tenant_scope(world.tenant_a.pk):
        assert [m.title for m in visible_to(lone, Memo.objects.all())] == ["lone"]


def test_edit_rights(world):
    """Owner and users whose scope covers the owner may edit; participants only with the
    django-guardian edit grant; users who cannot see the record never."""
    viewer, records = build(world, DataScope.OWN)
    with scopes_disabled():
        writable = Memo.objects.create(tenant=world.tenant_a, title="w", owner=world.rep_west)
        MemoParticipant.objects.create(tenant=world.tenant_a, memo=writable, user=viewer)
        # Edit rights of a participant are a django-guardian object grant.
        assign_perm("testapp.change_memo", viewer, writable)
    with tenant_scope(world.tenant_a.pk):
        assert can_edit(viewer, records["own"]) is True
        assert can_edit(viewer, records["participated"]) is False  # read-only participant
        assert can_edit(viewer, writable) is True
        assert can_edit(viewer, records["same_department"]) is False
        assert can_edit(world.manager_sales, records["child_department"]) is True
        assert can_edit(world.manager_sales, records["other_department"]) is False
        assert can_edit(world.admin_a, records["no_owner"]) is True


def test_visible_list_is_one_query(world, django_assert_num_queries):
    """Visibility is an indexed predicate in the list query, not a lookup per row."""
    from crm.auth import UsernameOrMobileBackend

    built, _records = build(world, DataScope.DEPARTMENT_AND_BELOW)
    # The user as a request sees it: loaded by the auth backend with role and department.
    viewer = UsernameOrMobileBackend().get_user(built.pk)
    with tenant_scope(world.tenant_a.pk):
        with django_assert_num_queries(1):
            rows = list(visible_to(viewer, Memo.objects.all()))
        assert len(rows) == 4


# ------------------------------------------------------------------ opportunities, by persona
#
# The same rules through the opportunity pages (issue 20): an opportunity is seen by its
# owner, by the users whose data scope covers its owner, and by its team members (whatever
# their scope, and without seeing its customer for that); nothing is public; another tenant's
# never. The expected answers are derived from those rules below, not from the code.
# tests/opportunities/test_views_visibility.py holds the data scope × place matrix.

# key -> (name, owner persona, tenant, team member personas)
OPPORTUNITIES = {
    "east": ("商机-东一号", "rep_east", "a", {"service_a"}),
    "west": ("商机-西一号", "rep_west", "a", set()),
    "service": ("商机-售后一号", "service_a", "a", set()),
    "tenant_b": ("商机-乙方一号", "rep_b", "b", set()),
}

# The persona's tenant and the owners its data scope covers (None: the whole tenant).
# manager_service is a sales manager (部门及下级) of 售后部: another department's manager.
OPPORTUNITY_PERSONAS = {
    "rep_east": ("a", {"rep_east"}),
    "rep_east2": ("a", {"rep_east2"}),  # the owner's colleague in 华东组, scope own
    "manager_sales": ("a", {"manager_sales", "rep_east", "rep_east2", "rep_west"}),
    "manager_service": ("a", {"manager_service", "service_a"}),
    "admin_a": ("a", None),
    "service_a": ("a", {"service_a"}),
    "admin_b": ("b", None),
}


def opportunity_seen(persona: str, key: str) -> bool:
    _name, owner, tenant, team = OPPORTUNITIES[key]
    persona_tenant, owners = OPPORTUNITY_PERSONAS[persona]
    if tenant != persona_tenant:
        return False
    return owners is None or owner in owners or persona in team


def test_the_derived_opportunity_expectations_are_not_trivial():
    table = {p: {k for k in OPPORTUNITIES if opportunity_seen(p, k)} for p in OPPORTUNITY_PERSONAS}
    assert table == {
        "rep_east": {"east"},
        "rep_east2": set(),
        "manager_sales": {"east", "west"},
        "manager_service": {"service"},
        "admin_a": {"east", "west", "service"},
        "service_a": {"east", "service"},
        "admin_b": {"tenant_b"},
    }


@pytest.fixture
def persona_opportunities(world):
    """The opportunities of OPPORTUNITIES (open, written straight to the table on a customer
    of their owner), their team members, and the other department's manager."""
    import datetime

    from crm.models import Role
    from opportunities.models import Opportunity, OpportunityParticipant, OpportunityStage
    from tests.customers.factories import make_customer

    personas = {
        "manager_service": make_user(
            world.tenant_a,
            "manager_service",
            role=Role.Builtin.SALES_MANAGER,
            department=world.service,
        )
    }
    made = {}
    with scopes_disabled():
        for key, (name, owner_key, tenant_key, team) in OPPORTUNITIES.items():
            tenant = world.tenant_a if tenant_key == "a" else world.tenant_b
            owner = getattr(world, owner_key)
            stage = OpportunityStage.objects.filter(tenant=tenant, kind="open").order_by("sort")[0]
            made[key] = Opportunity.objects.create(
                tenant=tenant,
                name=name,
                customer=make_customer(tenant, owner, f"{name}的客户"),
                owner=owner,
                owner_department=owner.department,
                created_by=owner,
                stage=stage,
                probability=stage.probability,
                expected_close_date=datetime.date(2026, 12, 31),
            )
            for member in team:
                OpportunityParticipant.objects.create(
                    tenant=tenant, opportunity=made[key], user=getattr(world, member)
                )
    return made, personas


def _persona_client(world, personas, persona: str):
    from django.test import Client

    client = Client()
    client.force_login(personas.get(persona) or getattr(world, persona))
    return client


@pytest.mark.parametrize("persona", list(OPPORTUNITY_PERSONAS))
def test_opportunity_list_and_kanban_show_exactly_the_opportunities_in_scope(
    persona, world, persona_opportunities
):
    from django.urls import reverse

    _made, personas = persona_opportunities
    client = _persona_client(world, personas, persona)
    expected = {key for key in OPPORTUNITIES if opportunity_seen(persona, key)}
    for name in ("opportunities:opportunity-list", "opportunities:opportunity-kanban"):
        response = client.get(reverse(name), {"view": "all"})
        assert response.status_code == 200, name
        html = response.content.decode()
        shown = {key for key, (title, *_rest) in OPPORTUNITIES.items() if title in html}
        assert shown == expected, name


@pytest.mark.parametrize("key", list(OPPORTUNITIES))
@pytest.mark.parametrize("persona", list(OPPORTUNITY_PERSONAS))
def test_opportunity_page_opens_only_when_visible(persona, key, world, persona_opportunities):
    from django.urls import reverse

    made, personas = persona_opportunities
    client = _persona_client(world, personas, persona)
    opportunity = made[key]
    seen = opportunity_seen(persona, key)
    page = client.get(reverse("opportunities:opportunity-detail", args=[opportunity.pk]))
    assert page.status_code == (200 if seen else 404)
    assert (OPPORTUNITIES[key][0] in page.content.decode()) is seen
    tab = client.get(reverse("opportunities:opportunity-tab", args=[opportunity.pk, "overview"]))
    assert tab.status_code == (200 if seen else 404)


def test_a_team_member_sees_the_opportunity_but_not_its_customer(world, persona_opportunities):
    from django.urls import reverse

    made, personas = persona_opportunities
    client = _persona_client(world, personas, "service_a")
    east = made["east"]
    page = reverse("opportunities:opportunity-detail", args=[east.pk])
    customer_page = reverse("customers:customer-detail", args=[east.customer_id])
    assert client.get(page).status_code == 200
    assert client.get(customer_page).status_code == 404
    # The owner sees both.
    owner = _persona_client(world, personas, "rep_east")
    assert owner.get(page).status_code == owner.get(customer_page).status_code == 200


@pytest.mark.parametrize("persona", ["rep_east", "admin_a"])
def test_another_tenants_opportunity_looks_like_a_missing_one(
    persona, world, persona_opportunities
):
    import re

    from django.urls import reverse

    made, personas = persona_opportunities
    client = _persona_client(world, personas, persona)
    foreign = client.get(reverse("opportunities:opportunity-detail", args=[made["tenant_b"].pk]))
    missing = client.get(reverse("opportunities:opportunity-detail", args=[999_999_999]))
    assert foreign.status_code == missing.status_code == 404

    def without_csrf(response) -> str:  # the masked CSRF token differs on every response
        return re.sub(r'"X-CSRFToken": "[^"]*"', "", response.content.decode())

    assert without_csrf(foreign) == without_csrf(missing)
