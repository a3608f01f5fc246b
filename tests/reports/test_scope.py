"""ReportScope: the viewer's one data scope narrowed by department and person, per persona;
tenant B never appears; a fixed number of queries."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation
from django_scopes import scopes_disabled

from crm.models import DataScope, Role, User
from reports.scope import ReportScope
from tests.factories import make_department, make_user


def _ids(*users):
    return frozenset(u.pk for u in users)


def _everyone_a(w):
    return _ids(w.admin_a, w.manager_sales, w.rep_east, w.rep_east2, w.rep_west, w.service_a)


def test_admin_sees_everyone_of_their_tenant_only(world, scoped):
    w = world
    with scoped(w.admin_a):
        scope = ReportScope(w.admin_a)
        assert scope.user_ids == _everyone_a(w)
        assert not scope.covers(w.rep_b.pk) and not scope.covers(w.admin_b.pk)
        assert set(scope.departments()) == {w.head_office, w.sales, w.east, w.west, w.service}
        assert not scope.is_alone


def test_manager_sees_sales_and_its_teams_only(world, scoped):
    w = world
    with scoped(w.manager_sales):
        scope = ReportScope(w.manager_sales)
        assert scope.user_ids == _ids(w.manager_sales, w.rep_east, w.rep_east2, w.rep_west)
        assert list(scope.departments()) == [w.sales, w.east, w.west]
        assert set(scope.person_choices()) == {
            w.manager_sales,
            w.rep_east,
            w.rep_east2,
            w.rep_west,
        }


def test_rep_sees_only_themself(world, scoped):
    w = world
    with scoped(w.rep_east):
        scope = ReportScope(w.rep_east)
        assert scope.user_ids == _ids(w.rep_east)
        assert scope.is_alone
        assert list(scope.departments()) == [w.east]
        # Their own department: still only themself, not rep_east2.
        assert ReportScope(w.rep_east, department=w.east).user_ids == _ids(w.rep_east)
        assert list(scope.person_choices()) == [w.rep_east]


@pytest.mark.parametrize("persona", ["rep_east", "manager_sales"])
def test_department_outside_the_scope_is_refused(world, scoped, persona):
    w = world
    actor = getattr(w, persona)
    for department in (w.service, w.head_office):
        with scoped(actor), pytest.raises(ValidationError) as caught:
            ReportScope(actor, department=department)
        assert caught.value.code == "department"
        with translation.override("en"):
            assert caught.value.messages == ["You may not see the figures of this department."]


def test_other_tenants_department_and_person_are_refused_even_for_an_admin(world, scoped):
    w = world
    with scoped(w.admin_a):
        with pytest.raises(ValidationError) as caught:
            ReportScope(w.admin_a, department=w.rep_b.department)
        assert caught.value.code == "department"
        with pytest.raises(ValidationError) as caught:
            ReportScope(w.admin_a, person=w.rep_b)
        assert caught.value.code == "person"


def test_person_outside_the_scope_is_refused(world, scoped):
    w = world
    with scoped(w.rep_east), pytest.raises(ValidationError) as caught:
        ReportScope(w.rep_east, person=w.rep_east2)
    assert caught.value.code == "person"
    with scoped(w.manager_sales), pytest.raises(ValidationError):
        ReportScope(w.manager_sales, person=w.service_a)


def test_department_includes_its_sub_departments_by_default(world, scoped):
    w = world
    with scoped(w.admin_a):
        sales = ReportScope(w.admin_a, department=w.sales)
        assert sales.user_ids == _ids(w.manager_sales, w.rep_east, w.rep_east2, w.rep_west)
        only = ReportScope(w.admin_a, department=w.sales, only_this_department=True)
        assert only.user_ids == _ids(w.manager_sales)
        east = ReportScope(w.admin_a, department=w.east)
        assert east.user_ids == _ids(w.rep_east, w.rep_east2)


def test_person_narrows_the_department(world, scoped):
    w = world
    with scoped(w.manager_sales):
        scope = ReportScope(w.manager_sales, department=w.sales, person=w.rep_west)
        assert scope.user_ids == _ids(w.rep_west)
        elsewhere = ReportScope(w.manager_sales, department=w.east, person=w.rep_west)
        assert elsewhere.user_ids == frozenset()


def test_q_filters_on_the_user_ids(world, scoped):
    w = world
    with scoped(w.manager_sales):
        scope = ReportScope(w.manager_sales, department=w.east)
        found = set(User.tenant_objects.filter(scope.q("id")).values_list("id", flat=True))
        assert found == set(_ids(w.rep_east, w.rep_east2))


def test_department_rows_are_child_departments_then_other(world, scoped):
    w = world
    with scoped(w.admin_a):
        rows = ReportScope(w.admin_a, department=w.sales).department_rows()
        with translation.override("en"):
            other = ReportScope(w.admin_a, department=w.sales).department_rows()[-1].label
        assert [(r.label, r.user_ids, r.is_other) for r in rows] == [
            ("华东组", _ids(w.rep_east, w.rep_east2), False),
            ("华西组", _ids(w.rep_west), False),
            (rows[-1].label, _ids(w.manager_sales), True),
        ]
        assert other == "Other"
        assert [r.department_id for r in rows] == [w.east.pk, w.west.pk, None]


def test_department_rows_without_a_department(world, scoped):
    w = world
    with scoped(w.admin_a):
        nobody = make_user(w.tenant_a, "nobody_a", department=None)
        rows = ReportScope(w.admin_a).department_rows()
        assert [(r.department_id, r.user_ids) for r in rows] == [
            (
                w.head_office.pk,
                _ids(w.admin_a, w.manager_sales, w.rep_east, w.rep_east2, w.rep_west),
            ),
            (w.service.pk, _ids(w.service_a)),
            (None, _ids(nobody)),
        ]
    with scoped(w.manager_sales):
        # A manager's one top department opens on its teams.
        rows = ReportScope(w.manager_sales).department_rows()
        assert [(r.department_id, r.user_ids) for r in rows] == [
            (w.east.pk, _ids(w.rep_east, w.rep_east2)),
            (w.west.pk, _ids(w.rep_west)),
            (None, _ids(w.manager_sales)),
        ]


def test_department_rows_only_this_department_is_the_other_row(world, scoped):
    w = world
    with scoped(w.admin_a):
        scope = ReportScope(w.admin_a, department=w.sales, only_this_department=True)
        rows = scope.department_rows()
        assert [(r.is_other, r.user_ids) for r in rows] == [(True, _ids(w.manager_sales))]


def test_department_rows_keep_within_the_scope(world, scoped):
    w = world
    with scoped(w.rep_east):
        rows = ReportScope(w.rep_east).department_rows()
        assert [(r.department_id, r.user_ids) for r in rows] == [(w.east.pk, _ids(w.rep_east))]
        with pytest.raises(ValidationError):
            ReportScope(w.rep_east).department_rows(w.sales)


def test_person_rows_by_department_path_then_name_inactive_only_with_data(world, scoped):
    w = world
    gone = make_user(w.tenant_a, "gone_east", department=w.east, is_active=False, name="阿离")
    with scoped(w.manager_sales):
        scope = ReportScope(w.manager_sales)
        assert gone.pk in scope.user_ids  # their old figures still count in totals
        rows = scope.person_rows()
        assert [r.user_id for r in rows] == [
            w.manager_sales.pk,
            w.rep_east.pk,
            w.rep_east2.pk,
            w.rep_west.pk,
        ]
        rows = scope.person_rows(with_data={gone.pk})
        assert [(r.user_id, r.inactive) for r in rows] == [
            (w.manager_sales.pk, False),
            (w.rep_east.pk, False),
            (w.rep_east2.pk, False),
            (gone.pk, True),  # names in code-point order: Latin letters before Chinese
            (w.rep_west.pk, False),
        ]
        assert rows[3].name == "阿离" and rows[3].department_name == "华东组"


def test_person_rows_never_leave_the_filters(world, scoped):
    w = world
    with scoped(w.manager_sales):
        rows = ReportScope(w.manager_sales, department=w.west).person_rows(
            with_data={w.rep_east.pk, w.service_a.pk, w.rep_b.pk}
        )
        assert [r.user_id for r in rows] == [w.rep_west.pk]


def test_own_and_subordinates_scope(world, scoped):
    w = world
    with scopes_disabled():
        role = Role.objects.create(
            tenant=w.tenant_a, name="组长", data_scope=DataScope.OWN_AND_SUBORDINATES
        )
    lead = make_user(w.tenant_a, "lead_east", role=role, department=w.east)
    with scopes_disabled():
        w.rep_east.manager = lead
        w.rep_east.save(update_fields=["manager"])
    with scoped(lead):
        scope = ReportScope(lead)
        assert scope.user_ids == _ids(lead, w.rep_east)
        assert list(scope.departments()) == [w.east]
        assert not scope.is_alone


def test_inactive_departments_are_not_offered(world, scoped):
    w = world
    with scopes_disabled():
        closed = make_department(w.tenant_a, "已撤销组", w.sales)
        closed.is_active = False
        closed.save(update_fields=["is_active"])
    with scoped(w.admin_a):
        scope = ReportScope(w.admin_a)
        assert closed not in set(scope.departments())
        with pytest.raises(ValidationError):
            ReportScope(w.admin_a, department=closed)


@pytest.mark.parametrize("persona", ["admin_a", "manager_sales", "rep_east"])
def test_fixed_number_of_queries_whatever_the_size(world, scoped, persona):
    w = world

    def count() -> int:
        with scopes_disabled():
            actor = User.objects.select_related("role", "department").get(pk=getattr(w, persona).pk)
        with scoped(actor), CaptureQueriesContext(connection) as queries:
            department = w.east if persona == "rep_east" else w.sales
            scope = ReportScope(actor, department=department)
            scope.department_rows()
            scope.person_rows(with_data=set(scope.user_ids))
            list(scope.departments())
            list(scope.person_choices())
        return len(queries)

    before = count()
    team = make_department(w.tenant_a, "华南组", w.sales)
    for n in range(12):
        make_user(w.tenant_a, f"extra_{n}", department=team if n % 2 else w.east)
        make_user(w.tenant_a, f"gone_{n}", department=w.west, is_active=False)
    assert count() == before
    assert before <= 4
