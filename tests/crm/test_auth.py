"""Signing in (username or mobile), who may not, lockout, language, and the platform admin."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django_scopes import scopes_disabled

from crm.models import Department, Tenant, User
from tests.factories import PASSWORD

LOGIN = "/accounts/login/"


def post_login(client, username, password=PASSWORD):
    return client.post(LOGIN, {"username": username, "password": password})


@pytest.mark.parametrize(
    "identifier",
    ["rep_east", "REP_EAST", "13700000003", "+86 137-0000-0003", "１３７０００００００３"],
)
def test_login_by_username_or_mobile(world, client, identifier):
    response = post_login(client, identifier)
    assert response.status_code == 302
    assert response["Location"] == reverse("crm:workbench")
    assert client.get("/").context["request"].user == world.rep_east


def test_wrong_password_is_refused_with_a_clear_message(world, client):
    response = post_login(client, "rep_east", "wrong")
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    form = response.context["form"]
    assert form.non_field_errors()


def test_deactivated_user_cannot_sign_in(world, client):
    User.objects.filter(pk=world.rep_east.pk).update(is_active=False)
    post_login(client, "rep_east")
    assert "_auth_user_id" not in client.session


def test_deactivated_user_is_signed_out_on_the_next_request(world, client, login):
    login(world.rep_east)
    assert client.get("/").status_code == 200
    User.objects.filter(pk=world.rep_east.pk).update(is_active=False)
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)


def test_users_of_a_disabled_tenant_cannot_sign_in(world, client):
    Tenant.objects.filter(pk=world.tenant_b.pk).update(is_active=False)
    post_login(client, "rep_b")
    assert "_auth_user_id" not in client.session


def test_platform_operators_use_the_admin_only(db, client):
    User.objects.create_superuser("operator", password=PASSWORD)
    response = post_login(client, "operator")
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    # Signed in through the admin, the tenant app sends them back there.
    client.post("/admin/login/", {"username": "operator", "password": PASSWORD})
    assert client.get("/").status_code == 302
    assert client.get("/")["Location"] == reverse("admin:index")


def test_platform_admin_lists_tenant_data_with_scopes_disabled(world, client):
    User.objects.create_superuser("operator", password=PASSWORD)
    client.post("/admin/login/", {"username": "operator", "password": PASSWORD})
    response = client.get(reverse("admin:crm_department_changelist"))
    assert response.status_code == 200
    assert "华东组" in response.content.decode()
    with scopes_disabled():
        pk = Department.objects.get(tenant=world.tenant_b).pk
    assert client.get(reverse("admin:crm_department_change", args=[pk])).status_code == 200


def test_platform_admin_creates_tenants_with_their_defaults(db, client):
    User.objects.create_superuser("operator", password=PASSWORD)
    client.post("/admin/login/", {"username": "operator", "password": PASSWORD})
    response = client.post(
        reverse("admin:crm_tenant_add"),
        {
            "name": "新公司",
            "slug": "new",
            "is_active": "on",
            "created_at_0": "2026-11-22",
            "created_at_1": "10:00:00",
            # The admin's form shows the default (3): the reminders' escalation (issue 18).
            "followup_overdue_escalation_days": "3",
            "time_zone": "Asia/Shanghai",  # the morning digest's and quiet hours' clock
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    with scopes_disabled():
        tenant = Tenant.objects.get(slug="new")
        from crm.models import Option, Role

        assert Role.objects.filter(tenant=tenant).count() == 4
        assert Option.objects.filter(tenant=tenant, kind="followup_type").exists()
        assert tenant.followup_overdue_escalation_days == 3
        assert tenant.time_zone == "Asia/Shanghai"


def test_anonymous_users_are_sent_to_sign_in(db, client):
    response = client.get(reverse("crm:user-list"))
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)


def test_logout_is_a_post(world, client, login):
    login(world.rep_east)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


def test_lockout_after_repeated_failures(world, client, settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        post_login(client, "rep_east", "wrong")
    response = post_login(client, "rep_east")  # even the right password is refused now
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    assert "locked" in response.content.decode() or "锁定" in response.content.decode()


def test_chinese_is_the_default_and_english_can_be_chosen(world, client, login):
    login(world.rep_east)
    # Whatever the browser's own language is, until the user chooses one.
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert '<html lang="zh-hans">' in page
    assert "工作台" in page
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    page = client.get("/").content.decode()
    assert '<html lang="en">' in page
    assert "Workbench" in page
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    assert '<html lang="zh-hans">' in client.get("/").content.decode()


def test_an_unknown_chosen_language_falls_back_to_chinese(world, client, login):
    login(world.rep_east)
    client.cookies["django_language"] = "xx-bogus"
    assert '<html lang="zh-hans">' in client.get("/").content.decode()


def test_error_pages_are_the_projects_own(world, client, login):
    login(world.rep_east)
    response = client.get("/settings/users/")
    assert response.status_code == 403
    assert "403" in response.content.decode()
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "404" in response.content.decode()


def test_platform_admin_refuses_a_time_zone_that_does_not_exist(db, client):
    User.objects.create_superuser("operator", password=PASSWORD)
    client.post("/admin/login/", {"username": "operator", "password": PASSWORD})
    response = client.post(
        reverse("admin:crm_tenant_add"),
        {
            "name": "火星公司",
            "slug": "mars",
            "is_active": "on",
            "created_at_0": "2026-11-22",
            "created_at_1": "10:00:00",
            "followup_overdue_escalation_days": "3",
            "time_zone": "Mars/Olympus",
        },
    )
    assert response.status_code == 200
    assert "Mars/Olympus" in response.content.decode()
    assert not Tenant.objects.filter(slug="mars").exists()
