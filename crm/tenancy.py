"""The tenant wall: the abstract tenant model, its scoped manager, and scope entry points.

Every tenant-owned model inherits :class:`TenantModel`; its default manager refuses to query
without an active scope (django-scopes). The scope is entered:

* per request, by :class:`TenantScopeMiddleware`, from the logged-in user's tenant;
* per Celery task, by :func:`crm.tasks.tenant_task`, from the tenant id it receives;
* explicitly in management commands and the Django admin, via ``scopes_disabled()``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import models
from django.http import HttpRequest, HttpResponse
from django_scopes import ScopedManager, scope, scopes_disabled
from django_scopes.manager import DisabledQuerySet

__all__ = [
    "TenantModel",
    "TenantScopeMiddleware",
    "scope",
    "scoped_manager",
    "scopes_disabled",
    "tenant_scope",
]


def scoped_manager(queryset_class: type[models.QuerySet] | None = None) -> models.Manager:
    """A tenant-scoped manager, optionally built on a custom queryset (pretix's pattern)."""
    if queryset_class is None:
        return ScopedManager(tenant="tenant")
    return ScopedManager(tenant="tenant", _manager_class=queryset_class.as_manager().__class__)


class TenantModel(models.Model):
    """Base of every tenant-owned model: a non-null tenant and a manager that needs a scope."""

    tenant = models.ForeignKey("crm.Tenant", on_delete=models.PROTECT, related_name="+")

    objects = scoped_manager()

    class Meta:
        abstract = True

    def assert_same_tenant(self, *related: models.Model | None) -> None:
        """SECURITY: forward foreign keys bypass scopes, so services check related rows."""
        for obj in related:
            if obj is not None and getattr(obj, "tenant_id", self.tenant_id) != self.tenant_id:
                raise ValueError(f"{obj!r} belongs to another tenant than {self!r}")


def tenant_key_without_index() -> models.ForeignKey:
    """TenantModel's tenant foreign key for a table whose composite indexes all lead with
    tenant_id. PERF: the key's own index would only cost each insert (imports write 100,000
    rows at a time, bench/import_pool.py); deleting a tenant finds the rows through those."""
    return models.ForeignKey(
        "crm.Tenant", on_delete=models.PROTECT, related_name="+", db_index=False
    )


def tenant_scope(tenant_id: int):
    """Enter the scope of one tenant (a context manager and decorator)."""
    if tenant_id is None:
        # SECURITY: scope(tenant=None) would mean "every tenant" in django-scopes.
        raise ValueError("tenant_scope needs a tenant id; use scopes_disabled() explicitly")
    return scope(tenant=tenant_id)


class TenantScopeMiddleware:
    """Run each request of a tenant user inside that tenant's scope.

    Anonymous requests and platform operators get no scope, so an accidental tenant query
    raises instead of leaking. TemplateResponses are rendered inside the handler, so
    templates are covered too. Streaming responses must enter the scope themselves.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        tenant_id = getattr(user, "tenant_id", None) if user is not None else None
        if user is not None and user.is_authenticated and tenant_id:
            request.tenant_id = tenant_id
            with tenant_scope(tenant_id):
                return self.get_response(request)
        request.tenant_id = None
        return self.get_response(request)


def close_scope_gaps() -> None:
    """SECURITY: django-scopes lets a few methods through without a scope (research/pretix.md
    §1.3): ``exists()`` and friends would run unfiltered across tenants. Make them fail."""
    for name in (
        "exists",
        "aexists",
        "explain",
        "exclude",
        "select_related",
        "prefetch_related",
        "distinct",
        "defer",
        "alias",
        "extra",
        "in_bulk",
        "contains",
        "bulk_update",
        "aggregate",
        "acount",
        "aget",
        "afirst",
    ):
        setattr(DisabledQuerySet, name, DisabledQuerySet.error)


def run_in_scope(tenant_id: int, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    with tenant_scope(tenant_id):
        return func(*args, **kwargs)
