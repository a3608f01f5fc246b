"""The URL isolation matrix (DESIGN §4, STYLE "Tests").

For every URL that takes an object id, the object is created in the *other* tenant and a
user of this tenant (with every permission) requests it: the answer must be 404, for GET and
for POST, and the object must be unchanged. A URL with an id that is not in the matrix fails
the completeness test: every module adds its URLs here.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django_scopes import scopes_disabled

from crm import services
from crm.models import Department, Notification, Option, Role


def _walk(patterns, namespace: str | None = None):
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = p.namespace or namespace
            yield from _walk(p.url_patterns, ns)
        elif isinstance(p, URLPattern) and p.name:
            yield (f"{namespace}:{p.name}" if namespace else p.name), p


def object_urls() -> set[str]:
    """Names of the tenant app's URLs that take a parameter (the platform admin is out:
    tenant users never reach it, see test_platform_admin_is_closed_to_tenant_users)."""
    return {
        name
        for name, p in _walk(get_resolver().url_patterns)
        if p.pattern.converters and not name.startswith("admin:")
    }


# name -> builder(world) returning the URL kwargs of an object that belongs to tenant B.
MATRIX: dict[str, Callable] = {
    "crm:department-edit": lambda w: {
        "pk": Department.objects.filter(tenant=w.tenant_b).first().pk
    },
    "crm:department-move": lambda w: {
        "pk": Department.objects.filter(tenant=w.tenant_b).first().pk
    },
    "crm:department-toggle": lambda w: {
        "pk": Department.objects.filter(tenant=w.tenant_b).first().pk
    },
    "crm:user-edit": lambda w: {"pk": w.rep_b.pk},
    "crm:user-toggle": lambda w: {"pk": w.rep_b.pk},
    "crm:user-reset-password": lambda w: {"pk": w.rep_b.pk},
    "crm:role-edit": lambda w: {"pk": Role.objects.filter(tenant=w.tenant_b).first().pk},
    "crm:role-delete": lambda w: {
        "pk": Role.objects.filter(tenant=w.tenant_b).exclude(builtin="admin").first().pk
    },
    "crm:option-edit": lambda w: {"pk": Option.objects.filter(tenant=w.tenant_b).first().pk},
    "crm:option-move": lambda w: {"pk": Option.objects.filter(tenant=w.tenant_b).first().pk},
    "crm:notification-read": lambda w: {
        "pk": services.notification_send(
            tenant_id=w.tenant_b.pk, recipients=[w.admin_b], title="b"
        )[0].pk
    },
}


def test_matrix_covers_every_url_with_an_object_id():
    missing = sorted(object_urls() - set(MATRIX))
    assert missing == [], f"add these URLs to the isolation matrix: {missing}"
    stale = sorted(set(MATRIX) - object_urls())
    assert stale == [], f"the matrix names URLs that no longer exist: {stale}"


def _snapshot(world):
    with scopes_disabled():
        return (
            sorted(
                Department.objects.filter(tenant=world.tenant_b).values_list(
                    "pk", "name", "path", "is_active"
                )
            ),
            sorted(Role.objects.filter(tenant=world.tenant_b).values_list("pk", "name")),
            sorted(
                Option.objects.filter(tenant=world.tenant_b).values_list(
                    "pk", "label", "sort_order", "is_active"
                )
            ),
            world.rep_b.__class__.objects.filter(pk=world.rep_b.pk)
            .values_list("password", "is_active")
            .get(),
            sorted(Notification.objects.filter(tenant=world.tenant_b).values_list("pk", "read_at")),
        )


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_other_tenants_object_is_404_for_get_and_post(name, world, login):
    with scopes_disabled():
        kwargs = MATRIX[name](world)
    url = reverse(name, kwargs=kwargs)
    missing_url = reverse(name, kwargs={**kwargs, "pk": 999_999_999})
    client = login(world.admin_a)  # every permission, data scope "all"
    before = _snapshot(world)
    # POST-only URLs answer 405 to GET whatever the id: no difference from a missing row.
    get_status = client.get(url).status_code
    assert get_status in (404, 405)
    assert get_status == client.get(missing_url).status_code
    post = client.post(url, {"name": "x", "label": "x", "parent": "", "direction": "up"})
    assert post.status_code == 404
    assert client.post(url, {}, HTTP_HX_REQUEST="true").status_code == 404
    assert _snapshot(world) == before


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_own_tenants_object_is_reachable(name, world, login):
    """The matrix is not vacuous: the same URL with an object of tenant B works for B's
    admin (anything but 404)."""
    with scopes_disabled():
        kwargs = MATRIX[name](world)
    client = login(world.admin_b)
    url = reverse(name, kwargs=kwargs)
    response = client.get(url)
    if response.status_code == 405:
        response = client.post(url, {"direction": "up"})
    assert response.status_code in (200, 302)


def test_platform_admin_is_closed_to_tenant_users(world, login):
    client = login(world.admin_a)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
