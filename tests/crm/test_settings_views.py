"""The settings pages end to end: who may open them, the POST flows, htmx fragments, 422 on
invalid input (with the error in the page and nothing written), and a fixed number of queries
on the users list."""

from __future__ import annotations

import re

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation
from django.utils.html import escape

from crm import activity, services
from crm.models import (
    ActivityLog,
    DataScope,
    Department,
    Notification,
    Option,
    OptionKind,
    Role,
    User,
)
from crm.tenancy import tenant_scope
from tests.factories import PASSWORD, TenantFactory, make_department, make_role, make_user


def in_page(msgid: str) -> str:
    """A message as the page shows it: in the default language (zh-hans), HTML-escaped."""
    with translation.override("zh-hans"):
        return escape(translation.gettext(msgid))


def _count(model, tenant_id):
    with tenant_scope(tenant_id):
        manager = User.tenant_objects if model is User else model.objects
        return manager.count()


def _log_count(tenant_id):
    return _count(ActivityLog, tenant_id)


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _role(world, builtin):
    with tenant_scope(world.tenant_a.pk):
        return Role.objects.get(tenant=world.tenant_a, builtin=builtin)


# ---------------------------------------------------------------- access matrix

PAGES = {
    "crm:department-list": lambda w: [],
    "crm:department-edit": lambda w: [w.east.pk],
    "crm:user-list": lambda w: [],
    "crm:user-create": lambda w: [],
    "crm:user-edit": lambda w: [w.rep_east.pk],
    "crm:role-list": lambda w: [],
    "crm:role-create": lambda w: [],
    "crm:role-edit": lambda w: [w.rep_east.role_id],
    "crm:option-list": lambda w: [],
    "crm:audit-log": lambda w: [],
    "crm:reminder-settings": lambda w: [],
    "crm:delivery-list": lambda w: [],
}

ACTIONS = {
    "crm:department-move": lambda w: [w.east.pk],
    "crm:department-toggle": lambda w: [w.east.pk],
    "crm:user-toggle": lambda w: [w.rep_east2.pk],
    "crm:user-reset-password": lambda w: [w.rep_east2.pk],
    "crm:role-delete": lambda w: [w.service_a.role_id],
    "crm:option-edit": lambda w: [_source_option(w, "展会").pk],
    "crm:option-move": lambda w: [_source_option(w, "展会").pk],
}


def _source_option(world, label):
    with tenant_scope(world.tenant_a.pk):
        return Option.objects.get(
            tenant=world.tenant_a, kind=OptionKind.CUSTOMER_SOURCE, label=label
        )


@pytest.mark.parametrize("name", PAGES)
def test_settings_page_answers_200_for_admin(world, login, name):
    response = login(world.admin_a).get(reverse(name, args=PAGES[name](world)))
    assert response.status_code == 200
    assert b"<html" in response.content


@pytest.mark.parametrize("persona", ["rep_east", "manager_sales", "service_a"])
@pytest.mark.parametrize("name", PAGES)
def test_settings_page_forbidden_without_permission(world, login, name, persona):
    response = login(getattr(world, persona)).get(reverse(name, args=PAGES[name](world)))
    assert response.status_code == 403


@pytest.mark.parametrize("name", PAGES)
def test_settings_page_redirects_anonymous_to_login(world, client, name):
    url = reverse(name, args=PAGES[name](world))
    response = client.get(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
    assert "next=" in response.url


@pytest.mark.parametrize("name", ACTIONS)
def test_settings_action_forbidden_without_permission_and_changes_nothing(world, login, name):
    logs = _log_count(world.tenant_a.pk)
    response = login(world.rep_east).post(
        reverse(name, args=ACTIONS[name](world)),
        {"direction": "up", "label": "被改了", "parent": ""},
    )
    assert response.status_code == 403
    assert _log_count(world.tenant_a.pk) == logs
    assert User.objects.get(pk=world.rep_east2.pk).is_active
    assert User.objects.get(pk=world.rep_east2.pk).check_password(PASSWORD)
    assert _source_option(world, "展会").sort_order == 2


@pytest.mark.parametrize("name", ACTIONS)
def test_settings_action_redirects_anonymous_to_login(world, client, name):
    response = client.post(reverse(name, args=ACTIONS[name](world)))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("name", ACTIONS)
def test_settings_action_refuses_get(world, login, name):
    response = login(world.admin_a).get(reverse(name, args=ACTIONS[name](world)))
    assert response.status_code == 405


def test_settings_entry_redirects_to_departments(world, login):
    response = login(world.admin_a).get(reverse("crm:settings"))
    assert response.status_code in (301, 302)
    assert response.url == reverse("crm:department-list")


def test_settings_navigation_shown_only_to_those_who_may_use_it(world, login, client):
    admin_page = login(world.admin_a).get(reverse("crm:workbench")).content.decode()
    client.logout()
    rep_page = login(world.rep_east).get(reverse("crm:workbench")).content.decode()
    for key in ("departments", "users", "roles"):
        assert f'data-nav="{key}"' in admin_page
        assert f'data-nav="{key}"' not in rep_page


# ---------------------------------------------------------------- departments


def test_department_list_shows_tree_of_own_tenant_only(world, login):
    make_department(world.tenant_b, "乙方秘密部门")
    content = login(world.admin_a).get(reverse("crm:department-list")).content.decode()
    names = re.findall(r'<a href="/settings/departments/\d+/">([^<]+)</a>', content)
    assert names == ["总经办", "销售部", "华东组", "华西组", "售后部"]
    assert "乙方秘密部门" not in content


def test_department_create_via_page(world, login):
    client = login(world.admin_a)
    response = client.post(
        reverse("crm:department-list"),
        {"name": "华南组", "parent": world.sales.pk, "leader": world.rep_west.pk},
    )
    assert response.status_code == 302
    assert response.url == reverse("crm:department-list")
    with tenant_scope(world.tenant_a.pk):
        dept = Department.objects.get(name="华南组")
        assert ActivityLog.objects.for_object(dept).get().action == activity.DEPARTMENT_CREATED
    assert dept.path == f"{world.sales.path}{dept.pk}/"
    assert dept.leader_id == world.rep_west.pk
    page = client.get(response.url).content.decode()
    assert "华南组" in page
    assert 'class="alert alert-success"' in page


def test_department_create_via_page_refused_without_name_answers_422(world, login):
    depts, logs = _count(Department, world.tenant_a.pk), _log_count(world.tenant_a.pk)
    response = login(world.admin_a).post(
        reverse("crm:department-list"), {"name": "", "parent": world.sales.pk}
    )
    assert response.status_code == 422
    assert in_page("This field is required.") in response.content.decode()
    assert _count(Department, world.tenant_a.pk) == depts
    assert _log_count(world.tenant_a.pk) == logs


def test_department_create_via_page_duplicate_answers_422_with_reason(world, login):
    depts, logs = _count(Department, world.tenant_a.pk), _log_count(world.tenant_a.pk)
    response = login(world.admin_a).post(
        reverse("crm:department-list"), {"name": "华东组", "parent": world.sales.pk}
    )
    assert response.status_code == 422
    assert (
        in_page("A department with this name already exists at this level.")
        in response.content.decode()
    )
    assert _count(Department, world.tenant_a.pk) == depts
    assert _log_count(world.tenant_a.pk) == logs


def test_department_create_via_page_with_other_tenants_parent_answers_422(world, login):
    depts = _count(Department, world.tenant_a.pk)
    response = login(world.admin_a).post(
        reverse("crm:department-list"), {"name": "渗透组", "parent": world.admin_b.department_id}
    )
    assert response.status_code == 422
    assert _count(Department, world.tenant_a.pk) == depts
    assert _count(Department, world.tenant_b.pk) == 1


def test_department_edit_via_page_renames(world, login):
    response = login(world.admin_a).post(
        reverse("crm:department-edit", args=[world.east.pk]),
        {"name": "华东一组", "leader": world.rep_east.pk},
    )
    assert response.status_code == 302
    world.east.refresh_from_db()
    assert (world.east.name, world.east.leader_id) == ("华东一组", world.rep_east.pk)


def test_department_edit_page_shows_its_activity(world, login, scoped):
    with scoped(world.admin_a):
        services.department_update(
            actor=world.admin_a, department=world.east, name="华东一组", leader=None
        )
    content = (
        login(world.admin_a)
        .get(reverse("crm:department-edit", args=[world.east.pk]))
        .content.decode()
    )
    assert "<del>华东组</del>" in content
    assert "<ins>华东一组</ins>" in content


def test_department_edit_via_page_duplicate_answers_422_and_writes_nothing(world, login):
    logs = _log_count(world.tenant_a.pk)
    response = login(world.admin_a).post(
        reverse("crm:department-edit", args=[world.east.pk]), {"name": "华西组"}
    )
    assert response.status_code == 422
    assert (
        in_page("A department with this name already exists at this level.")
        in response.content.decode()
    )
    world.east.refresh_from_db()
    assert world.east.name == "华东组"
    assert _log_count(world.tenant_a.pk) == logs


def test_department_edit_via_page_with_empty_name_answers_422(world, login):
    response = login(world.admin_a).post(
        reverse("crm:department-edit", args=[world.east.pk]), {"name": ""}
    )
    assert response.status_code == 422
    assert in_page("This field is required.") in response.content.decode()
    world.east.refresh_from_db()
    assert world.east.name == "华东组"


def test_department_edit_of_other_tenants_department_is_404(world, login):
    response = login(world.admin_a).get(
        reverse("crm:department-edit", args=[world.admin_b.department_id])
    )
    assert response.status_code == 404


def test_department_move_via_page_rewrites_subtree(world, login):
    response = login(world.admin_a).post(
        reverse("crm:department-move", args=[world.sales.pk]), {"parent": world.service.pk}
    )
    assert response.status_code == 302
    assert response.url == reverse("crm:department-list")
    world.east.refresh_from_db()
    assert world.east.path == f"{world.service.path}{world.sales.pk}/{world.east.pk}/"


def test_department_move_via_page_under_own_subtree_is_refused(world, login):
    client = login(world.admin_a)
    response = client.post(
        reverse("crm:department-move", args=[world.sales.pk]), {"parent": world.east.pk}
    )
    assert response.status_code == 302
    assert response.url == reverse("crm:department-edit", args=[world.sales.pk])
    assert _messages(response) == [in_page("Choose a valid parent department.")]
    world.sales.refresh_from_db()
    assert world.sales.parent_id == world.head_office.pk


def test_department_move_via_page_duplicate_shows_reason(world, login):
    make_department(world.tenant_a, "华东组", world.service)
    response = login(world.admin_a).post(
        reverse("crm:department-move", args=[world.east.pk]), {"parent": world.service.pk}
    )
    assert response.url == reverse("crm:department-edit", args=[world.east.pk])
    assert _messages(response) == [
        in_page("A department with this name already exists at this level.")
    ]


def test_department_toggle_via_page_refused_with_active_users(world, login):
    response = login(world.admin_a).post(
        reverse("crm:department-toggle", args=[world.east.pk]), follow=True
    )
    assert response.status_code == 200
    assert (
        in_page("Move or deactivate the department's active users first.")
        in response.content.decode()
    )
    world.east.refresh_from_db()
    assert world.east.is_active


def test_department_toggle_via_page_disables_and_enables(world, login):
    dept = make_department(world.tenant_a, "研发部")
    client = login(world.admin_a)
    client.post(reverse("crm:department-toggle", args=[dept.pk]))
    dept.refresh_from_db()
    assert not dept.is_active
    client.post(reverse("crm:department-toggle", args=[dept.pk]))
    dept.refresh_from_db()
    assert dept.is_active


# ---------------------------------------------------------------- users


def test_user_list_shows_own_tenant_users_only(world, login):
    content = login(world.admin_a).get(reverse("crm:user-list")).content.decode()
    for username in ("admin_a", "manager_sales", "rep_east", "rep_east2", "rep_west", "service_a"):
        assert f"<td>{username}</td>" in content
    assert "rep_b" not in content
    assert "admin_b" not in content


def test_user_list_filters_by_department_subtree_and_status(world, login):
    world.rep_east2.is_active = False
    world.rep_east2.save(update_fields=["is_active"])
    client = login(world.admin_a)
    content = client.get(
        reverse("crm:user-list"), {"department": world.sales.pk, "status": "active"}
    ).content.decode()
    shown = set(re.findall(r"<td>([a-z0-9_]+)</td>", content))
    assert shown == {"manager_sales", "rep_east", "rep_west"}
    content = client.get(reverse("crm:user-list"), {"q": "east"}).content.decode()
    assert set(re.findall(r"<td>([a-z0-9_]+)</td>", content)) == {"rep_east", "rep_east2"}


def _user_list_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_user_list_runs_a_fixed_number_of_queries(db, login):
    tenant = TenantFactory(name="丙公司", slug="gamma")
    with tenant_scope(tenant.pk):
        roles = list(Role.objects.filter(tenant=tenant))
    depts = [make_department(tenant, f"部门{i}") for i in range(3)]
    admin = make_user(tenant, "admin_c", role=Role.Builtin.ADMIN, department=depts[0])

    def add_users(start, stop):
        for i in range(start, stop):
            make_user(
                tenant,
                f"user_c{i}",
                role=roles[i % len(roles)],
                department=depts[i % len(depts)],
                manager=admin if i % 2 else None,
                mobile=f"1390000{i:04d}",
            )

    add_users(0, 2)
    client = login(admin)
    url = reverse("crm:user-list")
    client.get(url)  # warm up session and caches
    with tenant_scope(tenant.pk):
        assert User.tenant_objects.count() == 3
    few = _user_list_queries(client, url)
    add_users(2, 29)
    with tenant_scope(tenant.pk):
        assert User.tenant_objects.count() == 30
    many = _user_list_queries(client, url)
    assert few == many
    assert client.get(url).content.decode().count('href="/settings/users/') >= 25


def test_user_create_via_page_shows_password_once_and_it_signs_in(world, login, client):
    admin_client = login(world.admin_a)
    response = admin_client.post(
        reverse("crm:user-create"),
        {
            "username": "newbie",
            "name": "新人",
            "mobile": "+86 138-0013-8000",
            "department": world.east.pk,
            "role": world.rep_east.role_id,
            "manager": world.manager_sales.pk,
            "password": "",
        },
    )
    # SECURITY: the generated password is in this response only (no redirect, no message
    # kept in the session), and the response may not be stored.
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert _messages(response) == []
    user = User.objects.get(username="newbie")
    assert (user.tenant_id, user.mobile, user.department_id) == (
        world.tenant_a.pk,
        "13800138000",
        world.east.pk,
    )
    assert user.must_change_password
    body = response.content.decode()
    candidates = [t for t in re.findall(r"[A-Za-z0-9]{12}", body) if user.check_password(t)]
    assert len(candidates) == 1
    password = candidates[0]
    # Never again: not on the next pages, not in the session.
    assert (
        password not in admin_client.get(reverse("crm:user-edit", args=[user.pk])).content.decode()
    )
    assert password not in admin_client.get(reverse("crm:user-list")).content.decode()
    assert password not in str(dict(admin_client.session))
    admin_client.logout()
    assert client.login(username="newbie", password=password)


def test_user_create_via_page_with_taken_username_answers_422(world, login):
    users, logs = User.objects.count(), _log_count(world.tenant_a.pk)
    response = login(world.admin_a).post(
        reverse("crm:user-create"), {"username": "rep_b", "name": "冒名"}
    )
    assert response.status_code == 422
    assert in_page("This username is already taken.") in response.content.decode()
    assert User.objects.count() == users
    assert _log_count(world.tenant_a.pk) == logs


def test_user_create_via_page_with_invalid_form_answers_422(world, login):
    users = User.objects.count()
    response = login(world.admin_a).post(
        reverse("crm:user-create"), {"username": "newbie", "name": "", "email": "not-an-email"}
    )
    assert response.status_code == 422
    content = response.content.decode()
    assert in_page("This field is required.") in content
    assert in_page("Enter a valid email address.") in content
    assert User.objects.count() == users


def test_user_create_via_page_with_weak_password_answers_422(world, login):
    users = User.objects.count()
    response = login(world.admin_a).post(
        reverse("crm:user-create"), {"username": "newbie", "name": "新人", "password": "123"}
    )
    assert response.status_code == 422
    assert 'class="alert alert-error"' in response.content.decode()
    assert User.objects.count() == users


def test_user_create_via_page_with_other_tenants_role_answers_422(world, login):
    users = User.objects.count()
    response = login(world.admin_a).post(
        reverse("crm:user-create"),
        {"username": "newbie", "name": "新人", "role": world.admin_b.role_id},
    )
    assert response.status_code == 422
    assert User.objects.count() == users


def test_user_edit_via_page_changes_role_and_notifies(world, login):
    manager_role = _role(world, Role.Builtin.SALES_MANAGER)
    response = login(world.admin_a).post(
        reverse("crm:user-edit", args=[world.rep_east.pk]),
        {
            "username": "rep_east",
            "name": "王东",
            "mobile": "13700000003",
            "email": "",
            "title": "",
            "department": world.east.pk,
            "role": manager_role.pk,
            "manager": world.manager_sales.pk,
        },
    )
    assert response.status_code == 302
    assert response.url == reverse("crm:user-edit", args=[world.rep_east.pk])
    user = User.objects.get(pk=world.rep_east.pk)
    assert (user.name, user.role_id) == ("王东", manager_role.pk)
    with tenant_scope(world.tenant_a.pk):
        [note] = Notification.objects.filter(recipient=user)
        [entry] = ActivityLog.objects.for_object(user)
    assert manager_role.name in note.title
    assert entry.changes == {"name": ["rep_east", "王东"], "role": ["销售代表", "销售经理"]}


def test_user_edit_via_page_with_invalid_form_answers_422_and_writes_nothing(world, login):
    logs = _log_count(world.tenant_a.pk)
    response = login(world.admin_a).post(
        reverse("crm:user-edit", args=[world.rep_east.pk]),
        {"username": "", "name": "王东", "email": "bad"},
    )
    assert response.status_code == 422
    content = response.content.decode()
    assert in_page("This field is required.") in content
    assert in_page("Enter a valid email address.") in content
    assert User.objects.get(pk=world.rep_east.pk).name == "rep_east"
    assert _log_count(world.tenant_a.pk) == logs


def test_user_edit_via_page_refused_for_last_admin_answers_422(world, login):
    rep_role = _role(world, Role.Builtin.SALES_REP)
    logs = _log_count(world.tenant_a.pk)
    response = login(world.admin_a).post(
        reverse("crm:user-edit", args=[world.admin_a.pk]),
        {
            "username": "admin_a",
            "name": "admin_a",
            "mobile": "13700000001",
            "department": world.head_office.pk,
            "role": rep_role.pk,
        },
    )
    assert response.status_code == 422
    assert (
        in_page("At least one active user must keep the permission to manage users.")
        in response.content.decode()
    )
    assert User.objects.get(pk=world.admin_a.pk).role.builtin == Role.Builtin.ADMIN
    assert _log_count(world.tenant_a.pk) == logs


def test_user_edit_of_other_tenants_user_is_404(world, login):
    client = login(world.admin_a)
    assert client.get(reverse("crm:user-edit", args=[world.rep_b.pk])).status_code == 404
    response = client.post(reverse("crm:user-toggle", args=[world.rep_b.pk]))
    assert response.status_code == 404
    assert User.objects.get(pk=world.rep_b.pk).is_active


def test_user_toggle_via_page_deactivates_and_blocks_sign_in(world, login, client):
    response = login(world.admin_a).post(reverse("crm:user-toggle", args=[world.rep_east.pk]))
    assert response.status_code == 302
    assert not User.objects.get(pk=world.rep_east.pk).is_active
    client.logout()
    assert not client.login(username="rep_east", password=PASSWORD)


def test_user_toggle_via_page_of_self_shows_reason(world, login):
    response = login(world.admin_a).post(reverse("crm:user-toggle", args=[world.admin_a.pk]))
    assert response.status_code == 302
    assert _messages(response) == [in_page("You cannot deactivate yourself.")]
    assert User.objects.get(pk=world.admin_a.pk).is_active


def test_user_reset_password_via_page_shows_new_password_that_works(world, login, client):
    admin_client = login(world.admin_a)
    response = admin_client.post(reverse("crm:user-reset-password", args=[world.rep_east.pk]))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert _messages(response) == []
    user = User.objects.get(pk=world.rep_east.pk)
    body = response.content.decode()
    candidates = [t for t in re.findall(r"[A-Za-z0-9]{12}", body) if user.check_password(t)]
    assert len(candidates) == 1
    edit_page = admin_client.get(reverse("crm:user-edit", args=[user.pk])).content.decode()
    assert candidates[0] not in edit_page
    assert candidates[0] not in str(dict(admin_client.session))
    client.logout()
    assert not client.login(username="rep_east", password=PASSWORD)
    assert client.login(username="rep_east", password=candidates[0])


# ---------------------------------------------------------------- roles


def test_role_create_via_page_with_permission_checkboxes(world, login):
    client = login(world.admin_a)
    form_page = client.get(reverse("crm:role-create")).content.decode()
    assert 'type="checkbox" name="permissions" value="reports.view"' in form_page
    response = client.post(
        reverse("crm:role-create"),
        {
            "name": "区域经理",
            "description": "管一片",
            "data_scope": DataScope.DEPARTMENT,
            "permissions": ["customer.export", "reports.view"],
        },
    )
    assert response.status_code == 302
    assert response.url == reverse("crm:role-list")
    with tenant_scope(world.tenant_a.pk):
        role = Role.objects.get(name="区域经理")
        assert ActivityLog.objects.for_object(role).get().action == activity.ROLE_CREATED
    assert role.tenant_id == world.tenant_a.pk
    assert role.permissions == ["customer.export", "reports.view"]
    assert role.data_scope == DataScope.DEPARTMENT
    listing = client.get(reverse("crm:role-list")).content.decode()
    assert "区域经理" in listing


def test_role_edit_page_checks_current_permissions(world, login):
    role = make_role(world.tenant_a, "区域经理", DataScope.OWN, ["reports.view"])
    content = login(world.admin_a).get(reverse("crm:role-edit", args=[role.pk])).content.decode()
    assert re.search(
        r'<input type="checkbox" name="permissions" value="reports.view"[^>]*checked', content
    )
    assert not re.search(
        r'<input type="checkbox" name="permissions" value="customer.export"[^>]*checked', content
    )


def test_role_create_via_page_with_unknown_permission_answers_422(world, login):
    roles, logs = _count(Role, world.tenant_a.pk), _log_count(world.tenant_a.pk)
    response = login(world.admin_a).post(
        reverse("crm:role-create"),
        {"name": "区域经理", "data_scope": DataScope.OWN, "permissions": ["customer.fly"]},
    )
    assert response.status_code == 422
    assert "customer.fly" in response.content.decode()  # "Select a valid choice. … is not one"
    assert _count(Role, world.tenant_a.pk) == roles
    assert _log_count(world.tenant_a.pk) == logs


def test_role_create_via_page_without_data_scope_answers_422(world, login):
    roles = _count(Role, world.tenant_a.pk)
    response = login(world.admin_a).post(reverse("crm:role-create"), {"name": "区域经理"})
    assert response.status_code == 422
    assert in_page("This field is required.") in response.content.decode()
    assert _count(Role, world.tenant_a.pk) == roles


def test_role_create_via_page_duplicate_answers_422_with_reason(world, login):
    roles = _count(Role, world.tenant_a.pk)
    response = login(world.admin_a).post(
        reverse("crm:role-create"), {"name": "销售代表", "data_scope": DataScope.OWN}
    )
    assert response.status_code == 422
    assert in_page("A role with this name already exists.") in response.content.decode()
    assert _count(Role, world.tenant_a.pk) == roles


def test_role_edit_via_page_updates_permissions(world, login):
    role = make_role(world.tenant_a, "区域经理", DataScope.OWN, ["reports.view"])
    response = login(world.admin_a).post(
        reverse("crm:role-edit", args=[role.pk]),
        {"name": "区域经理", "data_scope": DataScope.ALL, "permissions": ["customer.import"]},
    )
    assert response.status_code == 302
    role.refresh_from_db()
    assert (role.permissions, role.data_scope) == (["customer.import"], DataScope.ALL)


def test_role_edit_via_page_removing_last_users_manage_answers_422(world, login):
    admin_role = world.admin_a.role
    response = login(world.admin_a).post(
        reverse("crm:role-edit", args=[admin_role.pk]),
        {"name": admin_role.name, "data_scope": DataScope.ALL, "permissions": ["settings.manage"]},
    )
    assert response.status_code == 422
    assert (
        in_page("At least one active user must keep the permission to manage users.")
        in response.content.decode()
    )
    admin_role.refresh_from_db()
    assert "users.manage" in admin_role.permissions


def test_role_delete_via_page_deletes_unused_role(world, login):
    role = make_role(world.tenant_a, "临时角色", DataScope.OWN)
    response = login(world.admin_a).post(reverse("crm:role-delete", args=[role.pk]))
    assert response.status_code == 302
    assert response.url == reverse("crm:role-list")
    with tenant_scope(world.tenant_a.pk):
        assert not Role.objects.filter(pk=role.pk).exists()


def test_role_delete_via_page_of_role_in_use_shows_reason(world, login):
    role_id = world.rep_east.role_id
    response = login(world.admin_a).post(reverse("crm:role-delete", args=[role_id]))
    assert response.status_code == 302
    assert response.url == reverse("crm:role-edit", args=[role_id])
    assert _messages(response) == [
        in_page("The role is still given to users; give them another role first.")
    ]
    with tenant_scope(world.tenant_a.pk):
        assert Role.objects.filter(pk=role_id).exists()


def test_role_edit_of_other_tenants_role_is_404(world, login):
    response = login(world.admin_a).post(
        reverse("crm:role-edit", args=[world.admin_b.role_id]),
        {"name": "x", "data_scope": DataScope.OWN},
    )
    assert response.status_code == 404


# ---------------------------------------------------------------- option lists


def _option_labels(world, kind=OptionKind.CUSTOMER_SOURCE):
    with tenant_scope(world.tenant_a.pk):
        return list(
            Option.objects.filter(tenant=world.tenant_a, kind=kind)
            .order_by("sort_order", "id")
            .values_list("label", flat=True)
        )


def test_option_list_shows_the_chosen_list(world, login):
    client = login(world.admin_a)
    content = client.get(reverse("crm:option-list")).content.decode()
    assert 'value="展会"' in content
    content = client.get(reverse("crm:option-list"), {"kind": OptionKind.INDUSTRY}).content.decode()
    assert 'value="工程机械"' in content
    assert 'value="展会"' not in content


def test_option_add_via_htmx_returns_the_list_fragment(world, login):
    response = login(world.admin_a).post(
        reverse("crm:option-list") + f"?kind={OptionKind.CUSTOMER_SOURCE}",
        {"kind": OptionKind.CUSTOMER_SOURCE, "label": "抖音"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert "<html" not in content
    assert content.lstrip().startswith('<section class="card" id="options">')
    assert 'value="抖音"' in content
    assert _option_labels(world)[-1] == "抖音"
    with tenant_scope(world.tenant_a.pk):
        assert ActivityLog.objects.filter(action=activity.OPTION_CREATED).count() == 1


def test_option_add_without_htmx_redirects_to_the_list(world, login):
    response = login(world.admin_a).post(
        reverse("crm:option-list"), {"kind": OptionKind.INDUSTRY, "label": "新能源"}
    )
    assert response.status_code == 302
    assert response.url == f"{reverse('crm:option-list')}?kind={OptionKind.INDUSTRY}"
    assert _option_labels(world, OptionKind.INDUSTRY)[-1] == "新能源"


def test_option_add_via_htmx_duplicate_answers_422_fragment_with_reason(world, login):
    before, logs = _option_labels(world), _log_count(world.tenant_a.pk)
    response = login(world.admin_a).post(
        reverse("crm:option-list"),
        {"kind": OptionKind.CUSTOMER_SOURCE, "label": "展会"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    content = response.content.decode()
    assert "<html" not in content
    assert 'id="options"' in content
    assert in_page("This option already exists in the list.") in content
    assert _option_labels(world) == before
    assert _log_count(world.tenant_a.pk) == logs


def test_option_add_via_htmx_empty_label_answers_422_fragment(world, login):
    before = _option_labels(world)
    response = login(world.admin_a).post(
        reverse("crm:option-list"),
        {"kind": OptionKind.CUSTOMER_SOURCE, "label": ""},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    content = response.content.decode()
    assert "<html" not in content
    assert in_page("This field is required.") in content
    assert _option_labels(world) == before


def test_option_add_without_htmx_invalid_answers_422_full_page(world, login):
    response = login(world.admin_a).post(
        reverse("crm:option-list"), {"kind": OptionKind.CUSTOMER_SOURCE, "label": "展会"}
    )
    assert response.status_code == 422
    content = response.content.decode()
    assert "<html" in content
    assert in_page("This option already exists in the list.") in content


def test_option_edit_via_htmx_renames_and_deactivates(world, login):
    option = _source_option(world, "广告")
    response = login(world.admin_a).post(
        reverse("crm:option-edit", args=[option.pk]), {"label": "户外广告"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert 'value="户外广告"' in response.content.decode()
    option.refresh_from_db()
    assert (option.label, option.is_active) == ("户外广告", False)


def test_option_move_via_htmx_reorders_the_list(world, login):
    option = _source_option(world, "展会")
    response = login(world.admin_a).post(
        reverse("crm:option-move", args=[option.pk]), {"direction": "up"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert content.index('value="展会"') < content.index('value="网络推广"')
    assert _option_labels(world)[:3] == ["电话营销", "展会", "网络推广"]


def test_option_edit_of_other_tenants_option_is_404(world, login):
    with tenant_scope(world.tenant_b.pk):
        b_option = Option.objects.get(
            tenant=world.tenant_b, kind=OptionKind.CUSTOMER_SOURCE, label="展会"
        )
    response = login(world.admin_a).post(
        reverse("crm:option-edit", args=[b_option.pk]), {"label": "被改了", "is_active": "on"}
    )
    assert response.status_code == 404
    b_option.refresh_from_db()
    assert b_option.label == "展会"


# ---------------------------------------------------------------- audit log


def test_audit_log_lists_own_tenant_entries_and_searches(world, login, scoped):
    with scoped(world.admin_a):
        services.department_create(actor=world.admin_a, name="研发部")
        services.department_create(actor=world.admin_a, name="市场部")
    with scoped(world.admin_b):
        services.department_create(actor=world.admin_b, name="乙方机密部")
    client = login(world.admin_a)
    content = client.get(reverse("crm:audit-log")).content.decode()
    assert "<em>研发部</em>" in content
    assert "<em>市场部</em>" in content
    assert "乙方机密部" not in content
    content = client.get(reverse("crm:audit-log"), {"q": "研发"}).content.decode()
    assert "<em>研发部</em>" in content
    assert "<em>市场部</em>" not in content


# ---------------------------------------------------------------- own password


def test_password_change_via_page_keeps_session_and_new_password_works(world, login, client):
    c = login(world.rep_east)
    assert c.get(reverse("crm:password-change")).status_code == 200
    response = c.post(
        reverse("crm:password-change"),
        {
            "old_password": PASSWORD,
            "new_password": "Quiet-Lagoon-77",
            "new_password2": "Quiet-Lagoon-77",
        },
    )
    assert response.status_code == 302
    assert response.url == reverse("crm:workbench")
    assert c.get(reverse("crm:workbench")).status_code == 200  # still signed in
    c.logout()
    assert not client.login(username="rep_east", password=PASSWORD)
    assert client.login(username="rep_east", password="Quiet-Lagoon-77")


def test_password_change_via_page_with_mismatch_answers_422(world, login):
    response = login(world.rep_east).post(
        reverse("crm:password-change"),
        {
            "old_password": PASSWORD,
            "new_password": "Quiet-Lagoon-77",
            "new_password2": "Quiet-Lagoon-78",
        },
    )
    assert response.status_code == 422
    assert in_page("The two passwords are not the same.") in response.content.decode()
    assert User.objects.get(pk=world.rep_east.pk).check_password(PASSWORD)


def test_password_change_via_page_with_wrong_current_password_answers_422(world, login):
    logs = _log_count(world.tenant_a.pk)
    response = login(world.rep_east).post(
        reverse("crm:password-change"),
        {
            "old_password": "nope",
            "new_password": "Quiet-Lagoon-77",
            "new_password2": "Quiet-Lagoon-77",
        },
    )
    assert response.status_code == 422
    assert in_page("The current password is not correct.") in response.content.decode()
    assert User.objects.get(pk=world.rep_east.pk).check_password(PASSWORD)
    assert _log_count(world.tenant_a.pk) == logs
