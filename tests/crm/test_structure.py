"""Structural guarantees of the tenant wall (DESIGN §4, STYLE "Tenancy").

These tests walk the code, not one feature: a new model, form or query that forgets the
wall fails here before it can leak.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.db import models
from django.forms import ModelChoiceField, ModelMultipleChoiceField
from django.test import RequestFactory
from django_scopes import ScopeError, get_scope
from django_scopes.forms import SafeModelChoiceField, SafeModelMultipleChoiceField

from crm.models import Department, Notification, User
from crm.tenancy import TenantModel, TenantScopeMiddleware, tenant_scope

BASE_DIR = Path(settings.BASE_DIR)

# Models of the project's apps that have no tenant, each with the reason. Nothing else may
# be global.
GLOBAL_MODELS = {
    "crm.Tenant": "the tenant itself: the wall is built from it",
}


def project_models() -> list[type[models.Model]]:
    found = []
    for config in apps.get_app_configs():
        path = Path(config.path).resolve()
        if BASE_DIR in path.parents and ".venv" not in path.parts:
            found.extend(config.get_models())
    return found


def label(model) -> str:
    return f"{model._meta.app_label}.{model.__name__}"


def test_project_models_are_found():
    labels = {label(m) for m in project_models()}
    assert {"crm.Tenant", "crm.User", "crm.Department", "testapp.Memo"} <= labels


def test_every_project_model_has_a_tenant_or_is_on_the_allow_list():
    missing = [
        label(m)
        for m in project_models()
        if label(m) not in GLOBAL_MODELS
        and not any(f.name == "tenant" for f in m._meta.get_fields())
    ]
    assert missing == [], f"models without a tenant field (add one or allow-list them): {missing}"


def test_allow_list_names_existing_models_only():
    labels = {label(m) for m in project_models()}
    assert set(GLOBAL_MODELS) <= labels


def tenant_models():
    """Project models with a tenant of their own: TenantModel subclasses and models that
    add the field themselves (django-guardian's direct permission tables). Not the User:
    its default manager is global on purpose."""
    return [
        m
        for m in project_models()
        if any(f.name == "tenant" for f in m._meta.local_fields) and m is not User
    ]


@pytest.mark.parametrize("model", tenant_models(), ids=label)
def test_tenant_models_refuse_to_query_without_a_scope(model, db):
    """The default manager raises without a scope, including the methods django-scopes
    leaves open (``exists``, ``exclude`` …), which crm.tenancy.close_scope_gaps closes."""
    manager = model._default_manager
    for attempt in (
        lambda: list(manager.all()),
        lambda: manager.count(),
        lambda: manager.exists(),
        lambda: manager.exclude(pk=1).exists(),
        lambda: manager.select_related().exists(),
        lambda: manager.filter(pk=1).first(),
    ):
        with pytest.raises(ScopeError):
            attempt()


def test_user_has_a_scoped_manager_for_application_code(db):
    with pytest.raises(ScopeError):
        User.tenant_objects.exists()


@pytest.mark.parametrize("model", tenant_models(), ids=label)
def test_indexes_and_unique_constraints_begin_with_the_tenant(model):
    offenders = []
    for index in model._meta.indexes:
        if index.fields and index.fields[0].lstrip("-") != "tenant":
            offenders.append(index.name)
    for constraint in model._meta.constraints:
        if (
            isinstance(constraint, models.UniqueConstraint)
            and constraint.fields
            and constraint.fields[0] != "tenant"
        ):
            offenders.append(constraint.name)
    for fields in model._meta.unique_together:
        if fields and fields[0] != "tenant":
            offenders.append(f"unique_together {fields}")
    for field in model._meta.local_fields:
        if field.unique and not field.primary_key:
            offenders.append(f"{field.name} (unique=True)")
    assert offenders == []


def test_user_objects_stays_in_the_auth_modules():
    """``User.objects`` is global (login happens before the tenant is known); application
    code must use ``User.tenant_objects``. These modules use the global manager on purpose."""
    allowed = {
        "crm/auth.py",
        "crm/admin.py",
        "crm/demo.py",
        "crm/identity.py",
        "crm/models.py",
        "crm/forms.py",
    }
    pattern = re.compile(r"\bUser\.objects\.(?!none\(\))")
    offenders = []
    for path in BASE_DIR.rglob("*.py"):
        rel = path.relative_to(BASE_DIR).as_posix()
        if rel.startswith((".venv/", "tests/", "var/", "bench/")) or "/migrations/" in rel:
            continue
        if pattern.search(path.read_text(encoding="utf-8")) and rel not in allowed:
            offenders.append(rel)
    assert offenders == []


def _project_modules():
    """Every module of the project's apps (packages walked, migrations and management
    commands left out), imported."""
    import importlib
    import pkgutil

    modules = []
    for config in apps.get_app_configs():
        path = Path(config.path).resolve()
        if BASE_DIR not in path.parents or ".venv" in path.parts or config.name.startswith("tests"):
            continue
        package = importlib.import_module(config.name)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{config.name}."):
            if ".migrations" in info.name or ".management" in info.name:
                continue
            modules.append(importlib.import_module(info.name))
    return modules


def _project_form_classes():
    """Every form class defined anywhere in the project's apps (``forms.py``, a ``forms/``
    package, or a form some other module defines)."""
    import inspect

    from django import forms

    found = []
    for module in _project_modules():
        for _name, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, forms.BaseForm) and obj.__module__ == module.__name__:
                found.append(obj)
    return found


def test_the_form_walk_sees_every_form_module():
    """The walk finds the forms of packages and of every module, not only ``<app>.forms``."""
    names = {f"{cls.__module__}.{cls.__name__}" for cls in _project_form_classes()}
    for expected in (
        "crm.forms.UserForm",
        "customers.forms.CustomerForm",
        "customers.forms.CustomerImportForm",
        "leads.forms.leads.LeadForm",
        "leads.forms.convert.ConvertForm",
        "leads.forms.settings.RuleForm",
        "leads.forms.imports.LeadImportForm",
        "pools.forms.groups.GroupForm",
        "pools.forms.actions.AssignForm",
    ):
        assert expected in names


def test_forms_live_in_forms_modules():
    """STYLE: an app keeps its forms in ``forms.py`` or a ``forms/`` package."""
    misplaced = [
        f"{cls.__module__}.{cls.__name__}"
        for cls in _project_form_classes()
        if cls.__module__.split(".")[1] != "forms"
    ]
    assert misplaced == []


def test_apps_keep_one_views_package_and_one_navigation_module():
    """STYLE: several view modules make a ``views/`` package; no ``views_*.py``,
    ``forms_*.py`` or ``navigation_*.py`` side files."""
    side_files = [
        path.relative_to(BASE_DIR).as_posix()
        for app in ("crm", "pools", "customers", "opportunities", "leads", "reports")
        for path in (BASE_DIR / app).glob("*.py")
        if path.stem.startswith(("views_", "forms_", "navigation_")) or path.stem == "action_forms"
    ]
    assert side_files == []


def test_choice_fields_over_tenant_models_are_safe_fields():
    """A plain ModelChoiceField evaluates its queryset when the form class is built: on a
    scoped model that raises at import, or worse, queries unscoped (research/pretix.md §1.4)."""
    forms_found = _project_form_classes()
    assert forms_found, "no project forms found"
    offenders = []
    for form_class in forms_found:
        for name, field in form_class.base_fields.items():
            if isinstance(field, ModelChoiceField | ModelMultipleChoiceField):
                model = field.queryset.model
                if issubclass(model, TenantModel) or model is User:
                    safe = isinstance(field, SafeModelChoiceField | SafeModelMultipleChoiceField)
                    if not safe:
                        offenders.append(f"{form_class.__name__}.{name}")
    assert offenders == []


def _middleware_probe(request):
    """A stand-in view: reports the scope it runs in and whether a tenant query works."""
    scope = dict(get_scope())
    try:
        Notification.objects.exists()
        queried = True
    except ScopeError:
        queried = False
    return {"scope": scope, "queried": queried}


def test_middleware_enters_the_users_tenant_scope(world):
    request = RequestFactory().get("/")
    request.user = world.rep_east
    result = TenantScopeMiddleware(_middleware_probe)(request)
    assert result["scope"]["tenant"] == world.tenant_a.pk
    assert result["queried"] is True
    assert request.tenant_id == world.tenant_a.pk


def test_middleware_enters_no_scope_for_anonymous_users(db):
    from django.contrib.auth.models import AnonymousUser

    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    result = TenantScopeMiddleware(_middleware_probe)(request)
    assert result["queried"] is False
    assert "tenant" not in result["scope"]


def test_middleware_enters_no_scope_for_platform_operators(db):
    operator = User.objects.create_superuser("operator", password="x-long-password-1")
    request = RequestFactory().get("/")
    request.user = operator
    assert TenantScopeMiddleware(_middleware_probe)(request)["queried"] is False


def test_tenant_scope_refuses_none():
    """scope(tenant=None) means *every* tenant in django-scopes; ours refuses it."""
    with pytest.raises(ValueError):
        tenant_scope(None)


def test_scope_filters_rows_of_other_tenants(world):
    with tenant_scope(world.tenant_a.pk):
        names = set(Department.objects.values_list("name", flat=True))
        assert "总经办" in names
        b_ids = set(Department.objects.filter(tenant=world.tenant_b))
    assert b_ids == set()


def test_assert_same_tenant_refuses_foreign_rows(world):
    with pytest.raises(ValueError):
        world.east.assert_same_tenant(world.rep_b)
    world.east.assert_same_tenant(world.rep_east, None)
