"""Department services: create, rename, move (subtree paths) and enable/disable, with every
refusal asserted by its exact code."""

from __future__ import annotations

import pytest

from crm import activity, services
from crm.exceptions import NotFoundError, PermissionRefusedError, ServiceError
from crm.models import ActivityLog, Department
from tests.factories import make_department


def _logs(obj, action=None):
    qs = ActivityLog.objects.for_object(obj)
    return list(qs.filter(action=action) if action else qs)


def _paths(*depts):
    return [Department.objects.get(pk=d.pk).path for d in depts]


def _deactivate(*users):
    for u in users:
        u.is_active = False
        u.save(update_fields=["is_active"])


# ---------------------------------------------------------------- create


def test_department_create_adds_top_level_department_with_own_path(world, scoped):
    with scoped(world.admin_a):
        dept = services.department_create(actor=world.admin_a, name="研发部")
        dept = Department.objects.get(pk=dept.pk)
    assert dept.tenant_id == world.tenant_a.pk
    assert dept.parent_id is None
    assert dept.path == f"/{dept.pk}/"
    assert dept.depth == 0
    assert dept.is_active


def test_department_create_under_parent_extends_parent_path(world, scoped):
    with scoped(world.admin_a):
        dept = services.department_create(actor=world.admin_a, name="华南组", parent=world.sales)
        dept = Department.objects.get(pk=dept.pk)
    assert dept.parent_id == world.sales.pk
    assert dept.path == f"{world.sales.path}{dept.pk}/"
    assert dept.ancestor_ids() == [world.head_office.pk, world.sales.pk]


def test_department_create_strips_name_and_sets_leader(world, scoped):
    with scoped(world.admin_a):
        dept = services.department_create(
            actor=world.admin_a, name="  华南组  ", parent=world.sales, leader=world.rep_east
        )
        dept = Department.objects.get(pk=dept.pk)
    assert dept.name == "华南组"
    assert dept.leader_id == world.rep_east.pk


def test_department_create_writes_activity_with_parent(world, scoped):
    with scoped(world.admin_a):
        dept = services.department_create(actor=world.admin_a, name="华南组", parent=world.sales)
        [entry] = _logs(dept)
    assert entry.action == activity.DEPARTMENT_CREATED
    assert entry.actor_id == world.admin_a.pk
    assert entry.tenant_id == world.tenant_a.pk
    assert entry.object_repr == "华南组"
    assert entry.changes == {"parent": ["", "销售部"]}


@pytest.mark.parametrize("persona", ["rep_east", "manager_sales", "service_a"])
def test_department_create_refused_without_settings_manage(world, scoped, persona):
    actor = getattr(world, persona)
    with scoped(actor):
        before = Department.objects.count()
        with pytest.raises(PermissionRefusedError) as exc:
            services.department_create(actor=actor, name="研发部")
        assert Department.objects.count() == before
    assert exc.value.code == "permission"


@pytest.mark.parametrize("name", ["", "   ", None])
def test_department_create_refused_without_name(world, scoped, name):
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.department_create(actor=world.admin_a, name=name)
    assert exc.value.code == "required"


def test_department_create_refused_for_name_over_50_characters(world, scoped):
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.department_create(actor=world.admin_a, name="部" * 51)
    assert exc.value.code == "too_long"


def test_department_create_accepts_name_of_exactly_50_characters(world, scoped):
    with scoped(world.admin_a):
        dept = services.department_create(actor=world.admin_a, name="部" * 50)
    assert dept.name == "部" * 50


def test_department_create_refused_for_duplicate_sibling_name(world, scoped):
    with scoped(world.admin_a):
        before = Department.objects.count()
        with pytest.raises(ServiceError) as exc:
            services.department_create(actor=world.admin_a, name="华东组", parent=world.sales)
        assert Department.objects.count() == before
        assert not ActivityLog.objects.filter(action=activity.DEPARTMENT_CREATED).exists()
    assert exc.value.code == "duplicate"


def test_department_create_refused_for_duplicate_top_level_name(world, scoped):
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.department_create(actor=world.admin_a, name="售后部")
    assert exc.value.code == "duplicate"


def test_department_create_allows_same_name_under_another_parent(world, scoped):
    with scoped(world.admin_a):
        dept = services.department_create(actor=world.admin_a, name="华东组", parent=world.service)
    assert dept.parent_id == world.service.pk


def test_department_create_allows_name_used_in_other_tenant(world, scoped):
    # tenant B has a top-level "销售部"; tenant A's top level has none.
    with scoped(world.admin_a):
        dept = services.department_create(actor=world.admin_a, name="销售部")
    assert dept.tenant_id == world.tenant_a.pk


def test_department_create_refused_under_disabled_parent(world, scoped):
    world.service.is_active = False
    world.service.save(update_fields=["is_active"])
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.department_create(actor=world.admin_a, name="维修组", parent=world.service)
    assert exc.value.code == "parent_disabled"


def test_department_create_refused_under_other_tenants_department(world, scoped):
    b_dept = world.admin_b.department
    with scoped(world.admin_a):
        before = Department.objects.count()
        with pytest.raises(NotFoundError) as exc:
            services.department_create(actor=world.admin_a, name="渗透组", parent=b_dept)
        assert Department.objects.count() == before
    assert exc.value.code == "not_found"


def test_department_create_refused_with_leader_of_other_tenant(world, scoped):
    with scoped(world.admin_a), pytest.raises(NotFoundError) as exc:
        services.department_create(actor=world.admin_a, name="研发部", leader=world.rep_b)
    assert exc.value.code == "not_found"


def test_department_create_refused_with_deactivated_leader(world, scoped):
    _deactivate(world.rep_west)
    with scoped(world.admin_a):
        before = Department.objects.count()
        with pytest.raises(ServiceError) as exc:
            services.department_create(actor=world.admin_a, name="研发部", leader=world.rep_west)
        assert Department.objects.count() == before
    assert exc.value.code == "inactive"


# ---------------------------------------------------------------- update


def test_department_update_renames_and_sets_leader_with_logged_changes(world, scoped):
    with scoped(world.admin_a):
        services.department_update(
            actor=world.admin_a, department=world.east, name="华东一组", leader=world.rep_east
        )
        dept = Department.objects.get(pk=world.east.pk)
        [entry] = _logs(dept)
    assert dept.name == "华东一组"
    assert dept.leader_id == world.rep_east.pk
    assert entry.action == activity.DEPARTMENT_RENAMED
    assert entry.actor_id == world.admin_a.pk
    assert entry.changes == {"name": ["华东组", "华东一组"], "leader": ["", "rep_east"]}


def test_department_update_clears_leader(world, scoped):
    world.east.leader = world.rep_east
    world.east.save(update_fields=["leader"])
    with scoped(world.admin_a):
        services.department_update(
            actor=world.admin_a, department=world.east, name="华东组", leader=None
        )
        [entry] = _logs(world.east)
    world.east.refresh_from_db()
    assert world.east.leader_id is None
    assert entry.changes == {"leader": ["rep_east", ""]}


def test_department_update_without_changes_writes_no_activity(world, scoped):
    with scoped(world.admin_a):
        services.department_update(
            actor=world.admin_a, department=world.east, name="华东组", leader=None
        )
        assert _logs(world.east) == []


def test_department_update_keeping_own_name_is_not_a_duplicate(world, scoped):
    with scoped(world.admin_a):
        services.department_update(
            actor=world.admin_a, department=world.east, name="华东组", leader=world.rep_east2
        )
    world.east.refresh_from_db()
    assert world.east.leader_id == world.rep_east2.pk


def test_department_update_refused_for_duplicate_sibling_name(world, scoped):
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.department_update(
            actor=world.admin_a, department=world.east, name="华西组", leader=None
        )
    assert exc.value.code == "duplicate"
    world.east.refresh_from_db()
    assert world.east.name == "华东组"


def test_department_update_refused_for_empty_name(world, scoped):
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.department_update(
            actor=world.admin_a, department=world.east, name=" ", leader=None
        )
    assert exc.value.code == "required"


def test_department_update_refused_for_deactivated_leader(world, scoped):
    _deactivate(world.rep_east)
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.department_update(
            actor=world.admin_a, department=world.east, name="华东组", leader=world.rep_east
        )
    assert exc.value.code == "inactive"
    world.east.refresh_from_db()
    assert world.east.leader_id is None


def test_department_update_refused_with_leader_of_other_tenant(world, scoped):
    with scoped(world.admin_a), pytest.raises(NotFoundError) as exc:
        services.department_update(
            actor=world.admin_a, department=world.east, name="华东组", leader=world.rep_b
        )
    assert exc.value.code == "not_found"


def test_department_update_refused_for_other_tenants_department(world, scoped):
    b_dept = world.admin_b.department
    with scoped(world.admin_a), pytest.raises(NotFoundError) as exc:
        services.department_update(actor=world.admin_a, department=b_dept, name="改名", leader=None)
    assert exc.value.code == "not_found"
    b_dept.refresh_from_db()
    assert b_dept.name == "销售部"


def test_department_update_refused_without_settings_manage(world, scoped):
    with scoped(world.rep_east), pytest.raises(PermissionRefusedError) as exc:
        services.department_update(
            actor=world.rep_east, department=world.east, name="我的组", leader=None
        )
    assert exc.value.code == "permission"


# ---------------------------------------------------------------- move


def test_department_move_rewrites_paths_of_whole_subtree(world, scoped):
    deep = make_department(world.tenant_a, "上海小组", world.east)
    with scoped(world.admin_a):
        moved = services.department_move(
            actor=world.admin_a, department=world.sales, parent=world.service
        )
        sales_path, east_path, west_path, deep_path, head_path, service_path = _paths(
            world.sales, world.east, world.west, deep, world.head_office, world.service
        )
        east_parent = Department.objects.get(pk=world.east.pk).parent_id
    s = world.sales.pk
    assert moved.parent_id == world.service.pk
    assert sales_path == f"/{world.service.pk}/{s}/"
    assert east_path == f"/{world.service.pk}/{s}/{world.east.pk}/"
    assert west_path == f"/{world.service.pk}/{s}/{world.west.pk}/"
    assert deep_path == f"/{world.service.pk}/{s}/{world.east.pk}/{deep.pk}/"
    # Neither the old nor the new parent changed.
    assert head_path == world.head_office.path
    assert service_path == world.service.path
    # Parents of descendants are untouched: only the moved node gets a new parent.
    assert east_parent == s


def test_department_move_to_top_level(world, scoped):
    with scoped(world.admin_a):
        services.department_move(actor=world.admin_a, department=world.sales, parent=None)
        sales_path, east_path = _paths(world.sales, world.east)
        assert Department.objects.get(pk=world.sales.pk).parent_id is None
    assert sales_path == f"/{world.sales.pk}/"
    assert east_path == f"/{world.sales.pk}/{world.east.pk}/"


def test_department_move_leaves_other_tenants_paths_alone(world, scoped):
    b_dept = world.admin_b.department
    before = b_dept.path
    with scoped(world.admin_a):
        services.department_move(actor=world.admin_a, department=world.sales, parent=None)
    b_dept.refresh_from_db()
    assert b_dept.path == before


def test_department_move_keeps_subtree_selectable_by_path(world, scoped):
    """After a move "department and below" still finds the moved subtree's members."""
    with scoped(world.admin_a):
        services.department_move(actor=world.admin_a, department=world.east, parent=world.service)
        service = Department.objects.get(pk=world.service.pk)
        below = set(
            Department.objects.filter(path__startswith=service.path).values_list("pk", flat=True)
        )
    assert below == {world.service.pk, world.east.pk}


def test_department_move_writes_activity_with_old_and_new_parent(world, scoped):
    with scoped(world.admin_a):
        services.department_move(actor=world.admin_a, department=world.east, parent=world.service)
        [entry] = _logs(world.east)
    assert entry.action == activity.DEPARTMENT_MOVED
    assert entry.actor_id == world.admin_a.pk
    assert entry.changes == {"parent": ["销售部", "售后部"]}


def test_department_move_to_top_level_logs_empty_new_parent(world, scoped):
    with scoped(world.admin_a):
        services.department_move(actor=world.admin_a, department=world.east, parent=None)
        [entry] = _logs(world.east)
    assert entry.changes == {"parent": ["销售部", ""]}


def test_department_move_refused_under_own_subtree(world, scoped):
    with scoped(world.admin_a):
        with pytest.raises(ServiceError) as exc:
            services.department_move(actor=world.admin_a, department=world.sales, parent=world.east)
        paths = _paths(world.sales, world.east, world.west)
        assert _logs(world.sales) == []
    assert exc.value.code == "cycle"
    assert paths == [world.sales.path, world.east.path, world.west.path]


def test_department_move_refused_under_itself(world, scoped):
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.department_move(actor=world.admin_a, department=world.sales, parent=world.sales)
    assert exc.value.code == "cycle"


def test_department_move_refused_for_duplicate_name_under_new_parent(world, scoped):
    make_department(world.tenant_a, "华东组", world.service)
    with scoped(world.admin_a):
        with pytest.raises(ServiceError) as exc:
            services.department_move(
                actor=world.admin_a, department=world.east, parent=world.service
            )
        assert Department.objects.get(pk=world.east.pk).parent_id == world.sales.pk
    assert exc.value.code == "duplicate"


def test_department_move_refused_under_disabled_parent(world, scoped):
    world.service.is_active = False
    world.service.save(update_fields=["is_active"])
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.department_move(actor=world.admin_a, department=world.east, parent=world.service)
    assert exc.value.code == "parent_disabled"


def test_department_move_to_current_parent_changes_nothing(world, scoped):
    with scoped(world.admin_a):
        services.department_move(actor=world.admin_a, department=world.east, parent=world.sales)
        assert _paths(world.east) == [world.east.path]
        assert _logs(world.east) == []


def test_department_move_refused_under_other_tenants_department(world, scoped):
    with scoped(world.admin_a), pytest.raises(NotFoundError) as exc:
        services.department_move(
            actor=world.admin_a, department=world.east, parent=world.admin_b.department
        )
    assert exc.value.code == "not_found"


def test_department_move_refused_for_other_tenants_department(world, scoped):
    with scoped(world.admin_a), pytest.raises(NotFoundError) as exc:
        services.department_move(
            actor=world.admin_a, department=world.admin_b.department, parent=world.sales
        )
    assert exc.value.code == "not_found"


def test_department_move_refused_without_settings_manage(world, scoped):
    with scoped(world.manager_sales), pytest.raises(PermissionRefusedError) as exc:
        services.department_move(actor=world.manager_sales, department=world.east, parent=None)
    assert exc.value.code == "permission"


# ---------------------------------------------------------------- enable / disable


def test_department_disable_refused_with_active_users(world, scoped):
    with scoped(world.admin_a):
        with pytest.raises(ServiceError) as exc:
            services.department_set_active(actor=world.admin_a, department=world.east, active=False)
        assert Department.objects.get(pk=world.east.pk).is_active
    assert exc.value.code == "has_users"


def test_department_disable_refused_with_active_children(world, scoped):
    parent = make_department(world.tenant_a, "研发部")
    make_department(world.tenant_a, "前端组", parent)
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.department_set_active(actor=world.admin_a, department=parent, active=False)
    assert exc.value.code == "has_children"


def test_department_disable_allowed_when_members_are_deactivated(world, scoped):
    _deactivate(world.rep_east, world.rep_east2)
    with scoped(world.admin_a):
        services.department_set_active(actor=world.admin_a, department=world.east, active=False)
        [entry] = _logs(world.east)
    world.east.refresh_from_db()
    assert not world.east.is_active
    assert entry.action == activity.DEPARTMENT_DISABLED
    assert entry.actor_id == world.admin_a.pk


def test_department_disable_allowed_when_children_are_disabled(world, scoped):
    parent = make_department(world.tenant_a, "研发部")
    child = make_department(world.tenant_a, "前端组", parent)
    with scoped(world.admin_a):
        services.department_set_active(actor=world.admin_a, department=child, active=False)
        services.department_set_active(actor=world.admin_a, department=parent, active=False)
    parent.refresh_from_db()
    assert not parent.is_active


def test_department_enable_refused_under_disabled_parent(world, scoped):
    parent = make_department(world.tenant_a, "研发部")
    child = make_department(world.tenant_a, "前端组", parent)
    with scoped(world.admin_a):
        services.department_set_active(actor=world.admin_a, department=child, active=False)
        services.department_set_active(actor=world.admin_a, department=parent, active=False)
        child = Department.objects.get(pk=child.pk)
        with pytest.raises(ServiceError) as exc:
            services.department_set_active(actor=world.admin_a, department=child, active=True)
        assert not Department.objects.get(pk=child.pk).is_active
    assert exc.value.code == "parent_disabled"


def test_department_enable_reactivates_and_logs(world, scoped):
    dept = make_department(world.tenant_a, "研发部")
    with scoped(world.admin_a):
        services.department_set_active(actor=world.admin_a, department=dept, active=False)
        services.department_set_active(actor=world.admin_a, department=dept, active=True)
        actions = [e.action for e in _logs(dept)]
    dept.refresh_from_db()
    assert dept.is_active
    assert actions == [activity.DEPARTMENT_ENABLED, activity.DEPARTMENT_DISABLED]


def test_department_set_active_to_current_state_writes_nothing(world, scoped):
    with scoped(world.admin_a):
        services.department_set_active(actor=world.admin_a, department=world.east, active=True)
        assert _logs(world.east) == []


def test_department_set_active_refused_for_other_tenants_department(world, scoped):
    b_dept = make_department(world.tenant_b, "空部门")
    with scoped(world.admin_a), pytest.raises(NotFoundError) as exc:
        services.department_set_active(actor=world.admin_a, department=b_dept, active=False)
    assert exc.value.code == "not_found"
    b_dept.refresh_from_db()
    assert b_dept.is_active


def test_department_set_active_refused_without_settings_manage(world, scoped):
    dept = make_department(world.tenant_a, "研发部")
    with scoped(world.rep_east), pytest.raises(PermissionRefusedError) as exc:
        services.department_set_active(actor=world.rep_east, department=dept, active=False)
    assert exc.value.code == "permission"
