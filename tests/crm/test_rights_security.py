"""Rights inside a company (issue 15): a user manager gives only what they hold and manages
only users who hold no more than they do; a password set by someone else is shown once and
replaced at the next sign-in; the last user manager and the department tree survive
concurrent changes (PostgreSQL, real threads)."""

from __future__ import annotations

import contextlib
import re
import threading

import pytest
from django.conf import settings
from django.contrib.messages import get_messages
from django.db import connection
from django.urls import reverse
from django_scopes import scopes_disabled

from crm import services
from crm.exceptions import NotFoundError, ServiceError
from crm.models import ActivityLog, DataScope, Department, Notification, Role, User
from crm.tenancy import tenant_scope
from tests.factories import PASSWORD, make_role, make_user

# What the "user admin" persona holds: users.manage and two more codes, the department scope.
HELPDESK_CODES = ["users.manage", "customer.export", "lead.convert"]


@pytest.fixture
def helpdesk(world) -> User:
    """A user manager with fewer rights than the tenant admin: a few codes, the department
    data scope (narrower than the sales manager's ``department_and_below``)."""
    # Every right of the built-in sales rep (whatever the modules grant it) and users.manage:
    # the helpdesk may manage reps, not managers.
    with scopes_disabled():
        rep_codes = Role.objects.get(
            tenant=world.tenant_a, builtin=Role.Builtin.SALES_REP
        ).permissions
    codes = sorted({*HELPDESK_CODES, *rep_codes})
    role = make_role(world.tenant_a, "用户管理员", DataScope.DEPARTMENT, codes)
    return make_user(world.tenant_a, "helpdesk", role=role, department=world.head_office)


def _builtin(world, builtin) -> Role:
    with scopes_disabled():
        return Role.objects.get(tenant=world.tenant_a, builtin=builtin)


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


def _role_count(world) -> int:
    with scopes_disabled():
        return Role.objects.filter(tenant=world.tenant_a).count()


def _fresh(user) -> User:
    return User.objects.select_related("role").get(pk=user.pk)


# ---------------------------------------------------------------- roles: what may be given


def test_role_create_refused_for_a_permission_the_actor_lacks(world, scoped, helpdesk):
    before = _role_count(world)
    with scoped(helpdesk), pytest.raises(ServiceError) as exc:
        services.role_create(
            actor=helpdesk,
            name="删客户",
            permission_codes=["customer.export", "customer.delete"],
            data_scope=DataScope.OWN,
        )
    assert exc.value.code == "exceeds_own_rights"
    assert "customer.delete" not in str(exc.value.message)  # named by its label
    assert _role_count(world) == before


def test_role_create_refused_for_a_data_scope_wider_than_the_actors(world, scoped, helpdesk):
    before = _role_count(world)
    with scoped(helpdesk), pytest.raises(ServiceError) as exc:
        services.role_create(
            actor=helpdesk,
            name="全公司",
            permission_codes=["customer.export"],
            data_scope=DataScope.DEPARTMENT_AND_BELOW,
        )
    assert exc.value.code == "exceeds_own_scope"
    assert _role_count(world) == before


def test_role_create_allowed_within_the_actors_own_rights(world, scoped, helpdesk):
    with scoped(helpdesk):
        role = services.role_create(
            actor=helpdesk,
            name="导出员",
            permission_codes=["customer.export"],
            data_scope=DataScope.DEPARTMENT,
        )
    assert (role.permissions, role.data_scope) == (["customer.export"], DataScope.DEPARTMENT)


def test_role_update_refused_adding_a_permission_the_actor_lacks_to_own_role(
    world, scoped, helpdesk
):
    """Self-escalation through one's own role."""
    role = helpdesk.role
    with scoped(helpdesk), pytest.raises(ServiceError) as exc:
        services.role_update(
            actor=helpdesk,
            role=role,
            name=role.name,
            permission_codes=[*role.permissions, "audit.view"],
            data_scope=DataScope.ALL,
        )
    assert exc.value.code == "exceeds_own_rights"
    before = list(role.permissions)
    role.refresh_from_db()
    assert (role.permissions, role.data_scope) == (before, DataScope.DEPARTMENT)


def test_role_update_refused_for_a_role_holding_more_than_the_actor(world, scoped, helpdesk):
    """Even taking rights away: the admin role is changed only by someone who holds it."""
    admin_role = _builtin(world, Role.Builtin.ADMIN)
    codes = list(admin_role.permissions)
    with scoped(helpdesk), pytest.raises(ServiceError) as exc:
        services.role_update(
            actor=helpdesk,
            role=admin_role,
            name=admin_role.name,
            permission_codes=["customer.export"],
            data_scope=DataScope.OWN,
        )
    assert exc.value.code == "role_outranks_actor"
    admin_role.refresh_from_db()
    assert admin_role.permissions == codes
    assert world.admin_a.can("users.manage")


def test_role_delete_refused_for_a_role_holding_more_than_the_actor(world, scoped, helpdesk):
    strong = make_role(world.tenant_a, "删除员", DataScope.OWN, ["customer.delete"])
    with scoped(helpdesk), pytest.raises(ServiceError) as exc:
        services.role_delete(actor=helpdesk, role=strong)
    assert exc.value.code == "role_outranks_actor"
    with scopes_disabled():
        assert Role.objects.filter(pk=strong.pk).exists()


def test_role_update_of_a_role_deleted_meanwhile_is_not_found(world, scoped):
    """Another admin deleted it after this page loaded it: a 404, not a server error."""
    gone = make_role(world.tenant_a, "临时", DataScope.OWN, [])
    with scoped(world.admin_a):
        Role.objects.filter(pk=gone.pk).delete()
        with pytest.raises(NotFoundError):
            services.role_update(
                actor=world.admin_a,
                role=gone,
                name="临时",
                permission_codes=[],
                data_scope=DataScope.OWN,
            )
        with pytest.raises(NotFoundError):
            services.user_update(
                actor=world.admin_a,
                user=world.rep_east,
                **_update_kwargs(world.rep_east, role=gone),
            )
    assert _fresh(world.rep_east).role.builtin == Role.Builtin.SALES_REP


# ---------------------------------------------------------------- users: what may be given


def test_user_create_refused_with_a_role_beyond_the_actors_rights(world, scoped, helpdesk):
    before = User.objects.count()
    with scoped(helpdesk), pytest.raises(ServiceError) as exc:
        services.user_create(
            actor=helpdesk,
            username="mole",
            name="内鬼",
            role=_builtin(world, Role.Builtin.ADMIN),
        )
    assert exc.value.code == "role_exceeds_own_rights"
    assert User.objects.count() == before


def test_user_create_refused_with_a_role_of_wider_data_scope(world, scoped, helpdesk):
    """No permission at all, but the ``all`` data scope: wider than the helpdesk's."""
    wide = make_role(world.tenant_a, "全部只读", DataScope.ALL, [])
    with scoped(helpdesk), pytest.raises(ServiceError) as exc:
        services.user_create(actor=helpdesk, username="wide", name="宽", role=wide)
    assert exc.value.code == "role_exceeds_own_rights"
    assert not User.objects.filter(username="wide").exists()


def test_user_update_refused_giving_oneself_the_admin_role(world, scoped, helpdesk):
    admin_role = _builtin(world, Role.Builtin.ADMIN)
    with scoped(helpdesk), pytest.raises(ServiceError) as exc:
        services.user_update(
            actor=helpdesk, user=helpdesk, **_update_kwargs(helpdesk, role=admin_role)
        )
    assert exc.value.code == "role_exceeds_own_rights"
    assert _fresh(helpdesk).role.name == "用户管理员"


def test_user_update_allowed_for_a_user_within_the_actors_rights(world, scoped, helpdesk):
    rep = _builtin(world, Role.Builtin.SALES_REP)
    with scoped(helpdesk):
        services.user_update(
            actor=helpdesk, user=world.rep_east, **_update_kwargs(world.rep_east, title="组长")
        )
        services.user_create(actor=helpdesk, username="newrep", name="新代表", role=rep)
    assert _fresh(world.rep_east).title == "组长"
    assert _fresh(User.objects.get(username="newrep")).role == rep


@pytest.mark.parametrize("action", ["update", "deactivate", "reset_password"])
def test_user_with_more_rights_cannot_be_changed_by_the_actor(world, scoped, helpdesk, action):
    target = world.manager_sales  # department_and_below, codes the helpdesk lacks
    password = _fresh(target).password
    with scoped(helpdesk), pytest.raises(ServiceError) as exc:
        if action == "update":
            services.user_update(actor=helpdesk, user=target, **_update_kwargs(target, title="X"))
        elif action == "deactivate":
            services.user_set_active(actor=helpdesk, user=target, active=False)
        else:
            services.user_reset_password(actor=helpdesk, user=target)
    assert exc.value.code == "user_outranks_actor"
    after = _fresh(target)
    assert (after.title, after.is_active, after.password) == ("", True, password)
    assert not after.must_change_password
    with scopes_disabled():
        assert not ActivityLog.objects.filter(actor=helpdesk).exists()


def test_a_deactivated_admin_cannot_be_reactivated_by_a_lesser_manager(world, scoped, helpdesk):
    admin2 = make_user(world.tenant_a, "admin_a2", role=Role.Builtin.ADMIN, is_active=False)
    with scoped(helpdesk), pytest.raises(ServiceError) as exc:
        services.user_set_active(actor=helpdesk, user=admin2, active=True)
    assert exc.value.code == "user_outranks_actor"
    assert not _fresh(admin2).is_active


# ---------------------------------------------------------------- the pages


def test_role_form_offers_only_the_actors_codes_and_scopes(world, as_user, helpdesk):
    body = as_user(helpdesk).get(reverse("crm:role-create")).content.decode()
    assert 'value="customer.export"' in body
    assert 'value="customer.delete"' not in body
    assert 'value="department"' in body
    assert 'value="department_and_below"' not in body
    assert 'value="all"' not in body


def test_role_create_via_page_with_a_code_the_actor_lacks_answers_422(world, as_user, helpdesk):
    before = _role_count(world)
    response = as_user(helpdesk).post(
        reverse("crm:role-create"),
        {"name": "删客户", "data_scope": "own", "permissions": ["customer.delete"]},
    )
    assert response.status_code == 422
    assert _role_count(world) == before


def test_role_edit_page_of_a_stronger_role_offers_no_form(world, as_user, helpdesk):
    admin_role = _builtin(world, Role.Builtin.ADMIN)
    client = as_user(helpdesk)
    body = client.get(reverse("crm:role-edit", args=[admin_role.pk])).content.decode()
    assert "you can see it but not change it" in body
    assert 'name="permissions"' not in body
    response = client.post(
        reverse("crm:role-edit", args=[admin_role.pk]),
        {"name": "管理员", "data_scope": "own", "permissions": ["customer.export"]},
    )
    assert response.status_code == 422
    admin_role.refresh_from_db()
    assert "users.manage" in admin_role.permissions


def test_user_form_offers_only_roles_within_the_actors_rights(world, as_user, helpdesk):
    response = as_user(helpdesk).get(reverse("crm:user-create"))
    with scopes_disabled():
        offered = {r.name for r in response.context["form"].fields["role"].queryset}
    # Not the admin, not the sales manager (codes and a wider scope): the others.
    assert offered == {"销售代表", "售后专员", "用户管理员"}


def test_user_create_via_page_with_the_admin_role_answers_422(world, as_user, helpdesk):
    response = as_user(helpdesk).post(
        reverse("crm:user-create"),
        {"username": "mole", "name": "内鬼", "role": _builtin(world, Role.Builtin.ADMIN).pk},
    )
    assert response.status_code == 422
    assert not User.objects.filter(username="mole").exists()


def test_user_pages_of_a_stronger_user_refuse_every_change(world, as_user, helpdesk):
    client = as_user(helpdesk)
    target = world.admin_a
    password = _fresh(target).password
    body = client.get(reverse("crm:user-edit", args=[target.pk])).content.decode()
    assert "you can see this account but not change it" in body
    assert reverse("crm:user-reset-password", args=[target.pk]) not in body
    assert reverse("crm:user-toggle", args=[target.pk]) not in body
    edit = client.post(
        reverse("crm:user-edit", args=[target.pk]),
        {"username": "admin_a", "name": "改名", "role": helpdesk.role_id},
    )
    assert edit.status_code == 422
    reset = client.post(reverse("crm:user-reset-password", args=[target.pk]))
    assert reset.status_code == 302
    assert [m.level_tag for m in get_messages(reset.wsgi_request)] == ["error"]
    toggle = client.post(reverse("crm:user-toggle", args=[target.pk]))
    assert toggle.status_code == 302
    after = _fresh(target)
    assert (after.name, after.password, after.is_active) == ("admin_a", password, True)
    assert after.role.builtin == Role.Builtin.ADMIN


# ---------------------------------------------------------------- shown once, changed at once


def test_user_reset_password_sets_must_change_password(world, scoped):
    with scoped(world.admin_a):
        services.user_reset_password(actor=world.admin_a, user=world.rep_east)
    assert _fresh(world.rep_east).must_change_password


def test_user_create_with_generated_password_must_change_it(world, scoped):
    with scoped(world.admin_a):
        generated, _pw = services.user_create(actor=world.admin_a, username="gen", name="生成")
        chosen, _pw = services.user_create(
            actor=world.admin_a, username="chosen", name="指定", password="Blue-Harbour-42"
        )
    assert _fresh(generated).must_change_password
    assert not _fresh(chosen).must_change_password


def test_user_change_own_password_clears_the_flag(world, scoped):
    User.objects.filter(pk=world.rep_east.pk).update(must_change_password=True)
    rep = _fresh(world.rep_east)
    with scoped(rep):
        services.user_change_own_password(
            actor=rep, old_password=PASSWORD, new_password="Quiet-Lagoon-77"
        )
    assert not _fresh(rep).must_change_password


def test_user_change_own_password_refused_keeping_the_same_password(world, scoped):
    User.objects.filter(pk=world.rep_east.pk).update(must_change_password=True)
    rep = _fresh(world.rep_east)
    with scoped(rep), pytest.raises(ServiceError) as exc:
        services.user_change_own_password(actor=rep, old_password=PASSWORD, new_password=PASSWORD)
    assert exc.value.code == "same_password"
    assert _fresh(rep).must_change_password


@pytest.fixture
def must_change(world, as_user):
    """rep_east, signed in, with a password an admin set."""
    User.objects.filter(pk=world.rep_east.pk).update(must_change_password=True)
    return as_user(world.rep_east)


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/notifications/",
        "/customers/",
        "/settings/users/",
    ],
)
def test_a_user_who_must_change_password_is_sent_to_the_password_page(must_change, url):
    response = must_change.get(url)
    assert response.status_code == 302
    assert response.url == reverse("crm:password-change")


def test_a_post_of_a_user_who_must_change_password_changes_nothing(world, must_change):
    services.notification_send(tenant_id=world.tenant_a.pk, recipients=[world.rep_east], title="T")
    response = must_change.post(reverse("crm:notification-read-all"))
    assert response.status_code == 302
    assert response.url == reverse("crm:password-change")
    with scopes_disabled():
        assert Notification.objects.get(recipient=world.rep_east).read_at is None


def test_htmx_request_of_a_user_who_must_change_password_gets_hx_redirect(must_change):
    response = must_change.get(
        reverse("crm:notification-bell"), HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="/"
    )
    assert response.status_code == 204
    assert response["HX-Redirect"] == reverse("crm:password-change")


def test_htmx_poll_from_the_password_page_does_not_reload_it(must_change):
    page = f"http://testserver{reverse('crm:password-change')}"
    response = must_change.get(
        reverse("crm:notification-bell"), HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL=page
    )
    assert response.status_code == 204
    assert "HX-Redirect" not in response


def test_password_page_logout_language_and_static_stay_open(world, must_change):
    assert must_change.get(reverse("crm:password-change")).status_code == 200
    lang = must_change.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert lang.status_code == 302 and lang.url == "/"
    static = must_change.get(f"/{settings.STATIC_URL.lstrip('/')}css/tidepool.css")
    assert static.get("Location") != reverse("crm:password-change")
    logout = must_change.post(reverse("logout"))
    assert logout.status_code == 302 and logout.url != reverse("crm:password-change")


def test_after_changing_the_password_every_page_opens_again(world, must_change):
    body = must_change.get(reverse("crm:password-change")).content.decode()
    assert "Choose your own password to continue" in body
    response = must_change.post(
        reverse("crm:password-change"),
        {
            "old_password": PASSWORD,
            "new_password": "Quiet-Lagoon-77",
            "new_password2": "Quiet-Lagoon-77",
        },
    )
    assert response.status_code == 302
    assert not _fresh(world.rep_east).must_change_password
    assert must_change.get("/").status_code == 200


def test_reset_password_journey_shown_once_then_changed_at_sign_in(world, as_user, client):
    admin = as_user(world.admin_a)
    response = admin.post(reverse("crm:user-reset-password", args=[world.rep_east.pk]))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    rep = _fresh(world.rep_east)
    words = re.findall(r"[A-Za-z0-9]{12}", response.content.decode())
    [password] = [w for w in words if rep.check_password(w)]
    assert password not in admin.get(reverse("crm:user-edit", args=[rep.pk])).content.decode()
    assert client.login(username="rep_east", password=password)
    assert client.get("/").url == reverse("crm:password-change")


# ---------------------------------------------------------------- concurrency (PostgreSQL)


def _run_pair(first, second, pause_in=None, monkeypatch=None):
    """Run two callables in two threads released together; return [(result|exc), …].

    ``pause_in`` ("module attribute name" on crm.services): the two threads meet at a second
    barrier right after that function returned, so that without a lock both would pass the
    check before either writes (the race, made certain). Under the tenant lock the second
    thread is blocked before the check: the first one's wait ends after a short rendezvous
    timeout (no assertion depends on it) and it commits."""
    start = threading.Barrier(2)
    after_check = threading.Barrier(2)
    if pause_in is not None:
        original = getattr(services, pause_in)

        def paused(*args, **kwargs):
            result = original(*args, **kwargs)
            with contextlib.suppress(threading.BrokenBarrierError):
                after_check.wait(timeout=3)
            return result

        monkeypatch.setattr(services, pause_in, paused)
    outcomes: list = [None, None]

    def wrap(index, target):
        def run():
            try:
                connection.ensure_connection()
                start.wait(timeout=30)
                outcomes[index] = target()
            except BaseException as exc:  # reported by the test
                outcomes[index] = exc
            finally:
                connection.close()

        return run

    threads = [threading.Thread(target=wrap(i, t)) for i, t in enumerate((first, second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    return outcomes


def _manage_holders(tenant) -> list[str]:
    with scopes_disabled():
        return sorted(
            u.username
            for u in User.objects.filter(tenant=tenant, is_active=True).select_related("role")
            if u.can("users.manage")
        )


def _in_scope(tenant_id, fn):
    def run():
        with tenant_scope(tenant_id):
            return fn()

    return run


def _two_admins(world):
    """Two admins, nobody else holding users.manage."""
    admin2 = make_user(world.tenant_a, "admin_a2", role=Role.Builtin.ADMIN)
    assert _manage_holders(world.tenant_a) == ["admin_a", "admin_a2"]
    return _fresh(world.admin_a), _fresh(admin2)


def _assert_exactly_one_succeeded(outcomes):
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(failures) == 1, outcomes
    assert isinstance(failures[0], ServiceError), failures[0]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_admins_demoting_each_other_at_once_leave_one_user_manager(world, monkeypatch):
    a1, a2 = _two_admins(world)
    rep = _builtin(world, Role.Builtin.SALES_REP)
    tid = world.tenant_a.pk

    def demote(actor_pk, target_pk):
        def run():
            actor, target = _fresh_in(actor_pk), _fresh_in(target_pk)
            return services.user_update(
                actor=actor, user=target, **_update_kwargs(target, role=rep)
            )

        return _in_scope(tid, run)

    outcomes = _run_pair(
        demote(a1.pk, a2.pk),
        demote(a2.pk, a1.pk),
        pause_in="_keep_a_user_manager",
        monkeypatch=monkeypatch,
    )
    _assert_exactly_one_succeeded(outcomes)
    assert len(_manage_holders(world.tenant_a)) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_admins_deactivating_each_other_at_once_leave_one_user_manager(world, monkeypatch):
    a1, a2 = _two_admins(world)
    tid = world.tenant_a.pk

    def deactivate(actor_pk, target_pk):
        def run():
            actor, target = _fresh_in(actor_pk), _fresh_in(target_pk)
            return services.user_set_active(actor=actor, user=target, active=False)

        return _in_scope(tid, run)

    outcomes = _run_pair(
        deactivate(a1.pk, a2.pk),
        deactivate(a2.pk, a1.pk),
        pause_in="_keep_a_user_manager",
        monkeypatch=monkeypatch,
    )
    _assert_exactly_one_succeeded(outcomes)
    assert len(_manage_holders(world.tenant_a)) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_role_losing_users_manage_while_the_other_holder_is_moved_off(world, monkeypatch):
    """admin_a holds users.manage through the admin role, second through a copy of it. At
    the same moment admin_a takes users.manage away from the copy, and second moves
    admin_a to the sales rep role: each alone leaves a holder, both together none."""
    admin_role = _builtin(world, Role.Builtin.ADMIN)
    copy = make_role(world.tenant_a, "副管理员", DataScope.ALL, list(admin_role.permissions))
    second = make_user(world.tenant_a, "second", role=copy)
    rep = _builtin(world, Role.Builtin.SALES_REP)
    tid = world.tenant_a.pk
    without_manage = [c for c in admin_role.permissions if c != "users.manage"]

    def strip_copy():
        actor, role = _fresh_in(world.admin_a.pk), Role.objects.get(pk=copy.pk)
        return services.role_update(
            actor=actor,
            role=role,
            name=role.name,
            permission_codes=without_manage,
            data_scope=DataScope.ALL,
        )

    def move_admin_off():
        actor, target = _fresh_in(second.pk), _fresh_in(world.admin_a.pk)
        return services.user_update(actor=actor, user=target, **_update_kwargs(target, role=rep))

    outcomes = _run_pair(
        _in_scope(tid, strip_copy),
        _in_scope(tid, move_admin_off),
        pause_in="_keep_a_user_manager",
        monkeypatch=monkeypatch,
    )
    _assert_exactly_one_succeeded(outcomes)
    assert len(_manage_holders(world.tenant_a)) == 1


def _fresh_in(pk) -> User:
    return User.tenant_objects.select_related("role").get(pk=pk)


def _assert_tree_consistent(tenant):
    """No cycle, and every path is the parent's path plus the department's own id."""
    with scopes_disabled():
        depts = {d.pk: d for d in Department.objects.filter(tenant=tenant)}
    for dept in depts.values():
        seen, node = set(), dept
        while node.parent_id is not None:
            assert node.pk not in seen, f"cycle through {node.name}"
            seen.add(node.pk)
            node = depts[node.parent_id]
        parent_path = depts[dept.parent_id].path if dept.parent_id else "/"
        assert dept.path == f"{parent_path}{dept.pk}/", dept.name


def _move(world, dept, parent):
    def run():
        actor = _fresh_in(world.admin_a.pk)
        return services.department_move(
            actor=actor,
            department=Department.objects.get(pk=dept.pk),
            parent=Department.objects.get(pk=parent.pk) if parent else None,
        )

    return _in_scope(world.tenant_a.pk, run)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_crossing_department_moves_at_once_never_make_a_cycle(world, monkeypatch):
    """Two browsers: 华东组 under 华西组 and 华西组 under 华东组, at the same moment."""
    outcomes = _run_pair(
        _move(world, world.east, world.west),
        _move(world, world.west, world.east),
        pause_in="_sibling_name_taken",
        monkeypatch=monkeypatch,
    )
    _assert_exactly_one_succeeded(outcomes)
    assert next(o for o in outcomes if isinstance(o, ServiceError)).code == "cycle"
    _assert_tree_consistent(world.tenant_a)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_moves_at_once_below_a_moving_department_keep_every_path_right(world, monkeypatch):
    """售后部 goes under 华东组 while 华东组's parent 销售部 goes to the top: the first move
    must not write 售后部's path from 华东组's old path."""
    outcomes = _run_pair(
        _move(world, world.service, world.east),
        _move(world, world.sales, None),
        pause_in="_sibling_name_taken",
        monkeypatch=monkeypatch,
    )
    assert not any(isinstance(o, BaseException) for o in outcomes), outcomes
    _assert_tree_consistent(world.tenant_a)
    with scopes_disabled():
        service = Department.objects.get(pk=world.service.pk)
    assert service.path == f"/{world.sales.pk}/{world.east.pk}/{world.service.pk}/"


def test_department_create_under_a_department_uses_its_current_path(world, scoped):
    """The parent object the page loaded may be stale; the service reads it after the lock."""
    with scopes_disabled():
        stale_east = Department.objects.get(pk=world.east.pk)
    with scoped(world.admin_a):
        services.department_move(actor=world.admin_a, department=world.sales, parent=None)
        child = services.department_create(actor=world.admin_a, name="一组", parent=stale_east)
    _assert_tree_consistent(world.tenant_a)
    assert child.path == f"/{world.sales.pk}/{world.east.pk}/{child.pk}/"
