"""Customer pages and actions through HTTP: login, visibility (404 for what may not be seen,
a message for a visible record with a forbidden action), all-or-nothing batches, the
duplicate warning, htmx fragments, files, merge, the follow-up feed and its export, saved
searches, the counts of the list views, and a fixed number of queries per list page.

The client chooses English (the language cookie) so messages are asserted as written in the
code; the pages are Chinese by default.
"""

from __future__ import annotations

import datetime
import io
import re
from types import SimpleNamespace
from urllib.parse import quote, unquote

import openpyxl
import pytest
from django.contrib.messages import get_messages
from django.contrib.messages.storage.session import SessionStorage
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.shortcuts import resolve_url
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, get_resolver, reverse
from django.utils import timezone
from django_scopes import scopes_disabled

from crm.models import DataScope, OptionKind
from customers import services
from customers.models import (
    Attachment,
    Contact,
    Customer,
    CustomerParticipant,
    CustomerStar,
    FollowUp,
    OwnershipEvent,
    SavedSearch,
)
from customers.views.customers import TABS
from tests.conftest import PASSWORD
from tests.customers.factories import (
    exists,
    fresh,
    make_contact,
    make_customer,
    make_followup,
    make_participant,
    make_star,
    make_tag,
    option,
    tag_customer,
)
from tests.factories import make_role, make_user

# ---------------------------------------------------------------- helpers and data


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


class OwnMessagesClient(Client):
    """A client whose every request starts without unread messages: redirects are not
    followed here, so each response's messages are only the ones it added."""

    def request(self, **request):
        session = self.session
        if session.pop(SessionStorage.session_key, None) is not None:
            session.save()
        return super().request(**request)


@pytest.fixture
def as_user(settings):
    """``as_user(user)``: a fresh client signed in as ``user``, with English chosen."""

    def do(user) -> Client:
        client = OwnMessagesClient()
        assert client.login(username=user.username, password=PASSWORD)
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        return client

    return do


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def count(model, **lookup) -> int:
    with scopes_disabled():
        return model.objects.filter(**lookup).count()


def add_attachment(customer, user, name="报价单.pdf", content=b"%PDF-1.4 tidepool\n"):
    with scopes_disabled():
        attachment = Attachment(
            tenant_id=customer.tenant_id,
            record=customer,
            customer=customer,
            original_name=name,
            size=len(content),
            content_type="application/pdf",
            uploaded_by=user,
        )
        attachment.file.save(name, ContentFile(content), save=False)
        attachment.save()
        return attachment


@pytest.fixture
def d(world):
    """Customers of tenant A, named after who owns them.

    * ``east``: rep_east's private customer, with a contact and a follow-up;
    * ``west``: rep_west's private customer (rep_east may not see it), with a contact whose
      mobile is 13911112222, a follow-up and a file;
    * ``west_public``: rep_west's public customer (everybody reads, only the owner's side
      edits), with a contact;
    * ``pool``: nobody's customer.
    """
    w = world
    east = make_customer(w.tenant_a, w.rep_east, "华东私有客户")
    west = make_customer(w.tenant_a, w.rep_west, "华西私有客户")
    west_public = make_customer(w.tenant_a, w.rep_west, "华西公开客户", visibility="public")
    pool = make_customer(w.tenant_a, None, "无主客户")
    return SimpleNamespace(
        w=w,
        east=east,
        east_contact=make_contact(east, "东联系人", mobile="13900000001"),
        east_followup=make_followup(east, w.rep_east, "华东电话沟通"),
        west=west,
        west_contact=make_contact(west, "西联系人", mobile="13911112222"),
        west_followup=make_followup(west, w.rep_west, "华西上门拜访"),
        west_attachment=add_attachment(west, w.rep_west),
        west_public=west_public,
        public_contact=make_contact(west_public, "公开联系人"),
        pool=pool,
        followup_kind=option(w.tenant_a, OptionKind.FOLLOWUP_TYPE),
        status=option(w.tenant_a, OptionKind.CUSTOMER_STATUS),
    )


# ---------------------------------------------------------------- anonymous

# Every customers URL, with the kwargs of an object of tenant A.
URL_KWARGS = {
    "customer-list": lambda d: {},
    "customer-create": lambda d: {},
    "customer-batch": lambda d: {},
    "customer-export": lambda d: {},
    "import-start": lambda d: {},
    "import-template": lambda d: {},
    "customer-merge": lambda d: {},
    "customer-duplicates": lambda d: {},
    "customer-duplicate-check": lambda d: {},
    "saved-search-create": lambda d: {},
    "saved-search-delete": lambda d: {
        "pk": SavedSearch.objects.create(
            tenant=d.w.tenant_a, user=d.w.rep_east, name="s", query="view=all"
        ).pk
    },
    "customer-detail": lambda d: {"pk": d.east.pk},
    "customer-edit": lambda d: {"pk": d.east.pk},
    "customer-tab": lambda d: {"pk": d.east.pk, "tab": "contacts"},
    "customer-lock": lambda d: {"pk": d.east.pk},
    "customer-star": lambda d: {"pk": d.east.pk},
    "customer-participants": lambda d: {"pk": d.east.pk},
    "customer-participant-remove": lambda d: {
        "pk": d.east.pk,
        "user_pk": make_participant(d.east, d.w.rep_east2).user_id,
    },
    "followup-create": lambda d: {"pk": d.east.pk},
    "contact-create": lambda d: {"pk": d.east.pk},
    "attachment-create": lambda d: {"pk": d.east.pk},
    "attachment-download": lambda d: {"pk": d.west_attachment.pk},
    "attachment-delete": lambda d: {"pk": d.west_attachment.pk},
    "contact-list": lambda d: {},
    "contact-export": lambda d: {},
    "contact-edit": lambda d: {"pk": d.east_contact.pk},
    "contact-delete": lambda d: {"pk": d.east_contact.pk},
    "followup-feed": lambda d: {},
    "followup-export": lambda d: {},
    "followup-comment": lambda d: {"pk": d.east_followup.pk},
    # The public pool's list and actions (customers.views.pool).
    "pool-list": lambda d: {},
    "pool-claim": lambda d: {},
    "pool-assign": lambda d: {},
    "pool-move": lambda d: {},
    "pool-return": lambda d: {},
    "pool-export": lambda d: {},
}


def test_every_customers_url_is_in_the_anonymous_list():
    [customers] = [
        p for p in get_resolver().url_patterns if getattr(p, "namespace", None) == "customers"
    ]
    names = {p.name for p in customers.url_patterns if isinstance(p, URLPattern)}
    assert names == set(URL_KWARGS)


@pytest.mark.parametrize("name", sorted(URL_KWARGS))
def test_anonymous_is_sent_to_the_login_page(name, d, client):
    with scopes_disabled():
        url = reverse(f"customers:{name}", kwargs=URL_KWARGS[name](d))
    login = resolve_url("login")
    for response in (client.get(url), client.post(url, {"name": "x", "ids": [d.east.pk]})):
        assert response.status_code == 302
        assert response["Location"].startswith(f"{login}?next=")
    assert fresh(d.east).name == "华东私有客户"
    assert exists(d.west_attachment) and exists(d.east_contact)


# ---------------------------------------------------------------- visibility


def _private_get_urls(d) -> list[str]:
    pk = d.west.pk
    return [
        reverse("customers:customer-detail", args=[pk]),
        reverse("customers:customer-edit", args=[pk]),
        *(reverse("customers:customer-tab", args=[pk, key]) for key, _label in TABS),
        *(f"{reverse('customers:customer-detail', args=[pk])}?tab={key}" for key, _l in TABS),
        reverse("customers:attachment-download", args=[d.west_attachment.pk]),
        reverse("customers:contact-edit", args=[d.west_contact.pk]),
    ]


def test_rep_gets_404_for_another_reps_private_customer(d, as_user):
    client = as_user(d.w.rep_east)
    for url in _private_get_urls(d):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "华西私有客户" not in response.content.decode(), url
    # Actions on it are 404 too, and change nothing.
    pk = d.west.pk
    posts = {
        reverse("customers:customer-lock", args=[pk]): {},
        reverse("customers:customer-star", args=[pk]): {},
        reverse("customers:customer-participants", args=[pk]): {"users": [d.w.rep_east.pk]},
        reverse("customers:followup-create", args=[pk]): {
            "kind": d.followup_kind.pk,
            "content": "偷偷跟进",
        },
        reverse("customers:contact-create", args=[pk]): {"name": "偷偷加的"},
        reverse("customers:attachment-create", args=[pk]): {
            "file": SimpleUploadedFile("x.txt", b"x")
        },
        reverse("customers:attachment-delete", args=[d.west_attachment.pk]): {},
        reverse("customers:contact-edit", args=[d.west_contact.pk]): {"name": "改名"},
        reverse("customers:contact-delete", args=[d.west_contact.pk]): {},
    }
    for url, data in posts.items():
        assert client.post(url, data).status_code == 404, url
    west = fresh(d.west)
    assert not west.is_locked and west.last_followup_at is None
    assert count(CustomerStar, customer=d.west) == 0
    assert count(CustomerParticipant, customer=d.west) == 0
    assert count(FollowUp, customer=d.west) == 1
    assert count(Contact, customer=d.west) == 1
    assert fresh(d.west_contact).name == "西联系人"
    assert count(Attachment, customer=d.west) == 1


def test_manager_opens_a_private_customer_of_the_department(d, as_user):
    client = as_user(d.w.manager_sales)
    for url in _private_get_urls(d):
        assert client.get(url).status_code == 200, url
    page = client.get(reverse("customers:customer-detail", args=[d.west.pk])).content.decode()
    assert "华西私有客户" in page
    assert reverse("customers:customer-edit", args=[d.west.pk]) in page


def test_public_customer_is_readable_but_not_changeable_by_another_rep(d, as_user):
    client = as_user(d.w.rep_east)
    pk = d.west_public.pk
    detail = client.get(reverse("customers:customer-detail", args=[pk]))
    assert detail.status_code == 200
    page = detail.content.decode()
    assert "华西公开客户" in page
    # Issue 16: the primary contact is in the header (the others on the contacts tab).
    assert 'data-testid="primary-contact"' in page and "公开联系人" in page
    assert reverse("customers:customer-edit", args=[pk]) not in page  # no edit button
    for key, _label in TABS:
        assert client.get(reverse("customers:customer-tab", args=[pk, key])).status_code == 200
    contacts = client.get(reverse("customers:customer-tab", args=[pk, "contacts"]))
    assert "公开联系人" in contacts.content.decode()
    assert reverse("customers:contact-delete", args=[d.public_contact.pk]) not in (
        contacts.content.decode()
    )

    edit = client.get(reverse("customers:customer-edit", args=[pk]))
    assert edit.status_code == 302
    assert edit["Location"] == reverse("customers:customer-detail", args=[pk])
    assert messages_of(edit) == ["This customer is locked or read-only for you."]
    post_edit = client.post(
        reverse("customers:customer-edit", args=[pk]), {"name": "改掉", "visibility": "public"}
    )
    assert post_edit.status_code == 302
    assert fresh(d.west_public).name == "华西公开客户"

    refused = (
        "You may not change these customers (locked or read-only): 华西公开客户. "
        "Nothing was changed."
    )
    lock = client.post(reverse("customers:customer-lock", args=[pk]))
    assert lock.status_code == 302
    assert messages_of(lock) == [refused]
    assert fresh(d.west_public).is_locked is False

    contact = client.post(
        reverse("customers:contact-create", args=[pk]), {"name": "外人加的联系人"}
    )
    assert contact.status_code == 302
    assert messages_of(contact) == [refused]
    assert count(Contact, customer=d.west_public) == 1

    htmx_contact = client.post(
        reverse("customers:contact-create", args=[pk]),
        {"name": "外人加的联系人"},
        HTTP_HX_REQUEST="true",
    )
    assert htmx_contact.status_code == 422
    assert 'id="messages"' in htmx_contact.content.decode()  # out of band, for htmx
    assert refused in htmx_contact.content.decode()

    participants = client.post(
        reverse("customers:customer-participants", args=[pk]), {"users": [d.w.rep_east.pk]}
    )
    assert participants.status_code == 302
    assert messages_of(participants) == [refused]
    assert count(CustomerParticipant, customer=d.west_public) == 0

    # Its contacts are read on the tab; their edit page sends back with a message.
    contacts_tab = f"{reverse('customers:customer-detail', args=[pk])}?tab=contacts"
    for response in (
        client.get(reverse("customers:contact-edit", args=[d.public_contact.pk])),
        client.post(
            reverse("customers:contact-edit", args=[d.public_contact.pk]), {"name": "改名"}
        ),
    ):
        assert response.status_code == 302
        assert response["Location"] == contacts_tab
        assert messages_of(response) == ["This customer is locked or read-only for you."]
    assert fresh(d.public_contact).name == "公开联系人"
    deleted = client.post(reverse("customers:contact-delete", args=[d.public_contact.pk]))
    assert messages_of(deleted) == [refused]
    assert exists(d.public_contact)

    # A star is personal: allowed on anything visible.
    star = client.post(reverse("customers:customer-star", args=[pk]))
    assert star.status_code == 302
    assert count(CustomerStar, customer=d.west_public, user=d.w.rep_east) == 1


def test_participant_without_edit_grant_may_follow_up_but_not_edit(d, as_user):
    make_participant(d.west, d.w.rep_east)
    client = as_user(d.w.rep_east)
    assert client.get(reverse("customers:customer-detail", args=[d.west.pk])).status_code == 200
    assert client.get(reverse("customers:customer-edit", args=[d.west.pk])).status_code == 302
    response = client.post(
        reverse("customers:followup-create", args=[d.west.pk]),
        {"kind": d.followup_kind.pk, "content": "一起跟进"},
    )
    assert response.status_code == 302
    assert count(FollowUp, customer=d.west, created_by=d.w.rep_east) == 1


# ---------------------------------------------------------------- batch actions


def batch(client, action, ids, **extra):
    return client.post(reverse("customers:customer-batch"), {"action": action, "ids": ids, **extra})


def test_batch_with_one_invisible_id_changes_nothing(d, as_user):
    client = as_user(d.w.rep_east)
    tag = make_tag(d.w.tenant_a, "重点")
    refused = "1 selected customer does not exist or is not visible to you; nothing was changed."
    cases = [
        ("star", {}),
        ("tag_add", {"tag_name": "重点"}),
        ("status", {"status": d.status.pk}),
        ("participants", {"users": [d.w.rep_east2.pk]}),
    ]
    for action, extra in cases:
        response = batch(client, action, [d.east.pk, d.west.pk], **extra)
        assert response.status_code == 302, action
        assert response["Location"] == reverse("customers:customer-list")
        assert messages_of(response) == [refused], action
    east = fresh(d.east)
    assert east.status_id is None
    assert count(CustomerStar, user=d.w.rep_east) == 0
    assert count(Customer, tags=tag) == 0
    assert count(CustomerParticipant, customer=d.east) == 0
    # A missing id is refused the same way as an invisible one.
    response = batch(client, "star", [d.east.pk, 999_999])
    assert messages_of(response) == [refused]
    assert count(CustomerStar, user=d.w.rep_east) == 0


def test_batch_without_ids_is_refused_with_a_message(d, as_user):
    response = batch(as_user(d.w.rep_east), "star", [])
    assert response.status_code == 302
    assert messages_of(response) == ["This field is required."]


def test_batch_goes_back_to_the_list_it_came_from(d, as_user):
    response = batch(as_user(d.w.rep_east), "star", [d.east.pk], next="/customers/?view=starred")
    assert response["Location"] == "/customers/?view=starred"
    for target in ("//evil.example/", "/\\evil.example/", "https://evil.example/", "x"):
        evil = batch(as_user(d.w.rep_east), "star", [d.east.pk], next=target)
        assert evil["Location"] == reverse("customers:customer-list"), target


def test_transfer_needs_the_transfer_permission(d, as_user):
    response = batch(as_user(d.w.rep_east), "transfer", [d.east.pk], to_user=d.w.rep_east2.pk)
    assert response.status_code == 302
    assert messages_of(response) == ["You do not have permission to do this."]
    assert fresh(d.east).owner_id == d.w.rep_east.pk
    assert count(OwnershipEvent, customer=d.east, kind=OwnershipEvent.Kind.TRANSFERRED) == 0


def test_manager_transfers_customers_and_ownership_events_are_written(d, as_user):
    response = batch(
        as_user(d.w.manager_sales),
        "transfer",
        [d.east.pk, d.west.pk],
        to_user=d.w.rep_east2.pk,
    )
    assert response.status_code == 302
    # Issue 16: the message names (and links) what was transferred, and to whom.
    east_url = reverse("customers:customer-detail", args=[d.east.pk])
    west_url = reverse("customers:customer-detail", args=[d.west.pk])
    assert messages_of(response) == [
        f'Transferred 2 customers to {d.w.rep_east2}: <a href="{east_url}">{d.east.name}</a>'
        f'、<a href="{west_url}">{d.west.name}</a>'
    ]
    for customer, before in ((d.east, d.w.rep_east), (d.west, d.w.rep_west)):
        assert fresh(customer).owner_id == d.w.rep_east2.pk
        with scopes_disabled():
            [event] = OwnershipEvent.objects.filter(
                customer=customer, kind=OwnershipEvent.Kind.TRANSFERRED
            )
        assert (event.from_user_id, event.to_user_id, event.actor_id) == (
            before.pk,
            d.w.rep_east2.pk,
            d.w.manager_sales.pk,
        )


def test_transfer_outside_the_managers_scope_changes_nothing(d, as_user, world):
    service_customer = make_customer(world.tenant_a, world.service_a, "售后部的客户")
    response = batch(
        as_user(world.manager_sales),
        "transfer",
        [d.east.pk, service_customer.pk],
        to_user=world.rep_east2.pk,
    )
    assert messages_of(response) == [
        "1 selected customer does not exist or is not visible to you; nothing was changed."
    ]
    assert fresh(d.east).owner_id == world.rep_east.pk
    assert fresh(service_customer).owner_id == world.service_a.pk


def test_tags_star_and_status_in_batch(d, as_user):
    client = as_user(d.w.rep_east)
    mine2 = make_customer(d.w.tenant_a, d.w.rep_east, "华东第二客户")
    ids = [d.east.pk, mine2.pk]

    assert messages_of(batch(client, "tag_add", ids, tag_name=" 重点 ")) == ["Done: 2 customers."]
    with scopes_disabled():
        assert sorted(Customer.objects.filter(tags__name="重点").values_list("pk", flat=True)) == (
            sorted(ids)
        )
    batch(client, "tag_remove", [mine2.pk], tag_name="重点")
    with scopes_disabled():
        assert list(Customer.objects.filter(tags__name="重点").values_list("pk", flat=True)) == [
            d.east.pk
        ]

    # Stars work on what is visible without edit rights (the public customer).
    batch(client, "star", [*ids, d.west_public.pk])
    assert count(CustomerStar, user=d.w.rep_east) == 3
    batch(client, "unstar", [mine2.pk])
    with scopes_disabled():
        starred = set(
            CustomerStar.objects.filter(user=d.w.rep_east).values_list("customer_id", flat=True)
        )
    assert starred == {d.east.pk, d.west_public.pk}

    batch(client, "status", ids, status=d.status.pk)
    assert fresh(d.east).status_id == d.status.pk == fresh(mine2).status_id


def test_tag_add_on_a_public_customer_of_another_rep_is_refused(d, as_user):
    response = batch(as_user(d.w.rep_east), "tag_add", [d.east.pk, d.west_public.pk], tag_name="t")
    assert messages_of(response) == [
        "You may not change these customers (locked or read-only): 华西公开客户. "
        "Nothing was changed."
    ]
    assert count(Customer, tags__name="t") == 0


def test_trash_restore_and_purge_need_the_delete_permission(d, as_user):
    for user in (d.w.rep_east, d.w.manager_sales):
        response = batch(as_user(user), "trash", [d.east.pk])
        assert messages_of(response) == ["You do not have permission to do this."]
        assert fresh(d.east).deleted_at is None

    admin = as_user(d.w.admin_a)
    assert messages_of(batch(admin, "trash", [d.east.pk, d.west.pk])) == ["Done: 2 customers."]
    assert fresh(d.east).deleted_at is not None and fresh(d.west).deleted_at is not None
    assert admin.get(reverse("customers:customer-detail", args=[d.east.pk])).status_code == 404
    bin_page = admin.get(reverse("customers:customer-list"), {"view": "bin"})
    assert "华东私有客户" in bin_page.content.decode()

    rep = as_user(d.w.rep_east)
    assert messages_of(batch(rep, "restore", [d.east.pk])) == [
        "You do not have permission to do this."
    ]
    assert messages_of(batch(rep, "purge", [d.east.pk])) == [
        "You do not have permission to do this."
    ]
    assert fresh(d.east).deleted_at is not None

    assert messages_of(batch(admin, "restore", [d.east.pk])) == ["Done: 1 customers."]
    assert fresh(d.east).deleted_at is None
    # Purge only takes customers from the recycle bin.
    assert messages_of(batch(admin, "purge", [d.east.pk])) == [
        "1 selected customer does not exist or is not visible to you; nothing was changed."
    ]
    assert exists(d.east)
    assert messages_of(batch(admin, "purge", [d.west.pk])) == ["Done: 1 customers."]
    assert not exists(d.west)
    assert not exists(d.west_contact) and not exists(d.west_attachment)


# ---------------------------------------------------------------- create and edit


def test_create_page_and_customer_created_with_its_first_contact(d, as_user):
    client = as_user(d.w.rep_east)
    assert client.get(reverse("customers:customer-create")).status_code == 200
    response = client.post(
        reverse("customers:customer-create"),
        {
            "name": "长沙新客户",
            "contact_name": "李四",
            "contact_phone": "139 0731 0000",
            "visibility": "private",
            "status": d.status.pk,
        },
    )
    assert response.status_code == 302
    with scopes_disabled():
        customer = Customer.objects.get(name="长沙新客户")
        contact = customer.contacts.get()
    assert response["Location"] == reverse("customers:customer-detail", args=[customer.pk])
    assert messages_of(response) == ["Customer 长沙新客户 was created."]
    assert (customer.owner_id, customer.created_by_id, customer.status_id) == (
        d.w.rep_east.pk,
        d.w.rep_east.pk,
        d.status.pk,
    )
    assert (contact.name, contact.mobile) == ("李四", "13907310000")


def test_create_with_missing_name_is_422(d, as_user):
    response = as_user(d.w.rep_east).post(
        reverse("customers:customer-create"), {"name": "", "visibility": "private"}
    )
    assert response.status_code == 422
    assert count(Customer, tenant=d.w.tenant_a) == 4


def test_duplicate_warning_then_confirmed_creation(d, as_user):
    client = as_user(d.w.rep_east)
    data = {
        "name": "全新名字",
        "contact_name": "王五",
        "contact_phone": "13911112222",  # the mobile of rep_west's private customer's contact
        "visibility": "private",
    }
    first = client.post(reverse("customers:customer-create"), data)
    assert first.status_code == 422
    page = first.content.decode()
    warning = page[page.index('data-testid="duplicate-warning"') :]
    # rep_east may not open it: that it exists and its owner's name, not its name, no link.
    assert "A customer exists, owned by rep_west." in warning
    assert "华西私有客户" not in page
    assert reverse("customers:customer-detail", args=[d.west.pk]) not in page
    assert count(Customer, name="全新名字") == 0

    second = client.post(reverse("customers:customer-create"), {**data, "confirm_duplicates": "on"})
    assert second.status_code == 302
    with scopes_disabled():
        created = Customer.objects.get(name="全新名字")
    assert second["Location"] == reverse("customers:customer-detail", args=[created.pk])
    assert created.owner_id == d.w.rep_east.pk


def test_duplicate_warning_links_a_visible_match(d, as_user):
    response = as_user(d.w.rep_east).post(
        reverse("customers:customer-create"), {"name": "华东私有客户", "visibility": "private"}
    )
    assert response.status_code == 422
    assert reverse("customers:customer-detail", args=[d.east.pk]) in response.content.decode()


def test_live_duplicate_check_fragment(d, as_user):
    client = as_user(d.w.rep_east)
    response = client.get(
        reverse("customers:customer-duplicate-check"), {"contact_phone": "13911112222"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    # rep_east may not open 华西私有客户: it exists, owned by rep_west; no name, no link.
    assert 'data-testid="duplicate-warning"' in html
    assert "A customer exists, owned by rep_west." in html and "华西私有客户" not in html
    assert "<html" not in html
    nothing = client.get(reverse("customers:customer-duplicate-check"), {"name": "完全不同"})
    assert 'data-testid="duplicate-warning"' not in nothing.content.decode()
    # On the edit form the customer itself is not its own duplicate.
    itself = client.get(
        reverse("customers:customer-duplicate-check"),
        {"name": "华东私有客户", "exclude": d.east.pk},
    )
    assert "华东私有客户" not in itself.content.decode()


def test_owner_edits_the_customer(d, as_user):
    client = as_user(d.w.rep_east)
    assert client.get(reverse("customers:customer-edit", args=[d.east.pk])).status_code == 200
    response = client.post(
        reverse("customers:customer-edit", args=[d.east.pk]),
        {
            "name": "华东私有客户（改）",
            "visibility": "public",
            "province": "湖南省",
            "city": "长沙市",
        },
    )
    assert response.status_code == 302
    customer = fresh(d.east)
    assert (customer.name, customer.visibility, customer.city) == (
        "华东私有客户（改）",
        "public",
        "长沙市",
    )


def test_lock_and_unlock_by_the_owner(d, as_user):
    client = as_user(d.w.rep_east)
    url = reverse("customers:customer-lock", args=[d.east.pk])
    assert client.post(url).status_code == 302
    assert fresh(d.east).is_locked
    # Locked: the manager (scope, no grant) may no longer edit it.
    manager = as_user(d.w.manager_sales)
    assert manager.get(reverse("customers:customer-edit", args=[d.east.pk])).status_code == 302
    client.post(url)
    assert not fresh(d.east).is_locked


# ---------------------------------------------------------------- follow-ups


def _local_input(dt: datetime.datetime) -> str:
    return timezone.localtime(dt).strftime("%Y-%m-%dT%H:%M")


def test_followup_create_with_htmx_returns_the_tab_and_sets_the_next_followup(d, as_user):
    client = as_user(d.w.rep_east)
    next_at = (timezone.now() + datetime.timedelta(days=2)).replace(second=0, microsecond=0)
    response = client.post(
        reverse("customers:followup-create", args=[d.east.pk]),
        {
            "kind": d.followup_kind.pk,
            "contact": d.east_contact.pk,
            "content": "约好下周二上门",
            "next_followup_at": _local_input(next_at),
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html and 'id="followup-form"' in html
    assert "约好下周二上门" in html and "华东电话沟通" in html
    # The message travels out of band now, rather than waiting for the next page.
    assert re.search(
        r'<div id="messages"[^>]*hx-swap-oob="true">\s*<div[^>]*>Follow-up saved.', html
    )
    assert SessionStorage.session_key not in client.session  # nothing left for later
    customer = fresh(d.east)
    assert customer.next_followup_at == next_at
    assert customer.last_followup_at is not None
    with scopes_disabled():
        followup = FollowUp.objects.get(content="约好下周二上门")
    assert (followup.created_by_id, followup.contact_id) == (d.w.rep_east.pk, d.east_contact.pk)


def test_followup_with_errors_is_422_with_htmx_and_a_message_without(d, as_user):
    client = as_user(d.w.rep_east)
    url = reverse("customers:followup-create", args=[d.east.pk])
    htmx = client.post(url, {"kind": d.followup_kind.pk, "content": ""}, HTTP_HX_REQUEST="true")
    assert htmx.status_code == 422
    assert 'id="followup-form"' in htmx.content.decode()
    past = client.post(
        url,
        {
            "kind": d.followup_kind.pk,
            "content": "时间倒了",
            "next_followup_at": _local_input(timezone.now() - datetime.timedelta(days=1)),
        },
    )
    assert past.status_code == 302
    assert messages_of(past) == ["The next follow-up must be after this one."]
    assert count(FollowUp, customer=d.east) == 1


def test_followup_on_a_public_customer_of_another_rep_is_refused(d, as_user):
    response = as_user(d.w.rep_east).post(
        reverse("customers:followup-create", args=[d.west_public.pk]),
        {"kind": d.followup_kind.pk, "content": "路过"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert "You may not add follow-ups to this customer." in response.content.decode()
    assert count(FollowUp, customer=d.west_public) == 0


def test_manager_comments_on_a_followup_and_a_rep_may_not(d, as_user):
    url = reverse("customers:followup-comment", args=[d.east_followup.pk])
    response = as_user(d.w.manager_sales).post(url, {"content": "客户预算要问清楚"})
    assert response.status_code == 302
    assert response["Location"] == reverse("customers:followup-feed")
    assert count(FollowUp, comments__content="客户预算要问清楚") == 1
    # rep_west cannot see rep_east's customer: 404, not a refusal.
    assert as_user(d.w.rep_west).post(url, {"content": "x"}).status_code == 404
    own = as_user(d.w.rep_east).post(url, {"content": "自己点评自己"})
    assert messages_of(own) == ["Only the author's managers comment on follow-ups."]


# ---------------------------------------------------------------- contacts


def test_contact_create_edit_and_delete(d, as_user):
    client = as_user(d.w.rep_east)
    created = client.post(
        reverse("customers:contact-create", args=[d.east.pk]),
        {"name": "新联系人", "mobile": "139-0000-0002", "is_decision_maker": "on"},
    )
    assert created.status_code == 302
    assert created["Location"].endswith(f"/customers/{d.east.pk}/?tab=contacts")
    with scopes_disabled():
        contact = Contact.objects.get(name="新联系人")
    assert (contact.mobile, contact.is_decision_maker, contact.tenant_id) == (
        "13900000002",
        True,
        d.w.tenant_a.pk,
    )

    htmx = client.post(
        reverse("customers:contact-create", args=[d.east.pk]),
        {"name": "第三个联系人"},
        HTTP_HX_REQUEST="true",
    )
    assert htmx.status_code == 200
    assert "第三个联系人" in htmx.content.decode() and "<html" not in htmx.content.decode()

    bad = client.post(
        reverse("customers:contact-create", args=[d.east.pk]),
        {"name": "号码错", "mobile": "123"},
        HTTP_HX_REQUEST="true",
    )
    assert bad.status_code == 422
    assert count(Contact, name="号码错") == 0

    edit_url = reverse("customers:contact-edit", args=[contact.pk])
    assert client.get(edit_url).status_code == 200
    saved = client.post(edit_url, {"name": "新联系人", "title": "采购经理"})
    assert saved.status_code == 302
    assert messages_of(saved) == ["Contact saved."]
    assert fresh(contact).title == "采购经理"
    invalid = client.post(edit_url, {"name": ""})
    assert invalid.status_code == 422

    deleted = client.post(reverse("customers:contact-delete", args=[contact.pk]))
    assert deleted.status_code == 302
    assert not exists(contact)


def test_contact_list_shows_only_contacts_of_visible_customers(d, as_user):
    page = as_user(d.w.rep_east).get(reverse("customers:contact-list")).content.decode()
    assert "东联系人" in page and "公开联系人" in page
    assert "西联系人" not in page
    found = as_user(d.w.manager_sales).get(reverse("customers:contact-list"), {"q": "西联系"})
    assert "西联系人" in found.content.decode() and "东联系人" not in found.content.decode()


# ---------------------------------------------------------------- attachments


def test_attachment_upload_download_and_delete(d, as_user):
    client = as_user(d.w.rep_east)
    content = b"quote v1\n" * 100
    response = client.post(
        reverse("customers:attachment-create", args=[d.east.pk]),
        {"file": SimpleUploadedFile("报价 v1.txt", content, content_type="text/plain")},
    )
    assert response.status_code == 302
    assert response["Location"].endswith("?tab=attachments")
    with scopes_disabled():
        attachment = Attachment.objects.get(customer=d.east)
    assert (attachment.original_name, attachment.size, attachment.tenant_id) == (
        "报价 v1.txt",
        len(content),
        d.w.tenant_a.pk,
    )

    url = reverse("customers:attachment-download", args=[attachment.pk])
    download = client.get(url)
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment;")
    assert f"filename*=utf-8''{quote('报价 v1.txt')}" in download["Content-Disposition"]
    assert b"".join(download.streaming_content) == content

    assert as_user(d.w.rep_west).get(url).status_code == 404
    manager = as_user(d.w.manager_sales).get(url)
    assert manager.status_code == 200 and b"".join(manager.streaming_content) == content

    assert client.post(reverse("customers:attachment-delete", args=[attachment.pk])).status_code
    assert not exists(attachment)


def test_attachment_refusals(d, as_user):
    client = as_user(d.w.rep_east)
    url = reverse("customers:attachment-create", args=[d.east.pk])
    exe = client.post(url, {"file": SimpleUploadedFile("setup.exe", b"MZ")})
    assert messages_of(exe) == [
        "This file type is not accepted: .exe. Upload documents, spreadsheets, images, "
        "archives or recordings."
    ]
    none = client.post(url, {})
    assert messages_of(none) == ["Choose a file."]
    assert count(Attachment, customer=d.east) == 0


def test_attachment_with_a_missing_file_is_404(d, as_user):
    d.west_attachment.file.delete(save=False)
    url = reverse("customers:attachment-download", args=[d.west_attachment.pk])
    assert as_user(d.w.manager_sales).get(url).status_code == 404


# ---------------------------------------------------------------- merge


@pytest.fixture
def merger(world):
    """A rep (scope "own") whose role also holds customer.delete, which merging needs."""
    role = make_role(world.tenant_a, "可删除的销售", DataScope.OWN, ["customer.delete"])
    return make_user(world.tenant_a, "rep_merger", role=role, department=world.east)


def test_merge_needs_the_delete_permission(d, as_user):
    other = make_customer(d.w.tenant_a, d.w.rep_east, "华东私有客户（重复）")
    url = reverse("customers:customer-merge")
    for user in (d.w.rep_east, d.w.manager_sales):
        client = as_user(user)
        assert client.get(url, {"ids": [d.east.pk, other.pk]}).status_code == 403
        response = client.post(url, {"ids": [d.east.pk, other.pk], "keep": d.east.pk})
        assert response.status_code == 403
        # …and the list offers no merge button.
        list_page = client.get(reverse("customers:customer-list")).content.decode()
        assert f'formaction="{url}"' not in list_page
    assert exists(other)
    assert f'formaction="{url}"' in (
        as_user(d.w.admin_a).get(reverse("customers:customer-list")).content.decode()
    )


def test_merge_page_and_merge(d, as_user, merger):
    client = as_user(merger)
    keep = make_customer(d.w.tenant_a, merger, "合并保留客户")
    other = make_customer(d.w.tenant_a, merger, "合并保留客户（重复）")
    other_contact = make_contact(other, "重复联系人")
    url = reverse("customers:customer-merge")
    page = client.get(url, {"ids": [keep.pk, other.pk]})
    assert page.status_code == 200
    html = page.content.decode()
    assert "合并保留客户" in html and "合并保留客户（重复）" in html

    response = client.post(url, {"ids": [keep.pk, other.pk], "keep": keep.pk})
    assert response.status_code == 302
    assert response["Location"] == reverse("customers:customer-detail", args=[keep.pk])
    assert messages_of(response) == ["Customers merged into 合并保留客户."]
    assert not exists(other)
    assert fresh(other_contact).customer_id == keep.pk


def test_merge_with_an_invisible_customer_is_refused(d, as_user, merger):
    client = as_user(merger)
    mine = make_customer(d.w.tenant_a, merger, "合并保留客户")
    url = reverse("customers:customer-merge")
    for response in (
        client.get(url, {"ids": [mine.pk, d.west.pk]}),
        client.post(url, {"ids": [mine.pk, d.west.pk], "keep": mine.pk}),
        client.get(url, {"ids": [mine.pk]}),
    ):
        assert response.status_code == 302
        assert response["Location"] == reverse("customers:customer-list")
        assert messages_of(response) == ["Select two or more customers you may see to merge."]
    assert exists(d.west) and exists(mine)


def test_merge_refused_for_a_public_customer_of_another_rep(d, as_user, merger):
    mine = make_customer(d.w.tenant_a, merger, "合并保留客户")
    response = as_user(merger).post(
        reverse("customers:customer-merge"),
        {"ids": [mine.pk, d.west_public.pk], "keep": mine.pk},
    )
    assert response.status_code == 200
    assert messages_of(response) == [
        "You may not change these customers (locked or read-only): 华西公开客户. "
        "Nothing was changed."
    ]
    assert exists(d.west_public) and exists(mine)


# ---------------------------------------------------------------- duplicates page


def test_duplicates_page_names_an_invisible_match_without_a_link(d, as_user):
    client = as_user(d.w.rep_east)
    assert client.get(reverse("customers:customer-duplicates")).status_code == 200
    response = client.get(reverse("customers:customer-duplicates"), {"name": "华西"})
    html = response.content.decode()
    # rep_east may not open 华西私有客户: it exists, owned by rep_west; no name, no link.
    assert "A customer exists, owned by rep_west." in html and "华西私有客户" not in html
    assert reverse("customers:customer-detail", args=[d.west.pk]) not in html
    # The public one is visible: linked.
    assert reverse("customers:customer-detail", args=[d.west_public.pk]) in html
    by_phone = client.get(reverse("customers:customer-duplicates"), {"phone": "13911112222"})
    assert "A customer exists, owned by rep_west." in by_phone.content.decode()
    assert "华西私有客户" not in by_phone.content.decode()
    assert "华西公开客户" not in by_phone.content.decode()


# ---------------------------------------------------------------- follow-up feed and export


def _export_rows(response) -> list[tuple]:
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment; filename")
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    return list(book.active.iter_rows(values_only=True))


def _may_export(user):
    """``user`` with a role of the same data scope that also holds ``customer.export``
    (exports need it: tests/customers/test_exports.py)."""
    with scopes_disabled():
        role = user.role
        codes = [*role.permissions, "customer.export"]
        user.role = make_role(user.tenant, f"{role.name}+导出", role.data_scope, codes)
        user.save(update_fields=["role"])
    return user


def test_followup_feed_mine_and_team(d, as_user):
    make_followup(d.west_public, d.w.rep_west, "公开客户的跟进")
    rep = as_user(d.w.rep_east)
    mine = rep.get(reverse("customers:followup-feed")).content.decode()
    assert "华东电话沟通" in mine and "华西上门拜访" not in mine
    team = rep.get(reverse("customers:followup-feed"), {"scope": "team"}).content.decode()
    assert "华东电话沟通" in team
    assert "华西上门拜访" not in team and "公开客户的跟进" not in team

    manager = as_user(d.w.manager_sales)
    assert "华东电话沟通" not in manager.get(reverse("customers:followup-feed")).content.decode()
    team = manager.get(reverse("customers:followup-feed"), {"scope": "team"}).content.decode()
    for content in ("华东电话沟通", "华西上门拜访", "公开客户的跟进"):
        assert content in team
    filtered = manager.get(
        reverse("customers:followup-feed"), {"scope": "team", "person": d.w.rep_west.pk}
    ).content.decode()
    assert "华西上门拜访" in filtered and "华东电话沟通" not in filtered


def test_followup_export_contains_only_visible_followups(d, as_user):
    make_followup(d.west_public, d.w.rep_west, "公开客户的跟进")
    rep = as_user(_may_export(d.w.rep_east))
    for scope in ("mine", "team"):
        rows = _export_rows(
            rep.post(reverse("customers:followup-export"), query_params={"scope": scope})
        )
        header, *body = rows
        assert header == (
            "Customer",
            "Contact",
            "Follow-up type",
            "Content",
            "Time",
            "Next follow-up",
            "By",
        )
        assert [(r[0], r[3], r[6]) for r in body] == [("华东私有客户", "华东电话沟通", "rep_east")]

    rows = _export_rows(
        as_user(d.w.manager_sales).post(
            reverse("customers:followup-export"), query_params={"scope": "team"}
        )
    )
    assert sorted(r[3] for r in rows[1:]) == sorted(
        ["华东电话沟通", "华西上门拜访", "公开客户的跟进"]
    )
    rows = _export_rows(
        as_user(d.w.manager_sales).post(
            reverse("customers:followup-export"),
            query_params={"scope": "team", "customer": d.west.pk},
        )
    )
    assert [r[3] for r in rows[1:]] == ["华西上门拜访"]


# ---------------------------------------------------------------- saved searches


def test_saved_search_create_and_delete(d, as_user):
    client = as_user(d.w.rep_east)
    response = client.post(
        reverse("customers:saved-search-create"),
        {"name": "长沙的", "query": "?view=all&city=长沙"},
    )
    assert response.status_code == 302
    with scopes_disabled():
        search = SavedSearch.objects.get(user=d.w.rep_east)
    assert (search.name, search.query, search.tenant_id) == (
        "长沙的",
        "view=all&city=长沙",
        d.w.tenant_a.pk,
    )
    assert (
        unquote(response["Location"]) == f"{reverse('customers:customer-list')}?view=all&city=长沙"
    )
    page = client.get(reverse("customers:customer-list")).content.decode()
    assert "长沙的" in page

    again = client.post(reverse("customers:saved-search-create"), {"name": "长沙的", "query": ""})
    assert messages_of(again) == ["You already have a search with this name."]
    unnamed = client.post(reverse("customers:saved-search-create"), {"name": ""})
    assert messages_of(unnamed) == ["Name the search."]
    assert count(SavedSearch, user=d.w.rep_east) == 1

    # Somebody else's search is 404, even for the admin.
    url = reverse("customers:saved-search-delete", args=[search.pk])
    assert as_user(d.w.admin_a).post(url).status_code == 404
    assert client.post(url).status_code == 302
    assert not exists(search)


# ---------------------------------------------------------------- list views and counts


def _tab_counts(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-view="(\w+)">[^<]*<span class="count">([^<]*)</span>', html))


def test_list_views_and_their_counts(d, as_user, world):
    w = world
    now = timezone.now()
    today = make_customer(w.tenant_a, w.rep_east, "今日待跟进客户")
    stale = make_customer(w.tenant_a, w.rep_east, "很久没跟进客户")
    participated = make_customer(w.tenant_a, w.rep_west, "东一参与的客户")
    make_participant(participated, w.rep_east)
    make_star(d.east, w.rep_east)
    with scopes_disabled():
        Customer.objects.filter(pk=today.pk).update(
            next_followup_at=timezone.localtime(now).replace(hour=12, minute=0)
        )
        Customer.objects.filter(pk=stale.pk).update(created_at=now - datetime.timedelta(days=30))

    client = as_user(w.rep_east)
    response = client.get(reverse("customers:customer-list"))
    assert response.status_code == 200
    assert _tab_counts(response.content.decode()) == {
        "mine": "3",  # east, today, stale
        "participated": "1",
        "team": "0",  # scope "own": nobody else's
        "all": "5",  # + the public one and the participated one
        "today": "1",
        "starred": "1",
        "unassigned": "0",  # nobody's customers are seen with scope "all" only
        "stale": "1",
    }
    expected = {
        "mine": {"华东私有客户", "今日待跟进客户", "很久没跟进客户"},
        "participated": {"东一参与的客户"},
        "all": {
            "华东私有客户",
            "今日待跟进客户",
            "很久没跟进客户",
            "华西公开客户",
            "东一参与的客户",
        },
        "today": {"今日待跟进客户"},
        "starred": {"华东私有客户"},
        "stale": {"很久没跟进客户"},
    }
    for view, names in expected.items():
        page = client.get(reverse("customers:customer-list"), {"view": view})
        assert {c.name for c in page.context["page"]} == names, view

    manager = as_user(w.manager_sales).get(reverse("customers:customer-list"), {"view": "team"})
    assert _tab_counts(manager.content.decode())["team"] == "6"  # east's 3 + west's 3
    admin = as_user(w.admin_a).get(reverse("customers:customer-list"), {"view": "unassigned"})
    counts = _tab_counts(admin.content.decode())
    assert (counts["unassigned"], counts["all"]) == ("1", "7")
    assert [c.name for c in admin.context["page"]] == ["无主客户"]
    # The recycle bin tab is offered to those who may delete only.
    assert 'data-view="bin"' in admin.content.decode()
    assert 'data-view="bin"' not in manager.content.decode()
    # An unknown view is the default one (issue 16), not a 404.
    unknown = as_user(w.rep_east).get(reverse("customers:customer-list"), {"view": "x"})
    assert unknown.status_code == 200 and unknown.context["view"] == "mine"


def _batch_actions(response) -> list[str]:
    """The actions of the batch bar: its buttons named ``action``, in order."""
    html = response.content.decode()
    bar = html[html.index("data-batch-bar") : html.index("</form>", html.index("data-batch-bar"))]
    return re.findall(r'name="action" value="(\w+)"', bar)


def test_batch_actions_offered_follow_the_permissions(d, as_user):
    url = reverse("customers:customer-list")
    common = ["participants", "tag_add", "tag_remove", "status", "star", "unstar"]
    assert _batch_actions(as_user(d.w.rep_east).get(url)) == common
    assert _batch_actions(as_user(d.w.manager_sales).get(url)) == ["transfer", *common]
    admin = as_user(d.w.admin_a)
    assert _batch_actions(admin.get(url)) == ["transfer", *common, "trash"]
    assert _batch_actions(admin.get(url, {"view": "bin"})) == ["restore", "purge"]


def test_list_search_filter_and_htmx_results(d, as_user):
    client = as_user(d.w.manager_sales)
    by_phone = client.get(reverse("customers:customer-list"), {"view": "all", "q": "1391111"})
    assert [c.name for c in by_phone.context["page"]] == ["华西私有客户"]
    by_name = client.get(reverse("customers:customer-list"), {"view": "all", "q": "华东"})
    assert [c.name for c in by_name.context["page"]] == ["华东私有客户"]
    fragment = client.get(
        reverse("customers:customer-list"),
        {"view": "all", "q": "华东"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="customer-results",
    )
    html = fragment.content.decode()
    assert "<html" not in html and 'id="customer-results"' in html and "华东私有客户" in html


# ---------------------------------------------------------------- fixed number of queries


def _queries(client, url, params) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def _listed_customers(world, n: int, start: int):
    """Customers with everything the list shows: tags, owner, status, level, a star, a
    contact and a follow-up with a comment."""
    w = world
    tags = [make_tag(w.tenant_a, f"标签{start}-{i}") for i in range(2)]
    level = option(w.tenant_a, OptionKind.CUSTOMER_LEVEL)
    status = option(w.tenant_a, OptionKind.CUSTOMER_STATUS)
    kind = option(w.tenant_a, OptionKind.FOLLOWUP_TYPE)
    owners = [w.rep_east, w.rep_east2, w.rep_west]
    for i in range(start, start + n):
        owner = owners[i % 3]
        customer = make_customer(
            w.tenant_a, owner, f"列表客户{i:03d}", level=level, status=status, city="长沙"
        )
        tag_customer(customer, *tags)
        make_star(customer, w.manager_sales)
        contact = make_contact(customer, f"联系人{i:03d}", mobile=f"139{i:08d}")
        followup = make_followup(customer, owner, f"跟进{i:03d}", kind=kind, contact=contact)
        with scopes_disabled():
            followup.comments.create(
                tenant_id=w.tenant_a.pk, author=w.manager_sales, content="点评"
            )


def _plain_client(user) -> Client:
    # A plain client: OwnMessagesClient reads the session itself, which would be counted.
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("url_name", "params"),
    [
        ("customers:customer-list", {"view": "all"}),
        ("customers:customer-list", {"view": "all", "sort": "level"}),
        ("customers:customer-list", {"view": "starred"}),
        # The list pattern (issue 16): 100 a page, a chip, a sort header, the phone cards'
        # contacts and masking are read for the whole page at once.
        ("customers:customer-list", {"view": "all", "per": "100", "sort": "next_followup_soon"}),
        ("customers:customer-list", {"view": "all", "due": "overdue", "recycle_within": "3"}),
        ("customers:contact-list", {}),
        ("customers:contact-list", {"is_decision_maker": "false", "per": "50"}),
        ("customers:followup-feed", {"scope": "team"}),
        ("customers:followup-feed", {"scope": "mine"}),
        ("customers:followup-feed", {"scope": "team", "q": "跟进", "per": "100"}),
    ],
)
def test_list_pages_run_a_fixed_number_of_queries(url_name, params, world):
    user = world.rep_west if params.get("scope") == "mine" else world.manager_sales
    client = _plain_client(user)
    url = reverse(url_name)
    _listed_customers(world, 3, 0)
    client.get(url, params)  # warm caches (content types, permissions)
    few = _queries(client, url, params)
    _listed_customers(world, 57, 3)
    many = _queries(client, url, params)
    assert few == many, f"{url_name}: {few} queries with 3 rows, {many} with 60"


@pytest.mark.parametrize("tab", [key for key, _label in TABS])
def test_customer_tabs_run_a_fixed_number_of_queries(tab, world):
    w = world
    customer = make_customer(w.tenant_a, w.rep_east, "很多记录的客户")
    kind = option(w.tenant_a, OptionKind.FOLLOWUP_TYPE)
    users = [w.rep_east2, w.rep_west, w.service_a, w.admin_a, w.manager_sales]

    def add(start: int, n: int) -> None:
        for i in range(start, start + n):
            contact = make_contact(customer, f"联系人{i}", mobile=f"139{i:08d}")
            followup = make_followup(customer, w.rep_east, f"跟进{i}", kind=kind, contact=contact)
            with scopes_disabled():
                followup.comments.create(tenant_id=w.tenant_a.pk, author=users[i % 5], content="评")
            add_attachment(customer, w.rep_east, name=f"文件{i}.pdf")
            if i < len(users):
                make_participant(customer, users[i], can_edit=i % 2 == 0)
        with scopes_disabled():
            for i in range(start, start + n):
                services.customer_lock(actor=w.rep_east, customer=customer, locked=i % 2 == 0)

    client = _plain_client(w.manager_sales)
    url = reverse("customers:customer-detail", args=[customer.pk])
    add(0, 2)
    client.get(url, {"tab": tab})
    few = _queries(client, url, {"tab": tab})
    add(2, 6)
    many = _queries(client, url, {"tab": tab})
    assert few == many, f"tab {tab}: {few} queries with 2 of each, {many} with 8"


def test_own_followups_on_a_customer_transferred_away_are_not_exported(d, as_user):
    with scopes_disabled():
        Customer.objects.filter(pk=d.east.pk).update(owner=d.w.rep_west)
    client = as_user(_may_export(d.w.rep_east))
    assert client.get(reverse("customers:customer-detail", args=[d.east.pk])).status_code == 404
    rows = _export_rows(
        client.post(reverse("customers:followup-export"), query_params={"scope": "mine"})
    )
    assert [r[0] for r in rows[1:]] == []
