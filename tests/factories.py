"""Factories. Each takes the tenant and passes it down: a factory that invented a second
tenant for a child would hide exactly the bugs the isolation tests look for."""

from __future__ import annotations

import factory
from django_scopes import scopes_disabled

from crm import services
from crm.models import Department, Role, Tenant, User

PASSWORD = "tidepool-test-pw"


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant

    name = factory.Sequence(lambda n: f"公司{n}")
    slug = factory.Sequence(lambda n: f"tenant-{n}")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        # The real service: built-in roles and default option lists come with it.
        with scopes_disabled():
            return services.tenant_create(name=kwargs["name"], slug=kwargs["slug"])


def make_department(tenant: Tenant, name: str, parent: Department | None = None) -> Department:
    with scopes_disabled():
        dept = Department.objects.create(tenant=tenant, name=name, parent=parent)
        dept.path = f"{parent.path if parent else '/'}{dept.pk}/"
        dept.save(update_fields=["path"])
        return dept


def make_user(
    tenant: Tenant,
    username: str,
    *,
    role: str | Role | None = Role.Builtin.SALES_REP,
    department: Department | None = None,
    manager: User | None = None,
    mobile: str | None = None,
    is_active: bool = True,
    name: str = "",
) -> User:
    with scopes_disabled():
        if isinstance(role, str):
            role = Role.objects.get(tenant=tenant, builtin=role)
        user = User(
            tenant=tenant,
            username=username,
            name=name or username,
            role=role,
            department=department,
            manager=manager,
            mobile=mobile,
            is_active=is_active,
        )
        user.set_password(PASSWORD)
        user.save()
        return user


def make_role(tenant: Tenant, name: str, data_scope: str, permissions: list[str] | None = None):
    with scopes_disabled():
        return Role.objects.create(
            tenant=tenant, name=name, data_scope=data_scope, permissions=permissions or []
        )
