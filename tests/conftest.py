"""Test set-up shared by every test.

* Non-generator fixtures run with scopes disabled (django-scopes README, pretix's conftest),
  so building data needs no ceremony; test bodies and views run with the production
  scoping, entered by the middleware or by the test itself.
* Two tenants always exist, with personas whose names say who they are.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass

import pytest
from django.db import connection
from django_scopes import scopes_disabled

from crm.models import DataScope, Department, Role, Tenant, User
from tests.factories import PASSWORD, TenantFactory, make_department, make_user


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef, request):
    if inspect.isgeneratorfunction(fixturedef.func):
        yield
    else:
        with scopes_disabled():
            yield


def pytest_collection_modifyitems(config, items):
    on_postgres = os.environ.get("DATABASE_URL", "").startswith(("postgres", "postgresql"))
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL: run with DATABASE_URL=postgres://…")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip_pg)


@dataclass
class World:
    """Tenant A (the one under test) and tenant B (the neighbour that must stay invisible).

    Departments of A: head_office → sales → {east, west}; service (a second root).
    """

    tenant_a: Tenant
    tenant_b: Tenant
    head_office: Department
    sales: Department
    east: Department
    west: Department
    service: Department
    admin_a: User
    manager_sales: User  # 销售经理, department and below, in "sales"
    rep_east: User
    rep_east2: User
    rep_west: User
    service_a: User
    admin_b: User
    rep_b: User


@pytest.fixture
def world(db) -> World:
    a = TenantFactory(name="甲公司", slug="alpha")
    b = TenantFactory(name="乙公司", slug="beta")
    head = make_department(a, "总经办")
    sales = make_department(a, "销售部", head)
    east = make_department(a, "华东组", sales)
    west = make_department(a, "华西组", sales)
    service = make_department(a, "售后部")
    admin_a = make_user(
        a, "admin_a", role=Role.Builtin.ADMIN, department=head, mobile="13700000001"
    )
    manager = make_user(
        a, "manager_sales", role=Role.Builtin.SALES_MANAGER, department=sales, manager=admin_a
    )
    rep_east = make_user(a, "rep_east", department=east, manager=manager, mobile="13700000003")
    rep_east2 = make_user(a, "rep_east2", department=east, manager=manager)
    rep_west = make_user(a, "rep_west", department=west, manager=manager)
    service_a = make_user(a, "service_a", role=Role.Builtin.AFTER_SALES, department=service)
    b_dept = make_department(b, "销售部")
    admin_b = make_user(b, "admin_b", role=Role.Builtin.ADMIN, department=b_dept)
    rep_b = make_user(b, "rep_b", department=b_dept, manager=admin_b)
    return World(
        a,
        b,
        head,
        sales,
        east,
        west,
        service,
        admin_a,
        manager,
        rep_east,
        rep_east2,
        rep_west,
        service_a,
        admin_b,
        rep_b,
    )


@pytest.fixture
def login(client):
    """``login(user)`` signs the test client in as that user (through the real backend)."""

    def do(user: User):
        assert client.login(username=user.username, password=PASSWORD)
        return client

    return do


@pytest.fixture(autouse=True)
def _installation_language():
    """Every test starts in the installation's language (zh-hans). A request made in another
    language (the language cookie) leaves that language active on the thread afterwards,
    which made later tests' messages come out in English, depending on the order."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _fresh_local_cache():
    """Every test starts with an empty local-memory cache (the suite's cache without
    REDIS_URL): SQLite gives a rolled-back test's ids to the next test, so a user's 查重
    throttle count (crm.throttling) would otherwise carry over to another test's user.
    Redis is never flushed here: the Celery broker of the worker tests lives in it too, and
    PostgreSQL does not hand out an id twice."""
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache

    if isinstance(caches["default"], LocMemCache):
        caches["default"].clear()


@pytest.fixture
def as_user(settings):
    """``as_user(user)``: a fresh client signed in as ``user``, with English chosen (the
    language cookie), for tests that assert English messages."""
    from django.test import Client

    def do(user: User) -> Client:
        client = Client()
        assert client.login(username=user.username, password=PASSWORD)
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        return client

    return do


@pytest.fixture
def scoped():
    """``with scoped(user):`` enters the user's tenant scope in a test body."""
    from crm.tenancy import tenant_scope

    return lambda user: tenant_scope(user.tenant_id)


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"


__all__ = ["PASSWORD", "DataScope", "World"]


# ---- local webhook server (tests/webhook_server.py)


@pytest.fixture
def webhook_server():
    """A local stand-in for the group bots' webhooks on 127.0.0.1 (an ephemeral port): it
    records each request and answers OK unless told otherwise (``answer(status=…, json=…,
    delay=…, times=…)``); it stops at the end of the test. See tests/webhook_server.py."""
    from tests.webhook_server import running_webhook_server

    with running_webhook_server() as server:
        yield server
