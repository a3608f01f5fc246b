"""Role services: create, update (with the lock-out guard) and delete, with every refusal
asserted by its exact code."""

from __future__ import annotations

import pytest

from crm import activity, permissions, services
from crm.exceptions import NotFoundError, PermissionRefusedError, ServiceError
from crm.models import ActivityLog, DataScope, Role, User
from tests.factories import make_role, make_user


def _logs(obj, action=None):
    qs = ActivityLog.objects.for_object(obj)
    return list(qs.filter(action=action) if action else qs)


def _admin_role(world):
    role = world.admin_a.role  # loaded with the fixture, no scope needed
    assert role.builtin == Role.Builtin.ADMIN
    return role


def _labels(*codes):
    return ", ".join(str(permissions.label(c)) for c in codes)


# ---------------------------------------------------------------- create


def test_role_create_stores_permissions_scope_and_description(world, scoped):
    with scoped(world.admin_a):
        role = services.role_create(
            actor=world.admin_a,
            name="  区域经理 ",
            permission_codes=["customer.export", "reports.view", "customer.export"],
            data_scope=DataScope.DEPARTMENT,
            description="管华东",
        )
        role = Role.objects.get(pk=role.pk)
    assert role.tenant_id == world.tenant_a.pk
    assert role.name == "区域经理"
    assert role.permissions == ["customer.export", "reports.view"]  # de-duplicated, in order
    assert role.data_scope == DataScope.DEPARTMENT
    assert role.description == "管华东"
    assert role.builtin == ""


def test_role_create_writes_activity(world, scoped):
    with scoped(world.admin_a):
        role = services.role_create(
            actor=world.admin_a, name="区域经理", permission_codes=[], data_scope=DataScope.OWN
        )
        [entry] = _logs(role)
    assert entry.action == activity.ROLE_CREATED
    assert entry.actor_id == world.admin_a.pk
    assert entry.object_repr == "区域经理"


def test_role_create_grants_its_permissions_to_users_given_the_role(world, scoped):
    with scoped(world.admin_a):
        role = services.role_create(
            actor=world.admin_a,
            name="报表员",
            permission_codes=["reports.view"],
            data_scope=DataScope.OWN,
        )
        rep = world.rep_east
        services.user_update(
            actor=world.admin_a,
            user=rep,
            username=rep.username,
            name=rep.name,
            mobile=rep.mobile,
            email=rep.email,
            title=rep.title,
            department=rep.department,
            role=role,
            manager=rep.manager,
        )
    fresh = User.objects.get(pk=world.rep_east.pk)
    assert fresh.can("reports.view")
    assert not fresh.can("customer.export")


@pytest.mark.parametrize("persona", ["manager_sales", "rep_east"])
def test_role_create_refused_without_users_manage(world, scoped, persona):
    actor = getattr(world, persona)
    with scoped(actor):
        before = Role.objects.count()
        with pytest.raises(PermissionRefusedError) as exc:
            services.role_create(
                actor=actor,
                name="区域经理",
                permission_codes=["users.manage"],
                data_scope=DataScope.ALL,
            )
        assert Role.objects.count() == before
    assert exc.value.code == "permission"


def test_role_create_refused_for_unknown_permission_code(world, scoped):
    with scoped(world.admin_a):
        before = Role.objects.count()
        with pytest.raises(ServiceError) as exc:
            services.role_create(
                actor=world.admin_a,
                name="区域经理",
                permission_codes=["reports.view", "customer.fly"],
                data_scope=DataScope.OWN,
            )
        assert Role.objects.count() == before
    assert exc.value.code == "unknown_permission"
    assert "customer.fly" in str(exc.value.message)


def test_role_create_refused_for_duplicate_name(world, scoped):
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.role_create(
            actor=world.admin_a, name="销售代表", permission_codes=[], data_scope=DataScope.OWN
        )
    assert exc.value.code == "duplicate"


def test_role_create_allows_name_used_in_other_tenant(world, scoped):
    make_role(world.tenant_b, "区域经理", DataScope.OWN)
    with scoped(world.admin_a):
        role = services.role_create(
            actor=world.admin_a, name="区域经理", permission_codes=[], data_scope=DataScope.OWN
        )
    assert role.tenant_id == world.tenant_a.pk


@pytest.mark.parametrize("name", ["", "   "])
def test_role_create_refused_without_name(world, scoped, name):
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.role_create(
            actor=world.admin_a, name=name, permission_codes=[], data_scope=DataScope.OWN
        )
    assert exc.value.code == "required"


def test_role_create_refused_for_unknown_data_scope(world, scoped):
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.role_create(
            actor=world.admin_a, name="区域经理", permission_codes=[], data_scope="galaxy"
        )
    assert exc.value.code == "data_scope"


# ---------------------------------------------------------------- update


def test_role_update_changes_role_and_logs_readable_changes(world, scoped):
    role = make_role(world.tenant_a, "区域经理", DataScope.OWN, ["customer.export"])
    with scoped(world.admin_a):
        services.role_update(
            actor=world.admin_a,
            role=role,
            name="大区经理",
            permission_codes=["customer.export", "reports.view"],
            data_scope=DataScope.DEPARTMENT_AND_BELOW,
            description="全国",
        )
        fresh = Role.objects.get(pk=role.pk)
        [entry] = _logs(role)
    assert fresh.name == "大区经理"
    assert fresh.permissions == ["customer.export", "reports.view"]
    assert fresh.data_scope == DataScope.DEPARTMENT_AND_BELOW
    assert fresh.description == "全国"
    assert entry.action == activity.ROLE_UPDATED
    assert entry.actor_id == world.admin_a.pk
    assert entry.changes == {
        "name": ["区域经理", "大区经理"],
        "permissions": [_labels("customer.export"), _labels("customer.export", "reports.view")],
        "data_scope": [str(DataScope.OWN.label), str(DataScope.DEPARTMENT_AND_BELOW.label)],
        "description": ["", "全国"],
    }


def test_role_update_without_changes_writes_no_activity(world, scoped):
    role = make_role(world.tenant_a, "区域经理", DataScope.OWN, ["customer.export"])
    with scoped(world.admin_a):
        services.role_update(
            actor=world.admin_a,
            role=role,
            name="区域经理",
            permission_codes=["customer.export"],
            data_scope=DataScope.OWN,
        )
        assert _logs(role) == []


def test_role_update_changes_permissions_of_users_with_the_role(world, scoped):
    with scoped(world.admin_a):
        rep_role = Role.objects.get(tenant=world.tenant_a, builtin=Role.Builtin.SALES_REP)
        services.role_update(
            actor=world.admin_a,
            role=rep_role,
            name=rep_role.name,
            permission_codes=["customer.import"],
            data_scope=DataScope.OWN,
        )
    assert User.objects.get(pk=world.rep_east.pk).can("customer.import")
    assert User.objects.get(pk=world.rep_west.pk).can("customer.import")
    assert not User.objects.get(pk=world.rep_b.pk).can("customer.import")


def test_role_update_keeping_own_name_is_not_a_duplicate(world, scoped):
    role = make_role(world.tenant_a, "区域经理", DataScope.OWN)
    with scoped(world.admin_a):
        services.role_update(
            actor=world.admin_a,
            role=role,
            name="区域经理",
            permission_codes=["reports.view"],
            data_scope=DataScope.OWN,
        )
    role.refresh_from_db()
    assert role.permissions == ["reports.view"]


def test_role_update_refused_for_name_of_another_role(world, scoped):
    role = make_role(world.tenant_a, "区域经理", DataScope.OWN)
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.role_update(
            actor=world.admin_a,
            role=role,
            name="销售经理",
            permission_codes=[],
            data_scope=DataScope.OWN,
        )
    assert exc.value.code == "duplicate"
    role.refresh_from_db()
    assert role.name == "区域经理"


def test_role_update_refused_for_unknown_permission_code(world, scoped):
    role = make_role(world.tenant_a, "区域经理", DataScope.OWN, ["reports.view"])
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.role_update(
            actor=world.admin_a,
            role=role,
            name="区域经理",
            permission_codes=["reports.fly"],
            data_scope=DataScope.OWN,
        )
    assert exc.value.code == "unknown_permission"
    role.refresh_from_db()
    assert role.permissions == ["reports.view"]


def test_role_update_refused_removing_users_manage_from_only_admin_role(world, scoped):
    admin_role = _admin_role(world)
    codes = [c for c in permissions.all_codes() if c != "users.manage"]
    with scoped(world.admin_a):
        with pytest.raises(ServiceError) as exc:
            services.role_update(
                actor=world.admin_a,
                role=admin_role,
                name=admin_role.name,
                permission_codes=codes,
                data_scope=DataScope.ALL,
            )
        assert _logs(admin_role) == []
    assert exc.value.code == "last_admin"
    admin_role.refresh_from_db()
    assert "users.manage" in admin_role.permissions
    assert User.objects.get(pk=world.admin_a.pk).can("users.manage")


def test_role_update_allows_removing_users_manage_when_another_role_keeps_an_admin(world, scoped):
    hr = make_role(world.tenant_a, "人事", DataScope.OWN, ["users.manage"])
    make_user(world.tenant_a, "hr_a", role=hr)
    admin_role = _admin_role(world)
    with scoped(world.admin_a):
        services.role_update(
            actor=world.admin_a,
            role=admin_role,
            name=admin_role.name,
            permission_codes=["settings.manage"],
            data_scope=DataScope.ALL,
        )
    admin_role.refresh_from_db()
    assert admin_role.permissions == ["settings.manage"]


def test_role_update_refused_when_other_users_manage_holder_is_deactivated(world, scoped):
    hr = make_role(world.tenant_a, "人事", DataScope.OWN, ["users.manage"])
    make_user(world.tenant_a, "hr_a", role=hr, is_active=False)
    admin_role = _admin_role(world)
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.role_update(
            actor=world.admin_a,
            role=admin_role,
            name=admin_role.name,
            permission_codes=["settings.manage"],
            data_scope=DataScope.ALL,
        )
    assert exc.value.code == "last_admin"


def test_role_update_allows_removing_users_manage_from_role_without_users(world, scoped):
    hr = make_role(world.tenant_a, "人事", DataScope.OWN, ["users.manage"])
    with scoped(world.admin_a):
        services.role_update(
            actor=world.admin_a, role=hr, name="人事", permission_codes=[], data_scope=DataScope.OWN
        )
    hr.refresh_from_db()
    assert hr.permissions == []


def test_role_update_refused_for_other_tenants_role(world, scoped):
    b_role = world.rep_b.role
    before = list(b_role.permissions)
    with scoped(world.admin_a), pytest.raises(NotFoundError) as exc:
        services.role_update(
            actor=world.admin_a,
            role=b_role,
            name=b_role.name,
            permission_codes=list(permissions.all_codes()),
            data_scope=DataScope.ALL,
        )
    assert exc.value.code == "not_found"
    b_role.refresh_from_db()
    assert b_role.permissions == before
    assert "customer.export" not in b_role.permissions


def test_role_update_refused_without_users_manage(world, scoped):
    rep_role = world.rep_east.role
    before = list(rep_role.permissions)
    assert "users.manage" not in before
    with scoped(world.rep_east), pytest.raises(PermissionRefusedError) as exc:
        services.role_update(
            actor=world.rep_east,
            role=rep_role,
            name=rep_role.name,
            permission_codes=["users.manage"],
            data_scope=DataScope.ALL,
        )
    assert exc.value.code == "permission"
    rep_role.refresh_from_db()
    assert rep_role.permissions == before


# ---------------------------------------------------------------- delete


def test_role_delete_removes_unused_role_and_logs(world, scoped):
    role = make_role(world.tenant_a, "临时角色", DataScope.OWN)
    pk = role.pk
    with scoped(world.admin_a):
        services.role_delete(actor=world.admin_a, role=role)
        assert not Role.objects.filter(pk=pk).exists()
        [entry] = ActivityLog.objects.filter(action=activity.ROLE_DELETED)
    assert entry.object_id == pk
    assert entry.object_repr == "临时角色"
    assert entry.actor_id == world.admin_a.pk


def test_role_delete_refused_while_given_to_users(world, scoped):
    with scoped(world.admin_a):
        rep_role = world.rep_east.role
        with pytest.raises(ServiceError) as exc:
            services.role_delete(actor=world.admin_a, role=rep_role)
        assert Role.objects.filter(pk=rep_role.pk).exists()
        assert not ActivityLog.objects.filter(action=activity.ROLE_DELETED).exists()
    assert exc.value.code == "in_use"


def test_role_delete_refused_while_given_to_deactivated_user(world, scoped):
    role = make_role(world.tenant_a, "临时角色", DataScope.OWN)
    make_user(world.tenant_a, "gone", role=role, is_active=False)
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.role_delete(actor=world.admin_a, role=role)
    assert exc.value.code == "in_use"


def test_role_delete_refused_for_builtin_admin_role(world, scoped):
    # Nobody holds the admin role any more: the refusal is about the role itself.
    admin_role = _admin_role(world)
    super_role = make_role(
        world.tenant_a, "超级管理员", DataScope.ALL, list(permissions.all_codes())
    )
    world.admin_a.role = super_role
    world.admin_a.save(update_fields=["role"])
    actor = User.objects.get(pk=world.admin_a.pk)
    with scoped(actor):
        with pytest.raises(ServiceError) as exc:
            services.role_delete(actor=actor, role=admin_role)
        assert Role.objects.filter(pk=admin_role.pk).exists()
    assert exc.value.code == "builtin"


def test_role_delete_refused_for_other_tenants_role(world, scoped):
    b_role = make_role(world.tenant_b, "乙方临时", DataScope.OWN)
    with scoped(world.admin_a), pytest.raises(NotFoundError) as exc:
        services.role_delete(actor=world.admin_a, role=b_role)
    assert exc.value.code == "not_found"
    with scoped(world.admin_b):
        assert Role.objects.filter(pk=b_role.pk).exists()


def test_role_delete_refused_without_users_manage(world, scoped):
    role = make_role(world.tenant_a, "临时角色", DataScope.OWN)
    with scoped(world.manager_sales):
        with pytest.raises(PermissionRefusedError) as exc:
            services.role_delete(actor=world.manager_sales, role=role)
        assert Role.objects.filter(pk=role.pk).exists()
    assert exc.value.code == "permission"
