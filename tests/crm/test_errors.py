"""Errors by kind (issue 14.6), answered in one place (crm.views.base.domain_error_response):
not found / not visible → 404 (also from require_same_tenant, and through a view's
``except ServiceError``), a refused permission → 403, a refused rule → 422 with the message
out of band for htmx, a message and a redirect back otherwise; forms keep their 422; batch
actions fail as a whole with a refusal that names nothing.

The tiny views below (this module is their URLconf, on top of the project's) raise each kind
the way real views and services do; the rest goes through the project's own views."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.messages import get_messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_scopes import scopes_disabled

from crm import services as crm_services
from crm.exceptions import (
    DomainError,
    NotFoundError,
    NotVisibleError,
    PermissionRefusedError,
    ServiceError,
)
from crm.models import Department, ExportJob
from crm.urls import urlpatterns as project_urlpatterns
from crm.views.base import form_page, tenant_view
from customers.models import Customer, CustomerStar
from leads.models import Lead
from tests.customers.factories import make_customer
from tests.leads.factories import make_lead
from tests.pools.factories import make_group, pooled

pytestmark = pytest.mark.urls(__name__)

RULE = _("This pool group is disabled.")  # any refusal with a catalogued translation
HTMX = {"HTTP_HX_REQUEST": "true"}


# ---------------------------------------------------------------- tiny views


@tenant_view()
def rule_refused(request):
    raise ServiceError(RULE, code="disabled")


@tenant_view()
def permission_refused(request):
    raise PermissionRefusedError()


@tenant_view()
def not_visible_behind_except(request):
    try:
        raise NotVisibleError()
    except ServiceError as exc:  # as many views do: a refusal becomes a message
        messages.error(request, str(exc.message))
        return HttpResponse("swallowed")


@tenant_view()
def deactivate_department(request, pk: int):
    # A forward foreign key bypasses the tenant scope: the service is handed a foreign row.
    with scopes_disabled():
        department = Department.objects.get(pk=pk)
    try:
        crm_services.department_set_active(actor=request.user, department=department, active=False)
    except ServiceError as exc:
        messages.error(request, str(exc.message))
        return redirect("/")
    return HttpResponse("deactivated")


class NameForm(forms.Form):
    name = forms.CharField()


@tenant_view()
def form_refused(request, kind: str):
    def save():
        if kind == "missing":
            raise NotFoundError()
        raise ServiceError(RULE, code="disabled")

    form = NameForm(request.POST or None)
    return form_page(
        request,
        "error_base.html",
        {"form": form},
        save=save,
        saved_message=lambda saved: "saved",
        success_url="/",
    )


urlpatterns = [
    path("_errors/rule/", rule_refused, name="errors-rule"),
    path("_errors/permission/", permission_refused, name="errors-permission"),
    path("_errors/not-visible/", not_visible_behind_except, name="errors-not-visible"),
    path("_errors/department/<int:pk>/", deactivate_department, name="errors-department"),
    path("_errors/form/<slug:kind>/", form_refused, name="errors-form"),
    *project_urlpatterns,
]


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def zh(message) -> str:
    """The message as the (default) Chinese UI shows it; never the English source."""
    with translation.override("zh-hans"):
        text = str(message)
    assert text != str(message) or not text.isascii(), f"untranslated: {text}"
    return text


# ---------------------------------------------------------------- the hierarchy


def test_not_found_errors_are_no_service_errors():
    # SECURITY: an ``except ServiceError`` in a view must not catch them.
    assert not issubclass(NotFoundError, ServiceError)
    assert issubclass(NotVisibleError, NotFoundError)
    assert issubclass(PermissionRefusedError, ServiceError)
    assert {NotFoundError().code, NotVisibleError().code} == {"not_found", "not_visible"}
    assert ServiceError("x").code == "refused" and PermissionRefusedError().code == "permission"
    assert all(issubclass(e, DomainError) for e in (NotFoundError, ServiceError))


def _caught_names(handler: ast.ExceptHandler) -> set[str]:
    if handler.type is None:
        return {"<bare>"}
    nodes = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return {n.attr if isinstance(n, ast.Attribute) else getattr(n, "id", "?") for n in nodes}


def test_no_view_catches_not_found_errors():
    """Only the one mapping (crm/views/base.py) catches not-found; every other view lets it
    through to the 404 (a bare ``except`` or ``except Exception`` would swallow it too)."""
    swallowing = {"<bare>", "Exception", "BaseException", "DomainError", "NotFoundError"}
    swallowing |= {"NotVisibleError", "Http404"}
    root = Path(settings.BASE_DIR)
    modules = [
        p
        for app in ("crm", "customers", "leads", "opportunities", "pools", "reports")
        for p in (*root.glob(f"{app}/views*.py"), *root.glob(f"{app}/views/*.py"))
        if p != root / "crm" / "views" / "base.py"
    ]
    assert len(modules) > 8
    offenders = [
        f"{p.relative_to(root)}:{node.lineno}"
        for p in modules
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, ast.ExceptHandler) and _caught_names(node) & swallowing
    ]
    assert offenders == []


# ---------------------------------------------------------------- 404


def test_require_same_tenant_with_a_foreign_row_is_a_404_through_except_service_error(world, login):
    foreign = world.admin_b.department
    response = login(world.admin_a).post(reverse("errors-department", args=[foreign.pk]))
    assert response.status_code == 404
    assert messages_of(response) == []
    with scopes_disabled():
        assert Department.objects.get(pk=foreign.pk).is_active
    # The same view with a department of the actor's tenant does its work.
    with scopes_disabled():
        empty = Department.objects.create(tenant=world.tenant_a, name="空部门")
    response = login(world.admin_a).post(reverse("errors-department", args=[empty.pk]))
    assert response.status_code == 200 and response.content == b"deactivated"


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
def test_not_visible_inside_a_view_catching_service_error_is_still_a_404(world, login, headers):
    response = login(world.rep_east).get(reverse("errors-not-visible"), **headers)
    assert response.status_code == 404
    assert b"swallowed" not in response.content
    assert messages_of(response) == []


def test_a_missing_record_behind_a_form_is_a_404_not_a_form_error(world, login):
    response = login(world.rep_east).post(reverse("errors-form", args=["missing"]), {"name": "x"})
    assert response.status_code == 404


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
def test_another_tenants_customer_is_a_404_with_the_page_of_a_missing_one(world, login, headers):
    theirs = make_customer(world.tenant_b, world.rep_b, "乙公司的客户")
    client = login(world.admin_a)
    foreign = client.get(reverse("customers:customer-detail", args=[theirs.pk]), **headers)
    missing = client.get(reverse("customers:customer-detail", args=[999_999]), **headers)
    tab = client.get(reverse("customers:customer-tab", args=[theirs.pk, "contacts"]), **headers)
    assert foreign.status_code == missing.status_code == tab.status_code == 404
    for response in (foreign, missing, tab):
        body = response.content.decode()
        assert zh(_("This page does not exist")) in body
        assert zh(_("The record may have been deleted, or the link is wrong.")) in body
        assert "乙公司的客户" not in body


def test_another_tenants_lead_conversion_page_is_a_404(world, login):
    theirs = make_lead(world.tenant_b, world.rep_b)
    url = reverse("leads:lead-convert", args=[theirs.pk])
    client = login(world.admin_a)
    assert client.get(url).status_code == 404
    assert client.post(url, {"target": "new", "name": "抢来的"}).status_code == 404
    with scopes_disabled():
        assert Lead.objects.get(pk=theirs.pk).status == Lead.Status.NEW


# ---------------------------------------------------------------- 403


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
def test_a_refused_permission_is_a_403_with_its_message(world, login, headers):
    response = login(world.rep_east).post(reverse("errors-permission"), **headers)
    assert response.status_code == 403
    body = response.content.decode()
    assert zh(_("You do not have permission to do this.")) in body
    assert zh(_("You may not do this")) in body
    assert messages_of(response) == []


def test_a_missing_function_permission_keeps_the_generic_403_page(world, login):
    response = login(world.rep_east).get(reverse("leads:rule-list"))  # needs lead.manage
    assert response.status_code == 403
    body = response.content.decode()
    generic = _("Your role does not include this function. Ask your administrator if you need it.")
    assert zh(generic) in body
    assert zh(_("You may not do this")) in body


# ---------------------------------------------------------------- a refused rule


def test_a_refused_rule_in_htmx_is_a_422_with_the_message_out_of_band(world, login):
    response = login(world.rep_east).post(reverse("errors-rule"), **HTMX)
    assert response.status_code == 422
    assert response["HX-Reswap"] == "none"  # the target keeps its content
    body = response.content.decode()
    assert zh(RULE) in body
    assert 'id="messages"' in body and 'hx-swap-oob="true"' in body
    assert "<html" not in body  # a fragment, not a page


def test_a_refused_rule_in_htmx_follows_the_chosen_language(world, login):
    client = login(world.rep_east)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.post(reverse("errors-rule"), **HTMX)
    assert response.status_code == 422
    assert "This pool group is disabled." in response.content.decode()


def test_a_refused_rule_is_a_message_and_a_redirect_to_the_page_it_came_from(world, login):
    client = login(world.rep_east)
    came_from = "http://testserver" + reverse("customers:customer-list") + "?view=mine"
    response = client.post(reverse("errors-rule"), HTTP_REFERER=came_from)
    assert response.status_code == 302
    assert response["Location"] == came_from
    assert messages_of(response) == [zh(RULE)]
    # A posted ``next`` of this site wins; the message shows on the next page.
    response = client.post(reverse("errors-rule"), {"next": "/leads/"}, follow=True)
    assert response.redirect_chain[-1][0] == "/leads/"
    assert zh(RULE) in response.content.decode()


@pytest.mark.parametrize(
    "referer",
    [None, "https://evil.example/", "//evil.example/x", "http://testserver/_errors/rule/"],
    ids=["none", "other-site", "scheme-relative", "itself"],
)
def test_a_refused_rule_without_a_safe_page_to_go_back_to_goes_to_the_workbench(
    world, login, referer
):
    extra = {"HTTP_REFERER": referer} if referer else {}
    response = login(world.rep_east).get(reverse("errors-rule"), **extra)
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert messages_of(response) == [zh(RULE)]


def test_a_form_keeps_its_422_with_the_refusal_on_it(world, login):
    response = login(world.rep_east).post(reverse("errors-form", args=["rule"]), {"name": "x"})
    assert response.status_code == 422
    assert response.context["form"].non_field_errors() == [zh(RULE)]


# ---------------------------------------------------------------- batches fail as a whole


def _stars(*customers) -> int:
    with scopes_disabled():
        return CustomerStar.objects.filter(customer__in=customers).count()


@pytest.mark.parametrize("tenant", ["same", "other"])
def test_customer_batch_with_one_unseen_id_changes_nothing(world, login, tenant):
    mine = make_customer(world.tenant_a, world.rep_east, "我的客户")
    unseen = (
        make_customer(world.tenant_a, world.rep_west, "华西的客户")
        if tenant == "same"
        else make_customer(world.tenant_b, world.rep_b, "乙公司的客户")
    )
    response = login(world.rep_east).post(
        reverse("customers:customer-batch"), {"action": "star", "ids": [mine.pk, unseen.pk]}
    )
    # A selection is refused as a whole, as every batch refusal: a message, back to the list.
    assert response.status_code == 302
    assert _stars(mine, unseen) == 0
    refusal = ngettext(
        "%(count)d selected customer does not exist or is not visible to you; nothing was changed.",
        "%(count)d selected customers do not exist or are not visible to you; nothing was changed.",
        1,
    )
    assert messages_of(response) == [zh(refusal) % {"count": 1}]
    assert unseen.name not in " ".join(messages_of(response))


@pytest.mark.parametrize("tenant", ["same", "other"])
def test_lead_batch_with_one_unseen_id_changes_nothing(world, login, tenant):
    mine = make_lead(world.tenant_a, world.rep_east)
    unseen = (
        make_lead(world.tenant_a, world.rep_west, "华西的线索")
        if tenant == "same"
        else make_lead(world.tenant_b, world.rep_b, "乙公司的线索")
    )
    response = login(world.rep_east).post(
        reverse("leads:lead-batch"),
        {"action": "status", "ids": [mine.pk, unseen.pk], "status": "contacted"},
    )
    # A selection is refused as a whole, as every batch refusal: a message, back to the list.
    assert response.status_code == 302
    with scopes_disabled():
        assert Lead.objects.get(pk=mine.pk).status == Lead.Status.NEW
        assert Lead.objects.get(pk=unseen.pk).status == Lead.Status.NEW
    refusal = ngettext(
        "%(count)d selected lead does not exist or is not visible to you; nothing was changed.",
        "%(count)d selected leads do not exist or are not visible to you; nothing was changed.",
        1,
    )
    assert messages_of(response) == [zh(refusal) % {"count": 1}]
    assert unseen.name not in " ".join(messages_of(response))


def test_lead_conversion_batch_with_one_unseen_id_converts_nothing(world, login):
    mine = make_lead(world.tenant_a, world.rep_east, company="批量转化")
    unseen = make_lead(world.tenant_a, world.rep_west, "华西的线索")
    response = login(world.rep_east).post(
        reverse("leads:lead-convert-batch"), {"ids": [mine.pk, unseen.pk]}
    )
    assert response.status_code == 302
    refusal = ngettext(
        "%(count)d selected lead does not exist or is not visible to you; nothing was converted.",
        "%(count)d selected leads do not exist or are not visible to you; nothing was converted.",
        1,
    )
    assert messages_of(response) == [zh(refusal) % {"count": 1}]
    with scopes_disabled():
        assert Lead.objects.get(pk=mine.pk).status == Lead.Status.NEW
        assert not Customer.objects.filter(tenant=world.tenant_a).exists()


def test_export_of_selected_rows_with_one_unseen_id_exports_nothing(world, login):
    mine = make_customer(world.tenant_a, world.rep_east, "我的客户")
    unseen = make_customer(world.tenant_a, world.service_a, "售后的客户")  # not in sales
    refusal = ngettext(
        "%(count)d selected row does not exist or is not visible to you; nothing was exported.",
        "%(count)d selected rows do not exist or are not visible to you; nothing was exported.",
        1,
    )
    for actor, other in ((world.admin_a, 999_999), (world.manager_sales, unseen.pk)):
        response = login(actor).post(
            reverse("customers:customer-export"), {"ids": [mine.pk, other]}
        )
        assert response.status_code == 302, actor
        assert messages_of(response) == [zh(refusal) % {"count": 1}]
    with scopes_disabled():
        assert not ExportJob.objects.exists()


def test_claiming_another_tenants_pooled_customer_is_refused_without_its_name(world, login):
    theirs = pooled(make_group(world.tenant_b, "乙公海", open_to_all=True), "乙的池中客户")
    response = login(world.admin_a).post(reverse("customers:pool-claim"), {"ids": [theirs.pk]})
    assert response.status_code == 302
    [refusal] = get_messages(response.wsgi_request)
    assert refusal.level == messages.ERROR
    assert "1" in str(refusal.message) and "乙的池中客户" not in str(refusal.message)
    with scopes_disabled():
        after = Customer.objects.get(pk=theirs.pk)
    assert after.owner_id is None and after.pooled_at is not None
