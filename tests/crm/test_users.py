"""User services: create, update, (de)activate, password reset and change, with every refusal
asserted by its exact code."""

from __future__ import annotations

import pytest
from django.urls import reverse

from crm import activity, services
from crm.exceptions import NotFoundError, PermissionRefusedError, ServiceError
from crm.models import ActivityLog, Notification, Role, User
from tests.factories import PASSWORD, make_department, make_role, make_user


def _role(tenant, builtin):
    return Role.objects.get(tenant=tenant, builtin=builtin)


def _logs(obj, action=None):
    qs = ActivityLog.objects.for_object(obj)
    return list(qs.filter(action=action) if action else qs)


def _user_count():
    return User.tenant_objects.count()


def _create(actor, **kwargs):
    data = {"username": "newbie", "name": "新人"}
    data.update(kwargs)
    return services.user_create(actor=actor, **data)


def _update_kwargs(user, **overrides):
    data = {
        "username": user.username,
        "name": user.name,
        "mobile": user.mobile,
        "email": user.email,
        "title": user.title,
        "department": user.department,
        "role": user.role,
        "manager": user.manager,
    }
    data.update(overrides)
    return data


# ---------------------------------------------------------------- user_create


def test_user_create_returns_generated_password_that_signs_in(world, scoped, client):
    with scoped(world.admin_a):
        user, password = _create(world.admin_a, department=world.east)
    assert len(password) == 12
    assert user.check_password(password)
    assert client.login(username="newbie", password=password)
    # Signed in, and sent to choose a password of their own first.
    assert User.objects.get(pk=user.pk).must_change_password
    response = client.get(reverse("crm:workbench"))
    assert response.status_code == 302
    assert response.url == reverse("crm:password-change")
    assert client.get(response.url).wsgi_request.user.pk == user.pk


def test_user_create_generates_a_different_password_each_time(world, scoped):
    with scoped(world.admin_a):
        _u1, pw1 = _create(world.admin_a, username="one")
        _u2, pw2 = _create(world.admin_a, username="two")
    assert pw1 != pw2
    # No look-alike characters in generated passwords.
    assert not set(pw1 + pw2) & set("0O1lI")


def test_user_create_uses_the_given_password(world, scoped, client):
    with scoped(world.admin_a):
        _user, password = _create(world.admin_a, password="Blue-Harbour-42")
    assert password == "Blue-Harbour-42"
    assert client.login(username="newbie", password="Blue-Harbour-42")


def test_user_create_puts_user_in_actors_tenant_with_links(world, scoped):
    with scoped(world.admin_a):
        role = _role(world.tenant_a, Role.Builtin.SALES_REP)
        user, _pw = _create(
            world.admin_a,
            name="  新人  ",
            email=" n@example.com ",
            title="销售",
            department=world.east,
            role=role,
            manager=world.manager_sales,
        )
    user = User.objects.get(pk=user.pk)
    assert user.tenant_id == world.tenant_a.pk
    assert (user.name, user.email, user.title) == ("新人", "n@example.com", "销售")
    assert (user.department_id, user.role_id, user.manager_id) == (
        world.east.pk,
        role.pk,
        world.manager_sales.pk,
    )
    assert user.is_active


def test_user_create_normalises_mobile_with_country_code_and_dashes(world, scoped):
    with scoped(world.admin_a):
        user, _pw = _create(world.admin_a, mobile="+86 138-0013-8000")
    assert User.objects.get(pk=user.pk).mobile == "13800138000"


def test_user_create_normalises_full_width_mobile(world, scoped):
    with scoped(world.admin_a):
        user, _pw = _create(world.admin_a, mobile="１３８００１３８０００")
    assert User.objects.get(pk=user.pk).mobile == "13800138000"


def test_user_create_user_can_sign_in_with_normalised_mobile(world, scoped, client):
    with scoped(world.admin_a):
        _create(world.admin_a, mobile="+86 138-0013-8000", password="Blue-Harbour-42")
    assert client.login(username="13800138000", password="Blue-Harbour-42")


def test_user_create_stores_empty_mobile_as_null(world, scoped):
    with scoped(world.admin_a):
        u1, _ = _create(world.admin_a, username="one", mobile="")
        u2, _ = _create(world.admin_a, username="two", mobile=None)
    assert User.objects.get(pk=u1.pk).mobile is None
    assert User.objects.get(pk=u2.pk).mobile is None


def test_user_create_writes_activity_with_fields_but_no_password(world, scoped):
    with scoped(world.admin_a):
        role = _role(world.tenant_a, Role.Builtin.SALES_REP)
        user, password = _create(
            world.admin_a,
            mobile="+86 138-0013-8000",
            department=world.east,
            role=role,
            manager=world.manager_sales,
        )
        [entry] = _logs(user)
    assert entry.action == activity.USER_CREATED
    assert entry.actor_id == world.admin_a.pk
    assert entry.tenant_id == world.tenant_a.pk
    assert entry.changes == {
        "username": ["", "newbie"],
        "name": ["", "新人"],
        "mobile": ["", "13800138000"],
        "department": ["", "华东组"],
        "role": ["", "销售代表"],
        "manager": ["", "manager_sales"],
    }
    assert password not in str(entry.changes)


@pytest.mark.parametrize("persona", ["rep_east", "manager_sales"])
def test_user_create_refused_without_users_manage(world, scoped, persona):
    actor = getattr(world, persona)
    with scoped(actor):
        before = _user_count()
        with pytest.raises(PermissionRefusedError) as exc:
            _create(actor)
        assert _user_count() == before
    assert exc.value.code == "permission"


def test_user_create_refused_without_username(world, scoped):
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        _create(world.admin_a, username="  ")
    assert exc.value.code == "required"


def test_user_create_refused_for_username_taken_in_same_tenant(world, scoped):
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        _create(world.admin_a, username="rep_east")
    assert exc.value.code == "username_taken"


@pytest.mark.parametrize("username", ["rep_b", "REP_B", " rep_b "])
def test_user_create_refused_for_username_taken_in_other_tenant(world, scoped, username):
    with scoped(world.admin_a):
        before = _user_count()
        with pytest.raises(ServiceError) as exc:
            _create(world.admin_a, username=username)
        assert _user_count() == before
    assert exc.value.code == "username_taken"


def test_user_create_refused_for_mobile_taken_in_same_tenant(world, scoped):
    # rep_east has 13700000003; the same number typed differently is still the same number.
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        _create(world.admin_a, mobile="+86 137-0000-0003")
    assert exc.value.code == "mobile_taken"


def test_user_create_allows_a_mobile_of_another_tenant(world, scoped):
    # A mobile is unique per company only (sign-in then asks for the username: crm.auth).
    world.rep_b.mobile = "13900000009"
    world.rep_b.save(update_fields=["mobile"])
    with scoped(world.admin_a):
        user, _pw = _create(world.admin_a, mobile="139 0000 0009")
    assert user.mobile == "13900000009"


@pytest.mark.parametrize("mobile", ["12345", "23800138000", "138001380001", "abc"])
def test_user_create_refused_for_invalid_mobile(world, scoped, mobile):
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        _create(world.admin_a, mobile=mobile)
    assert exc.value.code == "invalid_mobile"


@pytest.mark.parametrize("link", ["department", "role", "manager"])
def test_user_create_refused_linking_other_tenants_rows(world, scoped, link):
    foreign = {
        "department": world.admin_b.department,
        "role": world.admin_b.role,
        "manager": world.admin_b,
    }[link]
    with scoped(world.admin_a):
        before = _user_count()
        with pytest.raises(NotFoundError) as exc:
            _create(world.admin_a, **{link: foreign})
        assert _user_count() == before
    assert exc.value.code == "not_found"


def test_user_create_refused_in_disabled_department(world, scoped):
    dept = make_department(world.tenant_a, "研发部")
    dept.is_active = False
    dept.save(update_fields=["is_active"])
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        _create(world.admin_a, department=dept)
    assert exc.value.code == "department_disabled"


def test_user_create_refused_with_deactivated_manager(world, scoped):
    world.manager_sales.is_active = False
    world.manager_sales.save(update_fields=["is_active"])
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        _create(world.admin_a, manager=world.manager_sales)
    assert exc.value.code == "inactive"


@pytest.mark.parametrize("password", ["short1", "password", "12345678901", "newbie"])
def test_user_create_refused_for_weak_password(world, scoped, password):
    with scoped(world.admin_a):
        before = _user_count()
        with pytest.raises(ServiceError) as exc:
            _create(world.admin_a, password=password)
        assert _user_count() == before
        assert not ActivityLog.objects.filter(action=activity.USER_CREATED).exists()
    assert exc.value.code == "weak_password"
    assert not User.objects.filter(username="newbie").exists()


# ---------------------------------------------------------------- user_update


def test_user_update_changes_fields_and_logs_the_differences(world, scoped):
    with scoped(world.admin_a):
        manager_role = _role(world.tenant_a, Role.Builtin.SALES_MANAGER)
        services.user_update(
            actor=world.admin_a,
            user=world.rep_east,
            **_update_kwargs(
                world.rep_east,
                name="王东",
                mobile="１３８００１３８０００",
                title="主管",
                department=world.west,
                role=manager_role,
                manager=world.admin_a,
            ),
        )
        [entry] = _logs(world.rep_east, activity.USER_UPDATED)
    user = User.objects.get(pk=world.rep_east.pk)
    assert (user.name, user.mobile, user.title) == ("王东", "13800138000", "主管")
    assert (user.department_id, user.role_id, user.manager_id) == (
        world.west.pk,
        manager_role.pk,
        world.admin_a.pk,
    )
    assert entry.actor_id == world.admin_a.pk
    assert entry.changes == {
        "name": ["rep_east", "王东"],
        "mobile": ["13700000003", "13800138000"],
        "title": ["", "主管"],
        "department": ["华东组", "华西组"],
        "role": ["销售代表", "销售经理"],
        "manager": ["manager_sales", "admin_a"],
    }


def test_user_update_without_changes_writes_no_activity(world, scoped):
    with scoped(world.admin_a):
        services.user_update(
            actor=world.admin_a, user=world.rep_east, **_update_kwargs(world.rep_east)
        )
        assert _logs(world.rep_east) == []
        assert not Notification.objects.filter(recipient=world.rep_east).exists()


def test_user_update_keeps_own_username_and_mobile(world, scoped):
    with scoped(world.admin_a):
        services.user_update(
            actor=world.admin_a,
            user=world.rep_east,
            **_update_kwargs(world.rep_east, username="REP_EAST", mobile="+86 137 0000 0003"),
        )
    user = User.objects.get(pk=world.rep_east.pk)
    assert (user.username, user.mobile) == ("REP_EAST", "13700000003")


def test_user_update_refused_for_username_of_other_user(world, scoped):
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.user_update(
            actor=world.admin_a,
            user=world.rep_east,
            **_update_kwargs(world.rep_east, username="rep_b"),
        )
    assert exc.value.code == "username_taken"
    assert User.objects.get(pk=world.rep_east.pk).username == "rep_east"


def test_user_update_refused_for_mobile_of_other_user(world, scoped):
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.user_update(
            actor=world.admin_a,
            user=world.rep_east2,
            **_update_kwargs(world.rep_east2, mobile="13700000003"),
        )
    assert exc.value.code == "mobile_taken"


def test_user_update_refused_when_manager_is_a_subordinate(world, scoped):
    # admin_a → manager_sales → rep_east: rep_east cannot become admin_a's manager.
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.user_update(
            actor=world.admin_a,
            user=world.admin_a,
            **_update_kwargs(world.admin_a, manager=world.rep_east),
        )
    assert exc.value.code == "cycle"
    assert User.objects.get(pk=world.admin_a.pk).manager_id is None


def test_user_update_refused_when_manager_is_the_user(world, scoped):
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.user_update(
            actor=world.admin_a,
            user=world.manager_sales,
            **_update_kwargs(world.manager_sales, manager=world.manager_sales),
        )
    assert exc.value.code == "cycle"


def test_user_update_allows_manager_outside_own_reporting_line(world, scoped):
    with scoped(world.admin_a):
        services.user_update(
            actor=world.admin_a,
            user=world.rep_east,
            **_update_kwargs(world.rep_east, manager=world.service_a),
        )
    assert User.objects.get(pk=world.rep_east.pk).manager_id == world.service_a.pk


def test_user_update_refused_removing_users_manage_from_last_admin(world, scoped):
    with scoped(world.admin_a):
        rep_role = _role(world.tenant_a, Role.Builtin.SALES_REP)
        with pytest.raises(ServiceError) as exc:
            services.user_update(
                actor=world.admin_a,
                user=world.admin_a,
                **_update_kwargs(world.admin_a, role=rep_role),
            )
        assert _logs(world.admin_a) == []
    assert exc.value.code == "last_admin"
    assert User.objects.get(pk=world.admin_a.pk).role.builtin == Role.Builtin.ADMIN


def test_user_update_refused_clearing_role_of_last_admin(world, scoped):
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.user_update(
            actor=world.admin_a, user=world.admin_a, **_update_kwargs(world.admin_a, role=None)
        )
    assert exc.value.code == "last_admin"


def test_user_update_allows_admin_role_change_when_another_admin_remains(world, scoped):
    make_user(world.tenant_a, "admin_a2", role=Role.Builtin.ADMIN, department=world.head_office)
    with scoped(world.admin_a):
        rep_role = _role(world.tenant_a, Role.Builtin.SALES_REP)
        services.user_update(
            actor=world.admin_a, user=world.admin_a, **_update_kwargs(world.admin_a, role=rep_role)
        )
    assert User.objects.get(pk=world.admin_a.pk).role_id == rep_role.pk


def test_user_update_allows_moving_last_admin_to_other_role_with_users_manage(world, scoped):
    custom = make_role(world.tenant_a, "人事", "own", ["users.manage"])
    with scoped(world.admin_a):
        services.user_update(
            actor=world.admin_a, user=world.admin_a, **_update_kwargs(world.admin_a, role=custom)
        )
    assert User.objects.get(pk=world.admin_a.pk).role_id == custom.pk


def test_user_update_role_change_notifies_the_user(world, scoped):
    with scoped(world.admin_a):
        manager_role = _role(world.tenant_a, Role.Builtin.SALES_MANAGER)
        services.user_update(
            actor=world.admin_a,
            user=world.rep_east,
            **_update_kwargs(world.rep_east, role=manager_role),
        )
        notes = list(Notification.objects.filter(recipient=world.rep_east))
        others = Notification.objects.exclude(recipient=world.rep_east).count()
    assert len(notes) == 1
    assert "销售经理" in notes[0].title
    assert notes[0].read_at is None
    assert notes[0].tenant_id == world.tenant_a.pk
    assert others == 0


def test_user_update_without_role_change_sends_no_notification(world, scoped):
    with scoped(world.admin_a):
        services.user_update(
            actor=world.admin_a, user=world.rep_east, **_update_kwargs(world.rep_east, name="王东")
        )
        assert not Notification.objects.filter(recipient=world.rep_east).exists()


def test_user_update_own_role_change_sends_no_notification(world, scoped):
    make_user(world.tenant_a, "admin_a2", role=Role.Builtin.ADMIN)
    with scoped(world.admin_a):
        rep_role = _role(world.tenant_a, Role.Builtin.SALES_REP)
        services.user_update(
            actor=world.admin_a, user=world.admin_a, **_update_kwargs(world.admin_a, role=rep_role)
        )
        assert not Notification.objects.exists()


@pytest.mark.parametrize("link", ["department", "role", "manager"])
def test_user_update_refused_linking_other_tenants_rows(world, scoped, link):
    foreign = {
        "department": world.admin_b.department,
        "role": world.admin_b.role,
        "manager": world.admin_b,
    }[link]
    with scoped(world.admin_a), pytest.raises(NotFoundError) as exc:
        services.user_update(
            actor=world.admin_a,
            user=world.rep_east,
            **_update_kwargs(world.rep_east, **{link: foreign}),
        )
    assert exc.value.code == "not_found"
    user = User.objects.get(pk=world.rep_east.pk)
    assert user.department_id == world.east.pk
    assert user.manager_id == world.manager_sales.pk


def test_user_update_refused_for_other_tenants_user(world, scoped):
    with scoped(world.admin_a), pytest.raises(NotFoundError) as exc:
        services.user_update(
            actor=world.admin_a,
            user=world.rep_b,
            **_update_kwargs(world.rep_b, name="hacked", department=None, role=None, manager=None),
        )
    assert exc.value.code == "not_found"
    assert User.objects.get(pk=world.rep_b.pk).name == "rep_b"


def test_user_update_refused_into_disabled_department(world, scoped):
    dept = make_department(world.tenant_a, "研发部")
    dept.is_active = False
    dept.save(update_fields=["is_active"])
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.user_update(
            actor=world.admin_a,
            user=world.rep_east,
            **_update_kwargs(world.rep_east, department=dept),
        )
    assert exc.value.code == "department_disabled"


def test_user_update_refused_with_deactivated_manager(world, scoped):
    world.service_a.is_active = False
    world.service_a.save(update_fields=["is_active"])
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.user_update(
            actor=world.admin_a,
            user=world.rep_east,
            **_update_kwargs(world.rep_east, manager=world.service_a),
        )
    assert exc.value.code == "inactive"


def test_user_update_refused_without_users_manage(world, scoped):
    with scoped(world.manager_sales), pytest.raises(PermissionRefusedError) as exc:
        services.user_update(
            actor=world.manager_sales,
            user=world.rep_east,
            **_update_kwargs(world.rep_east, name="王东"),
        )
    assert exc.value.code == "permission"


# ---------------------------------------------------------------- user_set_active


def test_user_deactivate_blocks_sign_in_and_logs(world, scoped, client):
    with scoped(world.admin_a):
        services.user_set_active(actor=world.admin_a, user=world.rep_east, active=False)
        [entry] = _logs(world.rep_east)
    assert not User.objects.get(pk=world.rep_east.pk).is_active
    assert entry.action == activity.USER_DEACTIVATED
    assert entry.actor_id == world.admin_a.pk
    assert not client.login(username="rep_east", password=PASSWORD)
    response = client.post(reverse("login"), {"username": "rep_east", "password": PASSWORD})
    assert response.status_code == 200
    assert not response.wsgi_request.user.is_authenticated
    assert "_auth_user_id" not in client.session


def test_user_deactivate_ends_an_open_session(world, scoped, login):
    client = login(world.rep_east)
    assert client.get(reverse("crm:workbench")).status_code == 200
    with scoped(world.admin_a):
        services.user_set_active(actor=world.admin_a, user=world.rep_east, active=False)
    response = client.get(reverse("crm:workbench"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_user_deactivate_refused_for_self(world, scoped):
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.user_set_active(actor=world.admin_a, user=world.admin_a, active=False)
    assert exc.value.code == "self"
    assert User.objects.get(pk=world.admin_a.pk).is_active


def test_user_deactivate_refused_for_an_actor_deactivated_meanwhile(world, scoped):
    """The acting admin was deactivated meanwhile (another session): the service reads the
    actor again after the tenant lock, so a stale admin can no longer act, and deactivating
    the last active admin would lock the tenant out anyway."""
    admin2 = make_user(world.tenant_a, "admin_a2", role=Role.Builtin.ADMIN)
    assert admin2.can("users.manage")  # the request loaded admin2 while still active
    with scoped(world.admin_a):
        User.tenant_objects.filter(pk=admin2.pk).update(is_active=False)
        with pytest.raises(PermissionRefusedError):
            services.user_set_active(actor=admin2, user=world.admin_a, active=False)
        assert _logs(world.admin_a) == []
    assert User.objects.get(pk=world.admin_a.pk).is_active


def test_user_deactivate_allows_other_admin_when_actor_remains_admin(world, scoped):
    admin2 = make_user(world.tenant_a, "admin_a2", role=Role.Builtin.ADMIN)
    with scoped(world.admin_a):
        services.user_set_active(actor=world.admin_a, user=admin2, active=False)
    assert not User.objects.get(pk=admin2.pk).is_active


def test_user_reactivate_allows_sign_in_again_and_logs(world, scoped, client):
    with scoped(world.admin_a):
        services.user_set_active(actor=world.admin_a, user=world.rep_east, active=False)
        services.user_set_active(actor=world.admin_a, user=world.rep_east, active=True)
        actions = [e.action for e in _logs(world.rep_east)]
    assert actions == [activity.USER_ACTIVATED, activity.USER_DEACTIVATED]
    assert client.login(username="rep_east", password=PASSWORD)


def test_user_reactivate_refused_when_department_disabled(world, scoped):
    with scoped(world.admin_a):
        for rep in (world.rep_east, world.rep_east2):
            services.user_set_active(actor=world.admin_a, user=rep, active=False)
        services.department_set_active(actor=world.admin_a, department=world.east, active=False)
        rep = User.tenant_objects.get(pk=world.rep_east.pk)
        with pytest.raises(ServiceError) as exc:
            services.user_set_active(actor=world.admin_a, user=rep, active=True)
        assert not User.tenant_objects.get(pk=rep.pk).is_active
    assert exc.value.code == "department_disabled"


def test_user_set_active_to_current_state_writes_nothing(world, scoped):
    with scoped(world.admin_a):
        services.user_set_active(actor=world.admin_a, user=world.rep_east, active=True)
        assert _logs(world.rep_east) == []


def test_user_set_active_refused_for_other_tenants_user(world, scoped):
    with scoped(world.admin_a), pytest.raises(NotFoundError) as exc:
        services.user_set_active(actor=world.admin_a, user=world.rep_b, active=False)
    assert exc.value.code == "not_found"
    assert User.objects.get(pk=world.rep_b.pk).is_active


def test_user_set_active_refused_without_users_manage(world, scoped):
    with scoped(world.manager_sales), pytest.raises(PermissionRefusedError) as exc:
        services.user_set_active(actor=world.manager_sales, user=world.rep_east, active=False)
    assert exc.value.code == "permission"
    assert User.objects.get(pk=world.rep_east.pk).is_active


def test_deactivated_user_is_not_assignable(world, scoped):
    with scoped(world.admin_a):
        services.user_set_active(actor=world.admin_a, user=world.rep_east, active=False)
        ids = set(services.assignable_users(world.tenant_a.pk).values_list("pk", flat=True))
    assert world.rep_east.pk not in ids
    assert world.rep_east2.pk in ids
    assert world.rep_b.pk not in ids


# ---------------------------------------------------------------- passwords


def test_user_reset_password_new_works_old_does_not(world, scoped, client):
    with scoped(world.admin_a):
        password = services.user_reset_password(actor=world.admin_a, user=world.rep_east)
    assert len(password) == 12
    assert not client.login(username="rep_east", password=PASSWORD)
    assert client.login(username="rep_east", password=password)


def test_user_reset_password_notifies_user_and_logs_without_secret(world, scoped):
    with scoped(world.admin_a):
        password = services.user_reset_password(actor=world.admin_a, user=world.rep_east)
        [note] = Notification.objects.filter(recipient=world.rep_east)
        [entry] = _logs(world.rep_east)
    assert "admin_a" in note.title
    assert password not in note.title + note.body
    assert entry.action == activity.USER_PASSWORD_RESET
    assert entry.actor_id == world.admin_a.pk
    assert entry.changes == {}


def test_user_reset_own_password_sends_no_notification(world, scoped):
    with scoped(world.admin_a):
        services.user_reset_password(actor=world.admin_a, user=world.admin_a)
        assert not Notification.objects.exists()


def test_user_reset_password_refused_for_other_tenants_user(world, scoped, client):
    with scoped(world.admin_a), pytest.raises(NotFoundError) as exc:
        services.user_reset_password(actor=world.admin_a, user=world.rep_b)
    assert exc.value.code == "not_found"
    assert client.login(username="rep_b", password=PASSWORD)


def test_user_reset_password_refused_without_users_manage(world, scoped, client):
    with scoped(world.manager_sales), pytest.raises(PermissionRefusedError) as exc:
        services.user_reset_password(actor=world.manager_sales, user=world.rep_east)
    assert exc.value.code == "permission"
    assert client.login(username="rep_east", password=PASSWORD)


def test_user_change_own_password_new_works_old_does_not(world, scoped, client):
    with scoped(world.rep_east):
        services.user_change_own_password(
            actor=world.rep_east, old_password=PASSWORD, new_password="Quiet-Lagoon-77"
        )
        [entry] = _logs(world.rep_east)
    assert entry.action == activity.USER_PASSWORD_CHANGED
    assert entry.actor_id == world.rep_east.pk
    assert entry.changes == {}
    assert not client.login(username="rep_east", password=PASSWORD)
    assert client.login(username="rep_east", password="Quiet-Lagoon-77")


def test_user_change_own_password_refused_for_wrong_current_password(world, scoped, client):
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.user_change_own_password(
            actor=world.rep_east, old_password="not-it", new_password="Quiet-Lagoon-77"
        )
    assert exc.value.code == "wrong_password"
    assert client.login(username="rep_east", password=PASSWORD)


@pytest.mark.parametrize("new_password", ["short1", "password", "98765432101", "rep_east"])
def test_user_change_own_password_refused_for_weak_password(world, scoped, client, new_password):
    with scoped(world.rep_east):
        with pytest.raises(ServiceError) as exc:
            services.user_change_own_password(
                actor=world.rep_east, old_password=PASSWORD, new_password=new_password
            )
        assert _logs(world.rep_east) == []
    assert exc.value.code == "weak_password"
    assert client.login(username="rep_east", password=PASSWORD)


def test_user_update_keeps_an_inactive_users_disabled_department(world, scoped):
    """Editing a deactivated member of a disabled department must not force a move."""
    from crm.models import Department, User

    with scoped(world.admin_a):
        services.user_set_active(actor=world.admin_a, user=world.service_a, active=False)
        services.department_set_active(actor=world.admin_a, department=world.service, active=False)
        target = User.tenant_objects.get(pk=world.service_a.pk)
        services.user_update(
            actor=world.admin_a,
            user=target,
            username=target.username,
            name="改名",
            mobile=None,
            email="",
            title="",
            department=Department.objects.get(pk=world.service.pk),
            role=target.role,
            manager=None,
        )
        assert User.tenant_objects.get(pk=target.pk).name == "改名"
