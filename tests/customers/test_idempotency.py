"""Submitting a create form twice creates once (issue 15): the one-time form token of
``crm.idempotency`` on the create views of customers and leads, stars that say what they
want, saved searches saved again answering the same search, never a 500."""

from __future__ import annotations

import threading
from urllib.parse import unquote

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.urls import reverse
from django_scopes import scopes_disabled

from crm import idempotency
from crm.models import OptionKind
from crm.tenancy import tenant_scope
from customers import owned, services
from customers.models import (
    Attachment,
    Contact,
    Customer,
    CustomerStar,
    FollowUp,
    FollowUpComment,
    SavedSearch,
)
from leads.models import Lead
from tests.customers.factories import make_customer, make_followup, option
from tests.factories import PASSWORD
from tests.leads.factories import make_lead
from tests.pools.factories import fresh_user
from tests.pools.test_concurrency import _run_threads


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _count(model, **filters) -> int:
    with scopes_disabled():
        return model.objects.filter(**filters).count()


def _twice(client, url, data, **extra):
    """The same form (one token) posted twice, as a double click does."""
    data = {**data, idempotency.FIELD: idempotency.new_token()}
    first = client.post(url, data, **extra)
    again = {k: (_pdf() if k == "file" else v) for k, v in data.items()}
    second = client.post(url, again, **extra)
    return first, second


def _pdf():
    return SimpleUploadedFile("方案.pdf", b"%PDF-1.4 x", content_type="application/pdf")


# ---------------------------------------------------------------- the token on the forms


def test_create_forms_carry_a_fresh_token_and_edit_forms_none(world, as_user):
    client = as_user(world.rep_east)
    customer = make_customer(world.tenant_a, world.rep_east)
    field = f'name="{idempotency.FIELD}"'
    first = client.get(reverse("customers:customer-create")).content.decode()
    again = client.get(reverse("customers:customer-create")).content.decode()
    assert first.count(field) == 1 and first != again
    assert (
        field
        not in client.get(reverse("customers:customer-edit", args=[customer.pk])).content.decode()
    )
    assert field in client.get(reverse("leads:lead-create")).content.decode()
    detail = client.get(reverse("customers:customer-detail", args=[customer.pk]) + "?tab=followups")
    assert field in detail.content.decode()


# ---------------------------------------------------------------- double posts


def test_double_post_of_the_customer_form_creates_one_customer(world, as_user):
    client = as_user(world.rep_east)
    url = reverse("customers:customer-create")
    first, second = _twice(client, url, {"name": "双击客户", "visibility": "private"})
    with scopes_disabled():
        customer = Customer.objects.get(name="双击客户")
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert first["Location"] == reverse("customers:customer-detail", args=[customer.pk])


def test_a_refused_form_gives_its_token_back(world, as_user):
    client = as_user(world.rep_east)
    url = reverse("customers:customer-create")
    token = idempotency.new_token()
    refused = client.post(url, {"name": "", "visibility": "private", idempotency.FIELD: token})
    assert refused.status_code == 422
    fixed = client.post(
        url, {"name": "改好的客户", "visibility": "private", idempotency.FIELD: token}
    )
    assert fixed.status_code == 302
    assert _count(Customer, name="改好的客户") == 1


def test_a_token_is_the_users_own(world, as_user):
    url = reverse("customers:customer-create")
    token = idempotency.new_token()
    for user, name in ((world.rep_east, "东的客户"), (world.rep_west, "西的客户")):
        response = as_user(user).post(
            url, {"name": name, "visibility": "private", idempotency.FIELD: token}
        )
        assert response.status_code == 302
    assert _count(Customer, name__in=["东的客户", "西的客户"]) == 2


def test_double_post_of_the_lead_form_creates_one_lead(world, as_user):
    client = as_user(world.rep_east)
    first, second = _twice(
        client, reverse("leads:lead-create"), {"name": "张双击", "company": "双击公司"}
    )
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert _count(Lead, company="双击公司") == 1


def test_double_post_of_a_followup_with_htmx_saves_one_and_answers_the_same_tab(world, as_user):
    customer = make_customer(world.tenant_a, world.rep_east)
    kind = option(world.tenant_a, OptionKind.FOLLOWUP_TYPE)
    first, second = _twice(
        as_user(world.rep_east),
        reverse("customers:followup-create", args=[customer.pk]),
        {"kind": kind.pk, "content": "只记一次"},
        HTTP_HX_REQUEST="true",
    )
    assert first.status_code == second.status_code == 200
    assert second.content == first.content
    assert second["Content-Type"] == first["Content-Type"]
    assert _count(FollowUp, content="只记一次") == 1


def test_double_post_of_a_contact_saves_one(world, as_user):
    customer = make_customer(world.tenant_a, world.rep_east)
    first, second = _twice(
        as_user(world.rep_east),
        reverse("customers:contact-create", args=[customer.pk]),
        {"name": "双击联系人"},
    )
    assert first.status_code == second.status_code == 302
    assert _count(Contact, name="双击联系人") == 1


def test_double_post_of_a_comment_saves_one(world, as_user):
    customer = make_customer(world.tenant_a, world.rep_east)
    followup = make_followup(customer, world.rep_east)
    first, second = _twice(
        as_user(world.manager_sales),
        reverse("customers:followup-comment", args=[followup.pk]),
        {"content": "点评一次"},
    )
    assert first.status_code == second.status_code == 302
    assert _count(FollowUpComment, content="点评一次") == 1


def test_double_post_of_a_file_saves_one(world, as_user):
    customer = make_customer(world.tenant_a, world.rep_east)
    first, second = _twice(
        as_user(world.rep_east),
        reverse("customers:attachment-create", args=[customer.pk]),
        {"file": _pdf()},
    )
    assert first.status_code == second.status_code == 302
    with scopes_disabled():
        assert Attachment.objects.filter(owned.on(customer)).count() == 1


def test_double_post_of_a_lead_followup_and_file_saves_one_each(world, as_user):
    lead = make_lead(world.tenant_a, world.rep_east)
    kind = option(world.tenant_a, OptionKind.FOLLOWUP_TYPE)
    client = as_user(world.rep_east)
    _twice(
        client,
        reverse("leads:lead-followup-add", args=[lead.pk]),
        {"kind": kind.pk, "content": "线索只记一次"},
        HTTP_HX_REQUEST="true",
    )
    _twice(client, reverse("leads:lead-attachment-add", args=[lead.pk]), {"file": _pdf()})
    assert _count(FollowUp, content="线索只记一次") == 1
    with scopes_disabled():
        assert Attachment.objects.filter(owned.on(lead)).count() == 1


# ---------------------------------------------------------------- stars and saved searches


def test_double_click_on_star_stars_once_and_on_remove_star_removes(world, as_user):
    customer = make_customer(world.tenant_a, world.rep_east)
    client = as_user(world.rep_east)
    url = reverse("customers:customer-star", args=[customer.pk])
    page = client.get(reverse("customers:customer-detail", args=[customer.pk])).content.decode()
    assert 'name="starred" value="1"' in page
    for _ in range(2):
        assert client.post(url, {"starred": "1"}).status_code == 302
    assert _count(CustomerStar, customer=customer, user=world.rep_east) == 1
    for _ in range(2):
        assert client.post(url, {"starred": "0"}).status_code == 302
    assert _count(CustomerStar, customer=customer) == 0


def test_saving_the_same_search_twice_answers_the_saved_search(world, as_user):
    client = as_user(world.rep_east)
    url = reverse("customers:saved-search-create")
    data = {"name": "重点客户", "query": "q=长沙", "list_kind": "customers"}
    responses = [client.post(url, data) for _ in range(2)]
    for response in responses:
        assert response.status_code == 302
        assert unquote(response["Location"]) == reverse("customers:customer-list") + "?q=长沙"
    # Not followed, so both successes wait for the next page; no refusal among them.
    assert [str(m) for m in get_messages(responses[1].wsgi_request)] == ["Search saved."] * 2
    assert _count(SavedSearch, user=world.rep_east) == 1


def test_same_name_for_another_query_is_still_refused(world, scoped):
    with scoped(world.rep_east):
        first = services.saved_search_create(actor=world.rep_east, name="重点", query="a=1")
        assert services.saved_search_create(actor=world.rep_east, name="重点", query="a=1") == first
        with pytest.raises(services.ServiceError) as exc_info:
            services.saved_search_create(actor=world.rep_east, name="重点", query="a=2")
    assert exc_info.value.code == "duplicate"


# ---------------------------------------------------------------- at the same moment (PostgreSQL)

THREADS = 4


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_saves_of_one_search_and_stars_never_fail(world):
    customer = make_customer(world.tenant_a, world.rep_east)
    actor = fresh_user(world.rep_east)
    _ = actor.permission_codes
    results, lock = [], threading.Lock()

    def save(round_no):
        def run():
            with tenant_scope(actor.tenant_id):
                search = services.saved_search_create(
                    actor=actor, name=f"同时{round_no}", query=f"q={round_no}"
                )
                services.customer_star(actor=actor, customers=[customer], starred=True)
            with lock:
                results.append((round_no, search.pk))

        return run

    for round_no in range(5):
        assert _run_threads([save(round_no) for _ in range(THREADS)]) == []
    with scopes_disabled():
        assert SavedSearch.objects.filter(user=world.rep_east).count() == 5
        assert CustomerStar.objects.filter(customer=customer).count() == 1
    by_round = {}
    for round_no, pk in results:
        by_round.setdefault(round_no, set()).add(pk)
    assert all(len(pks) == 1 for pks in by_round.values()) and len(by_round) == 5


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_posts_of_one_form_create_one_customer_and_answer_alike(world):
    token = idempotency.new_token()
    url = reverse("customers:customer-create")
    clients = []
    for _ in range(THREADS):
        client = Client()
        assert client.login(username=world.rep_east.username, password=PASSWORD)
        clients.append(client)
    answers, lock = [], threading.Lock()

    def post(client):
        def run():
            response = client.post(
                url, {"name": "同时提交", "visibility": "private", idempotency.FIELD: token}
            )
            with lock:
                answers.append((response.status_code, response.get("Location")))
            connection.close()

        return run

    assert _run_threads([post(c) for c in clients]) == []
    with scopes_disabled():
        customer = Customer.objects.get(name="同时提交")
    location = reverse("customers:customer-detail", args=[customer.pk])
    assert answers == [(302, location)] * THREADS
