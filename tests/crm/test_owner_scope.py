"""crm.visibility.OwnerScope: the one answer to "which owners does this user see"."""

from __future__ import annotations

import pytest
from django.db.models import Q

from crm.models import DataScope, User
from crm.tenancy import tenant_scope
from crm.visibility import OwnerScope, owner_scope
from tests.factories import make_role, make_user

# Who each data scope of a viewer in 销售部 covers, by persona (see build).
COVERED = {
    DataScope.OWN: {"viewer"},
    DataScope.OWN_AND_SUBORDINATES: {"viewer", "subordinate", "sub_sub"},
    DataScope.DEPARTMENT: {"viewer", "colleague", "manager_sales"},
    DataScope.DEPARTMENT_AND_BELOW: {
        "viewer",
        "colleague",
        "manager_sales",
        "rep_east",
        "rep_east2",
        "rep_west",
    },
}


def build(world, scope: str):
    a = world.tenant_a
    viewer = make_user(a, "viewer", role=make_role(a, f"r-{scope}", scope), department=world.sales)
    people = {
        "viewer": viewer,
        "colleague": make_user(a, "colleague", department=world.sales),
        "manager_sales": world.manager_sales,
        "rep_east": world.rep_east,
        "rep_east2": world.rep_east2,
        "rep_west": world.rep_west,
        "service_a": world.service_a,
        "admin_a": world.admin_a,
    }
    people["subordinate"] = make_user(a, "subordinate", department=world.service, manager=viewer)
    people["sub_sub"] = make_user(
        a, "sub_sub", department=world.service, manager=people["subordinate"]
    )
    return viewer, people


@pytest.mark.parametrize("scope", list(COVERED))
def test_covers_q_and_ids_agree_on_the_scope(world, scope):
    viewer, people = build(world, scope)
    with tenant_scope(world.tenant_a.pk):
        view = OwnerScope(viewer)
        covered = {name for name, user in people.items() if view.covers(user.pk)}
        by_query = set(User.tenant_objects.filter(view.q("pk")).values_list("username", flat=True))
        listed = {u.username for u in User.tenant_objects.filter(pk__in=view.ids())}
    assert covered == by_query == listed == COVERED[scope]
    assert view.ids()[0] == viewer.pk
    assert view.count() == len(COVERED[scope])
    assert not view.is_all
    assert not view.covers(None)  # a record without owner: scope "all" only
    assert not view.covers(world.rep_b.pk)  # another tenant's user


def test_scope_all_covers_everybody_and_adds_no_condition(world):
    with tenant_scope(world.tenant_a.pk):
        view = OwnerScope(world.admin_a)
        assert view.is_all
        assert view.q() == Q()
        assert view.ids() is None
        assert view.others() is None
        assert view.covers(None) and view.covers(world.rep_east.pk)
        active = User.tenant_objects.filter(tenant=world.tenant_a, is_active=True).count()
        assert view.count() == active


@pytest.mark.parametrize("scope", [DataScope.DEPARTMENT, DataScope.DEPARTMENT_AND_BELOW])
def test_a_department_scope_is_a_subquery_until_its_ids_are_inlined(
    world, scope, django_assert_num_queries
):
    viewer, people = build(world, scope)
    with tenant_scope(world.tenant_a.pk):
        view = OwnerScope(viewer)
        with django_assert_num_queries(0):
            condition = view.q("owner_id")
        [(lookup, value)] = condition.children
        assert lookup == "owner_id__in" and not isinstance(value, list)  # a queryset
        with django_assert_num_queries(1):
            view.inline_ids()
        [(_lookup, value)] = view.q("owner_id").children
        assert sorted(value) == sorted(people[name].pk for name in COVERED[scope])


def test_covers_reads_the_scope_once(world, django_assert_num_queries):
    viewer, people = build(world, DataScope.DEPARTMENT_AND_BELOW)
    with tenant_scope(world.tenant_a.pk):
        view = OwnerScope(viewer)
        with django_assert_num_queries(1):
            answers = {name: view.covers(user.pk) for name, user in people.items()}
    assert {name for name, yes in answers.items() if yes} == COVERED[DataScope.DEPARTMENT_AND_BELOW]


def test_own_scope_needs_no_query_and_is_alone(world, django_assert_num_queries):
    with tenant_scope(world.tenant_a.pk), django_assert_num_queries(0):
        view = OwnerScope(world.rep_east)
        assert view.is_alone
        assert view.covers(world.rep_east.pk)
        assert not view.covers(world.rep_east2.pk)
        assert view.others() == []


def test_a_department_scope_is_never_called_alone(world):
    viewer, _people = build(world, DataScope.DEPARTMENT)
    with tenant_scope(world.tenant_a.pk):
        assert not OwnerScope(viewer).is_alone
        assert not OwnerScope(world.manager_sales).is_alone
        # Nobody reports to rep_west: "own and subordinates" is them alone.
        lone = make_user(
            world.tenant_a,
            "lone",
            role=make_role(world.tenant_a, "subs", DataScope.OWN_AND_SUBORDINATES),
        )
        assert OwnerScope(lone).is_alone


def test_a_department_scope_without_a_department_is_own(world):
    lone = make_user(
        world.tenant_a, "lone", role=make_role(world.tenant_a, "d", DataScope.DEPARTMENT)
    )
    with tenant_scope(world.tenant_a.pk):
        view = OwnerScope(lone)
        assert view.kind == DataScope.OWN
        assert view.ids() == [lone.pk]


def test_owner_scope_is_kept_on_the_user_for_the_request(world):
    assert owner_scope(world.rep_east) is owner_scope(world.rep_east)
    assert owner_scope(world.rep_east) is not owner_scope(world.rep_west)
