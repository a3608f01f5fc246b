"""The demo data (what `make run` loads) and the production configuration."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django_scopes import scopes_disabled

from crm.demo import DEMO_PASSWORD, load_demo
from crm.models import Department, Role, Tenant, User
from crm.phones import mobile_digits


@pytest.fixture
def demo(db):
    load_demo()


def test_demo_has_two_tenants_and_the_personas(demo):
    assert set(Tenant.objects.values_list("slug", flat=True)) == {"demo", "other"}
    demo_users = set(User.objects.filter(tenant__slug="demo").values_list("username", flat=True))
    assert demo_users == {"admin", "manager1", "rep1", "rep2", "rep3", "service1"}
    assert set(User.objects.filter(tenant__slug="other").values_list("username", flat=True)) == {
        "other_admin",
        "other_rep",
    }
    for user in User.objects.all():
        assert user.check_password(DEMO_PASSWORD), user.username
    # No usernames that are mobile numbers (crm.identity refuses them).
    assert not [u for u in User.objects.values_list("username", flat=True) if mobile_digits(u)]


def test_demo_creates_no_platform_operator_with_debug_off(db, settings):
    settings.DEBUG = False
    load_demo()
    assert not User.objects.filter(is_superuser=True).exists()
    assert not User.objects.filter(tenant__isnull=True).exists()


def test_demo_creates_the_platform_operator_with_debug_on(db, settings):
    settings.DEBUG = True
    assert "created platform operator platform" in load_demo()
    platform = User.objects.get(username="platform")
    assert platform.tenant_id is None and platform.is_superuser
    assert platform.check_password(DEMO_PASSWORD)


def test_demo_command_with_debug_off_says_how_to_create_an_operator(db, settings):
    from io import StringIO

    from django.core.management import call_command

    settings.DEBUG = False
    out = StringIO()
    call_command("demo", stdout=out)
    text = out.getvalue()
    assert "createsuperuser" in text
    assert "platform operator (/admin/)" not in text
    assert not User.objects.filter(username="platform").exists()


def test_demo_department_tree_and_roles(demo):
    with scopes_disabled():
        paths = {d.name: d for d in Department.objects.filter(tenant__slug="demo")}
        assert paths["销售部"].parent == paths["总经办"]
        assert paths["销售一部"].parent == paths["销售部"]
        assert paths["销售二部"].parent == paths["销售部"]
        assert paths["售后部"].parent is None
        manager = User.objects.get(username="manager1")
        assert manager.department == paths["销售部"]
        assert manager.role.builtin == Role.Builtin.SALES_MANAGER
        assert manager.role.data_scope == "department_and_below"
        assert paths["销售部"].leader == manager
        assert User.objects.get(username="rep3").department == paths["销售二部"]
        assert User.objects.get(username="service1").department == paths["售后部"]
        assert User.objects.get(username="admin").role.builtin == Role.Builtin.ADMIN
        assert set(Role.objects.filter(tenant__slug="demo").values_list("name", flat=True)) == {
            "管理员",
            "销售经理",
            "销售代表",
            "售后专员",
        }


def test_demo_is_idempotent_and_keeps_what_users_changed(demo):
    with scopes_disabled():
        Department.objects.filter(tenant__slug="demo", name="售后部").update(name="客服部")
    assert load_demo() == []
    with scopes_disabled():
        assert Department.objects.filter(tenant__slug="demo", name="客服部").exists()
        assert not Department.objects.filter(tenant__slug="demo", name="售后部").exists()
    assert User.objects.filter(username="rep1").count() == 1


def test_demo_command_prints_the_logins(db):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("demo", stdout=out)
    text = out.getvalue()
    assert "rep1" in text and "other_admin" in text and DEMO_PASSWORD in text


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "DEBUG"}}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "crm.settings",
            "DEBUG": "0",
            "SECRET_KEY": "prod-" + "k3y-w1th-3nough-3ntropy-" * 3,
            "ALLOWED_HOSTS": "crm.example.com",
            "TIDEPOOL_VAR_DIR": str(tmp_path),
        }
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=Path(settings.BASE_DIR),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DEBUG"}
    }
    env.update(
        {"DJANGO_SETTINGS_MODULE": "crm.settings", "DEBUG": "0", "TIDEPOOL_VAR_DIR": str(tmp_path)}
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=Path(settings.BASE_DIR),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
