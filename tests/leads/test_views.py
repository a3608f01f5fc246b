"""Lead pages through HTTP (CORE): the list with its views, counts, filters, saved searches
and a fixed number of queries per page; the visibility matrix on list and lead page; the
form with the duplicate warning; the batch bar; the lead page's tabs, follow-ups and files;
a converted lead is read-only. English is chosen so messages read as in the code."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_scopes import scopes_disabled

from crm.models import OptionKind
from customers import owned
from customers.models import Attachment, FollowUp, SavedSearch
from leads.models import Lead, LeadEvent
from leads.views.leads import TABS
from tests.customers.factories import make_customer, option
from tests.leads.factories import make_campaign, make_lead, make_lead_followup

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def fresh(lead) -> Lead:
    with scopes_disabled():
        return Lead.objects.get(pk=lead.pk)


# ---------------------------------------------------------------- visibility matrix

# lead key -> (name, owner persona, tenant)
LEADS = {
    "own_rep_east": ("东一线索", "rep_east", "a"),
    "same_dept_rep_east2": ("东二线索", "rep_east2", "a"),
    "child_dept_rep_west": ("西组线索", "rep_west", "a"),
    "other_dept_service_a": ("售后线索", "service_a", "a"),
    "tenant_b_rep_b": ("乙方线索", "rep_b", "b"),
}
PERSONAS = ["rep_east", "manager_sales", "admin_a"]
# Whose leads each persona's data scope covers (None: the whole tenant).
SCOPE_OWNERS = {
    "rep_east": {"rep_east"},
    "manager_sales": {"manager_sales", "rep_east", "rep_east2", "rep_west"},
    "admin_a": None,
}


def expected_visible(persona: str, key: str) -> bool:
    _name, owner, tenant = LEADS[key]
    if tenant != "a":
        return False
    scope = SCOPE_OWNERS[persona]
    return scope is None or owner in scope


@pytest.fixture
def matrix(world):
    made = {}
    for key, (name, owner, tenant) in LEADS.items():
        made[key] = make_lead(
            world.tenant_a if tenant == "a" else world.tenant_b,
            getattr(world, owner),
            name,
            company="",
        )
    return made


@pytest.mark.parametrize("persona", PERSONAS)
def test_list_all_shows_exactly_the_visible_leads(persona, world, matrix, as_user):
    response = as_user(getattr(world, persona)).get(reverse("leads:lead-list"), {"view": "all"})
    assert response.status_code == 200
    html = response.content.decode()
    shown = {key for key, (name, *_r) in LEADS.items() if name in html}
    assert shown == {key for key in LEADS if expected_visible(persona, key)}
    assert response.context["total"] == len(shown)


@pytest.mark.parametrize("key", sorted(LEADS))
@pytest.mark.parametrize("persona", PERSONAS)
def test_lead_page_opens_only_when_visible(persona, key, world, matrix, as_user):
    client = as_user(getattr(world, persona))
    lead = matrix[key]
    status = 200 if expected_visible(persona, key) else 404
    assert client.get(reverse("leads:lead-detail", args=[lead.pk])).status_code == status
    assert client.get(reverse("leads:lead-tab", args=[lead.pk, "followups"])).status_code == status
    assert client.get(reverse("leads:lead-edit", args=[lead.pk])).status_code in (
        (200,) if status == 200 else (404,)
    )


def test_an_invisible_lead_looks_like_a_missing_one(world, matrix, as_user):
    client = as_user(world.rep_east)
    foreign = client.get(reverse("leads:lead-detail", args=[matrix["tenant_b_rep_b"].pk]))
    missing = client.get(reverse("leads:lead-detail", args=[999_999_999]))
    assert foreign.status_code == missing.status_code == 404


# ---------------------------------------------------------------- list


def test_list_defaults_to_mine_with_counts(world, as_user):
    make_lead(world.tenant_a, world.rep_east, "我的一")
    make_lead(world.tenant_a, world.rep_east, "我的关", status=Lead.Status.CLOSED)
    response = as_user(world.rep_east).get(reverse("leads:lead-list"))
    assert response.status_code == 200
    assert response.context["view"] == "mine"
    assert response.context["counts"]["mine"] == (1, False)
    assert response.context["counts"]["closed"] == (1, False)
    assert [x.name for x in response.context["page"]] == ["我的一"]


def test_list_filters_and_htmx_fragment(world, as_user):
    campaign = make_campaign(world.tenant_a, "展会")
    make_lead(world.tenant_a, world.rep_east, "甲", campaign=campaign)
    make_lead(world.tenant_a, world.rep_east, "乙")
    client = as_user(world.rep_east)
    response = client.get(reverse("leads:lead-list"), {"campaign": campaign.pk})
    assert [x.name for x in response.context["page"]] == ["甲"]
    assert response.context["filtered"] and response.context["total"] == 1
    fragment = client.get(
        reverse("leads:lead-list"),
        {"campaign": campaign.pk},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="lead-results",
    )
    html = fragment.content.decode()
    assert 'id="lead-results"' in html and "<html" not in html


def test_unknown_view_is_404(world, as_user):
    # An unknown view is the default one (issue 16), not a 404.
    assert as_user(world.rep_east).get(reverse("leads:lead-list"), {"view": "x"}).status_code == 200


def _queries(client, params) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("leads:lead-list"), params)
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("persona", ["rep_east", "manager_sales", "admin_a"])
def test_list_queries_do_not_grow_with_the_page(world, as_user, persona):
    campaign = make_campaign(world.tenant_a)
    source = option(world.tenant_a, OptionKind.CUSTOMER_SOURCE)
    for i in range(3):
        make_lead(world.tenant_a, world.rep_east, f"少{i}", campaign=campaign, source=source)
    client = as_user(getattr(world, persona))
    few = _queries(client, {"view": "all"})
    for i in range(30):
        make_lead(world.tenant_a, world.rep_east, f"多{i}", campaign=campaign, source=source)
    assert _queries(client, {"view": "all"}) == few
    assert _queries(client, {"view": "all", "page": 2}) == few


def test_saved_search_of_the_lead_list(world, as_user):
    client = as_user(world.rep_east)
    response = client.post(
        reverse("customers:saved-search-create"),
        {"name": "新线索", "query": "view=mine&status=new", "list_kind": "leads"},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("leads:lead-list") + "?view=mine&status=new"
    with scopes_disabled():
        search = SavedSearch.objects.get(user=world.rep_east)
    assert search.list_kind == "leads"
    page = client.get(reverse("leads:lead-list"))
    assert list(page.context["saved_searches"]) == [search]
    assert "新线索" in page.content.decode()
    # The customer list does not show it.
    assert "新线索" not in client.get(reverse("customers:customer-list")).content.decode()
    deleted = client.post(reverse("customers:saved-search-delete", args=[search.pk]))
    assert deleted["Location"] == reverse("leads:lead-list")


# ---------------------------------------------------------------- create / edit


def test_create_then_lead_page(world, as_user):
    client = as_user(world.rep_east)
    assert client.get(reverse("leads:lead-create")).status_code == 200
    response = client.post(
        reverse("leads:lead-create"), {"name": "张三", "company": "新公司", "mobile": "13812345678"}
    )
    with scopes_disabled():
        lead = Lead.objects.get(name="张三")
    assert response.status_code == 302
    assert response["Location"] == reverse("leads:lead-detail", args=[lead.pk])
    assert lead.owner == world.rep_east


def test_create_shows_duplicates_and_saves_when_confirmed(world, as_user):
    other = make_lead(world.tenant_a, world.rep_west, "别人的", company="重复公司")
    make_customer(world.tenant_a, world.rep_east, "重复公司")
    client = as_user(world.rep_east)
    response = client.post(reverse("leads:lead-create"), {"name": "甲", "company": "重复公司"})
    assert response.status_code == 422
    html = response.content.decode()
    assert 'data-testid="duplicate-warning"' in html
    # rep_east does not see rep_west's lead: that it exists and its owner only, no link.
    assert "A lead exists, owned by rep_west." in html and "别人的" not in html
    assert reverse("leads:lead-detail", args=[other.pk]) not in html
    response = client.post(
        reverse("leads:lead-create"),
        {"name": "甲", "company": "重复公司", "confirm_duplicates": "on"},
    )
    assert response.status_code == 302


def test_live_duplicate_check(world, as_user):
    make_lead(world.tenant_a, world.rep_east, "已有", mobile="13900001111", company="x")
    client = as_user(world.rep_east)
    response = client.get(reverse("leads:lead-duplicate-check"), {"mobile": "13900001111"})
    assert response.status_code == 200 and "已有" in response.content.decode()
    empty = client.get(reverse("leads:lead-duplicate-check"), {"mobile": "139"})
    assert "duplicate-warning" in empty.content.decode() and "已有" not in empty.content.decode()


def test_create_for_another_owner_only_with_transfer(world, as_user):
    response = as_user(world.rep_east).post(
        reverse("leads:lead-create"), {"name": "甲", "owner": world.rep_west.pk}
    )
    with scopes_disabled():
        assert Lead.objects.get(name="甲").owner == world.rep_east  # the field is not offered
    assert response.status_code == 302
    response = as_user(world.manager_sales).post(
        reverse("leads:lead-create"), {"name": "乙", "owner": world.rep_west.pk}
    )
    with scopes_disabled():
        assert Lead.objects.get(name="乙").owner == world.rep_west


def test_edit_by_owner_and_refusal_for_converted(world, as_user):
    lead = make_lead(world.tenant_a, world.rep_east, "甲")
    client = as_user(world.rep_east)
    response = client.post(reverse("leads:lead-edit", args=[lead.pk]), {"name": "甲改"})
    assert response.status_code == 302 and fresh(lead).name == "甲改"
    converted = make_lead(world.tenant_a, world.rep_east, "转", status=Lead.Status.CONVERTED)
    response = client.post(reverse("leads:lead-edit", args=[converted.pk]), {"name": "x"})
    assert response.status_code == 302 and fresh(converted).name == "转"
    assert "This lead is read-only for you." in messages_of(response)


# ---------------------------------------------------------------- batch bar


def test_batch_transfer_all_or_nothing(world, as_user):
    mine = make_lead(world.tenant_a, world.rep_east)
    other = make_lead(world.tenant_a, world.service_a)
    client = as_user(world.manager_sales)
    response = client.post(
        reverse("leads:lead-batch"),
        {"action": "transfer", "ids": [mine.pk, other.pk], "to_user": world.rep_west.pk},
    )
    assert response.status_code == 302
    assert fresh(mine).owner == world.rep_east
    assert any("not visible" in m for m in messages_of(response))
    client.post(
        reverse("leads:lead-batch"),
        {"action": "transfer", "ids": [mine.pk], "to_user": world.rep_west.pk},
    )
    assert fresh(mine).owner == world.rep_west


def test_batch_status_close_and_reopen(world, as_user):
    a = make_lead(world.tenant_a, world.rep_east)
    b = make_lead(world.tenant_a, world.rep_east)
    reason = option(world.tenant_a, OptionKind.LEAD_CLOSE_REASON)
    client = as_user(world.rep_east)
    client.post(
        reverse("leads:lead-batch"),
        {"action": "status", "ids": [a.pk, b.pk], "status": "contacted"},
    )
    assert fresh(a).status == fresh(b).status == "contacted"
    response = client.post(reverse("leads:lead-batch"), {"action": "close", "ids": [a.pk]})
    assert fresh(a).status == "contacted"
    assert "Choose why the leads are closed." in messages_of(response)
    client.post(
        reverse("leads:lead-batch"),
        {"action": "close", "ids": [a.pk, b.pk], "close_reason": reason.pk, "close_note": "无需求"},
    )
    assert fresh(a).status == "closed" and fresh(a).close_note == "无需求"
    client.post(reverse("leads:lead-batch"), {"action": "reopen", "ids": [a.pk]})
    assert fresh(a).status == "new"  # never followed up


def test_batch_back_goes_only_to_this_site(world, as_user):
    lead = make_lead(world.tenant_a, world.rep_east)
    response = as_user(world.rep_east).post(
        reverse("leads:lead-batch"),
        {"action": "reopen", "ids": [lead.pk], "next": "//evil.example/"},
    )
    assert response["Location"] == reverse("leads:lead-list")


# ---------------------------------------------------------------- lead page


@pytest.mark.parametrize("tab", [key for key, _l in TABS])
def test_every_tab_renders(world, as_user, tab):
    lead = make_lead(world.tenant_a, world.rep_east)
    make_lead_followup(lead, world.rep_east, "第一次电话")
    client = as_user(world.rep_east)
    assert client.get(reverse("leads:lead-detail", args=[lead.pk]), {"tab": tab}).status_code == 200
    assert client.get(reverse("leads:lead-tab", args=[lead.pk, tab])).status_code == 200
    assert client.get(reverse("leads:lead-tab", args=[lead.pk, "nope"])).status_code == 404


def test_converted_lead_shows_its_customer_and_no_edit_actions(world, as_user):
    customer = make_customer(world.tenant_a, world.rep_east, "转成的客户")
    lead = make_lead(
        world.tenant_a,
        world.rep_east,
        status=Lead.Status.CONVERTED,
        customer=customer,
        converted_at=timezone.now(),
    )
    html = (
        as_user(world.rep_east).get(reverse("leads:lead-detail", args=[lead.pk])).content.decode()
    )
    assert reverse("customers:customer-detail", args=[customer.pk]) in html
    assert 'data-testid="lead-actions"' not in html
    assert reverse("leads:lead-edit", args=[lead.pk]) not in html


def test_open_lead_shows_its_actions(world, as_user):
    lead = make_lead(world.tenant_a, world.rep_east)
    html = (
        as_user(world.rep_east).get(reverse("leads:lead-detail", args=[lead.pk])).content.decode()
    )
    assert reverse("leads:lead-edit", args=[lead.pk]) in html
    assert 'data-testid="lead-actions"' in html


def test_followup_on_the_lead_page_updates_times_and_status(world, as_user):
    lead = make_lead(world.tenant_a, world.rep_east)
    kind = option(world.tenant_a, OptionKind.FOLLOWUP_TYPE)
    client = as_user(world.rep_east)
    response = client.post(
        reverse("leads:lead-followup-add", args=[lead.pk]),
        {"kind": kind.pk, "content": "电话沟通", "next_followup_at": "2099-01-02T10:00"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert "电话沟通" in response.content.decode()
    lead = fresh(lead)
    assert lead.status == "contacted" and lead.last_followup_at is not None
    assert lead.next_followup_at.year == 2099
    with scopes_disabled():
        assert FollowUp.objects.get(owned.on(lead)).customer_id is None


def test_followup_refused_shows_the_form_again(world, as_user):
    lead = make_lead(world.tenant_a, world.rep_east)
    response = as_user(world.rep_east).post(
        reverse("leads:lead-followup-add", args=[lead.pk]), {"content": ""}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422


def test_followup_on_an_invisible_lead_is_404(world, as_user):
    lead = make_lead(world.tenant_a, world.rep_west)
    response = as_user(world.rep_east).post(
        reverse("leads:lead-followup-add", args=[lead.pk]), {"content": "x"}
    )
    assert response.status_code == 404


# ---------------------------------------------------------------- files


def _upload(name="方案.pdf"):
    return SimpleUploadedFile(name, b"%PDF-1.4 lead", content_type="application/pdf")


def test_files_upload_download_and_delete_by_permission(world, as_user):
    lead = make_lead(world.tenant_a, world.rep_east)
    owner = as_user(world.rep_east)
    owner.post(reverse("leads:lead-attachment-add", args=[lead.pk]), {"file": _upload()})
    with scopes_disabled():
        attachment = Attachment.objects.get(owned.on(lead))
    url = reverse("leads:lead-attachment-download", args=[attachment.pk])
    assert b"".join(owner.get(url).streaming_content) == b"%PDF-1.4 lead"
    # The generalised customers download serves it to those who see the lead, too.
    customers_url = reverse("customers:attachment-download", args=[attachment.pk])
    assert owner.get(customers_url).status_code == 200
    assert as_user(world.manager_sales).get(url).status_code == 200
    for stranger in (world.rep_west, world.service_a):
        assert as_user(stranger).get(url).status_code == 404
        assert as_user(stranger).get(customers_url).status_code == 404
        assert (
            as_user(stranger)
            .post(reverse("leads:lead-attachment-delete", args=[attachment.pk]))
            .status_code
            == 404
        )
    response = owner.post(reverse("leads:lead-attachment-delete", args=[attachment.pk]))
    assert response.status_code == 302
    with scopes_disabled():
        assert not Attachment.objects.filter(pk=attachment.pk).exists()


def test_file_upload_refused_for_a_bad_type(world, as_user):
    lead = make_lead(world.tenant_a, world.rep_east)
    response = as_user(world.rep_east).post(
        reverse("leads:lead-attachment-add", args=[lead.pk]), {"file": _upload("x.exe")}
    )
    assert response.status_code == 302
    assert any("not accepted" in m for m in messages_of(response))
    with scopes_disabled():
        assert not Attachment.objects.filter(owned.on(lead)).exists()


def test_customer_file_download_still_needs_the_customer(world, as_user):
    from django.core.files.base import ContentFile

    customer = make_customer(world.tenant_a, world.rep_west, "西客户")
    with scopes_disabled():
        attachment = Attachment(
            tenant_id=world.tenant_a.pk,
            record=customer,
            customer=customer,
            original_name="a.pdf",
            size=3,
            uploaded_by=world.rep_west,
        )
        attachment.file.save("a.pdf", ContentFile(b"abc"), save=False)
        attachment.save()
    url = reverse("customers:attachment-download", args=[attachment.pk])
    assert as_user(world.rep_east).get(url).status_code == 404
    assert as_user(world.rep_west).get(url).status_code == 200
    # A customer's file is not a lead's file.
    lead_url = reverse("leads:lead-attachment-download", args=[attachment.pk])
    assert as_user(world.rep_west).get(lead_url).status_code == 404


# ---------------------------------------------------------------- navigation, workbench


def test_navigation_has_leads_between_workbench_and_customers(world, as_user):
    html = as_user(world.rep_east).get(reverse("crm:workbench")).content.decode()
    workbench, leads, customers = (
        html.find(reverse("crm:workbench")),
        html.find(reverse("leads:lead-list")),
        html.find(reverse("customers:customer-list")),
    )
    assert -1 < workbench < leads < customers


def test_workbench_panel_of_lead_followups_due(world, as_user):
    make_lead(world.tenant_a, world.rep_east, "今日要跟", next_followup_at=timezone.now())
    html = as_user(world.rep_east).get(reverse("crm:workbench")).content.decode()
    assert 'data-testid="lead-followups-due"' in html and "今日要跟" in html


def test_lead_events_tab_lists_owner_changes(world, as_user):
    lead = make_lead(world.tenant_a, world.rep_east)
    with scopes_disabled():
        LeadEvent.objects.create(
            tenant=world.tenant_a,
            lead=lead,
            kind="transferred",
            from_user=world.rep_west,
            to_user=world.rep_east,
            actor=world.manager_sales,
        )
    html = (
        as_user(world.rep_east)
        .get(reverse("leads:lead-tab", args=[lead.pk, "events"]))
        .content.decode()
    )
    assert "Transferred" in html
