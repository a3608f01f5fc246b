"""The masking sweep (STYLE "Tests", issue 14 §4): a unique marker in every field a pool hides
on pooled customers (and their contacts) and pooled leads, old and new values in their activity
log too; then, as a pool member who has not claimed them, every URL of the isolation matrix
that shows such a row (pages, every tab, htmx fragments), every list and page without an id
(with the markers' prefixes as searches), and the exports as files: no marker anywhere.

New URLs join the sweep as they join the matrix (tests/crm/test_url_matrix.py): a matrix URL
that is neither swept nor declared unrelated to pooled rows fails the completeness test.
"""

from __future__ import annotations

from io import BytesIO

import pytest
from django.urls import get_resolver, reverse
from django_scopes import scopes_disabled
from openpyxl import load_workbook

from crm import activity
from crm.xlsx import XLSX_CONTENT_TYPE
from tests.crm.test_url_matrix import MATRIX, _walk
from tests.customers.factories import make_contact, make_followup
from tests.factories import make_role
from tests.leads.factories import make_lead_pool, make_pooled_lead
from tests.pools.factories import make_group, pooled

CUSTOMER_KEYS = [
    "contact_phones",
    "contact_emails",
    "address",
    "legal_representative",
    "credit_code",
    "bank",
    "remark",
]
LEAD_KEYS = ["contact_phones", "contact_emails", "address", "remark"]

# Every planted value; text markers share "掩码" so a leak of any is easy to spot. Phones are
# digits only (the search prefixes below are theirs).
CUSTOMER_MARKERS = {
    "legal_representative": "掩码法人甲",
    "credit_code": "91MASKCREDIT0001",
    "bank_name": "掩码开户行甲",
    "bank_account": "6222000011112222",
    "address": "掩码路一号",
    "remark": "掩码备注甲",
}
CONTACT_MARKERS = {"mobile": "13987650001", "phone": "02187650002", "email": "mask1@hidden.example"}
LEAD_MARKERS = {
    "mobile": "13976540003",
    "phone": "02176540004",
    "email": "mask2@hidden.example",
    "district": "掩码区",
    "address": "掩码街二号",
    "remark": "掩码备注乙",
}
# Old values that only the activity log still holds.
HISTORY_MARKERS = {"address": "掩码旧地址", "mobile": "13987659999", "lead_mobile": "13976549999"}
MARKERS = [
    *CUSTOMER_MARKERS.values(),
    *CONTACT_MARKERS.values(),
    *LEAD_MARKERS.values(),
    *HISTORY_MARKERS.values(),
]
SEARCH_PREFIXES = ["139", "1398765", "13987650", "1397654", "021876", "02176540", "mask"]
# The pooled rows' names are not hidden: a search that returns them matched a hidden field.
CUSTOMER_NAME = "公海里的甲客户"
LEAD_COMPANY = "线索池里的乙公司"


# The opportunity on the pooled customer (its name is not hidden either).
OPPORTUNITY_NAME = "公海客户上的商机"


class Planted:
    def __init__(self, customer, contact, lead, followup, opportunity):
        self.customer = customer
        self.contact = contact
        self.lead = lead
        self.followup = followup
        self.opportunity = opportunity


def _plant_opportunity(world, customer, contact):
    """rep_east's open opportunity on the pooled customer (written straight to the tables:
    the services would not open one there), the planted contact its primary contact, its
    stage history one row, expected to close today (in this year's funnel)."""
    from django.utils import timezone

    from opportunities.models import OpportunityContact
    from tests.opportunities.factories import contact_role
    from tests.reports.opportunity_data import make_opportunity, stages

    opportunity = make_opportunity(
        world.rep_east,
        customer=customer,
        path=[(stages(world.tenant_a)["open"][0], timezone.now())],
        expected=timezone.localdate(),
        name=OPPORTUNITY_NAME,
    )
    with scopes_disabled():
        OpportunityContact.objects.create(
            tenant=world.tenant_a,
            opportunity=opportunity,
            contact=contact,
            role=contact_role(world.tenant_a),
            is_primary=True,
        )
        opportunity.primary_contact = contact
        opportunity.save(update_fields=["primary_contact"])
    return opportunity


@pytest.fixture
def planted(world, settings, tmp_path) -> Planted:
    settings.MEDIA_ROOT = tmp_path / "media"
    group = make_group(
        world.tenant_a, "掩码公海", departments=[world.east], hidden_fields=CUSTOMER_KEYS
    )
    customer = pooled(
        group, CUSTOMER_NAME, longitude=121.123456, latitude=31.654321, **CUSTOMER_MARKERS
    )
    contact = make_contact(customer, "公海联系人", **CONTACT_MARKERS)
    followup = make_followup(customer, world.rep_west, "跟进内容不隐藏")
    lead_pool = make_lead_pool(world.tenant_a, "掩码线索池", hidden_fields=LEAD_KEYS)
    lead = make_pooled_lead(lead_pool, "池中线索人", company=LEAD_COMPANY, **LEAD_MARKERS)
    with scopes_disabled():
        activity.activity_record(
            actor=world.rep_west,
            target=customer,
            action="customer.updated",
            changes={"address": [HISTORY_MARKERS["address"], CUSTOMER_MARKERS["address"]]},
        )
        activity.activity_record(
            actor=world.rep_west,
            target=customer,
            action="contact.updated",
            changes={"mobile": [HISTORY_MARKERS["mobile"], CONTACT_MARKERS["mobile"]]},
        )
        activity.activity_record(
            actor=world.rep_west,
            target=lead,
            action="lead.updated",
            changes={"mobile": [HISTORY_MARKERS["lead_mobile"], LEAD_MARKERS["mobile"]]},
        )
    opportunity = _plant_opportunity(world, customer, contact)
    return Planted(customer, contact, lead, followup, opportunity)


def _customer_tabs():
    from customers.views.customers import detail_tabs

    return [key for key, _label in detail_tabs()]


def _lead_tabs():
    from leads.views.leads import TABS

    return [key for key, _label in TABS]


def _opportunity_tabs():
    from opportunities.views.opportunities import TABS

    return [key for key, _label in TABS]


# Matrix URL -> the URLs (with the planted rows) the sweep requests for it.
SWEEP = {
    "customers:customer-detail": lambda p: [
        reverse("customers:customer-detail", args=[p.customer.pk]) + f"?tab={tab}"
        for tab in _customer_tabs()
    ],
    "customers:customer-tab": lambda p: [
        reverse("customers:customer-tab", args=[p.customer.pk, tab]) for tab in _customer_tabs()
    ],
    "customers:customer-edit": lambda p: [reverse("customers:customer-edit", args=[p.customer.pk])],
    "customers:contact-edit": lambda p: [reverse("customers:contact-edit", args=[p.contact.pk])],
    "leads:lead-detail": lambda p: [
        reverse("leads:lead-detail", args=[p.lead.pk]) + f"?tab={tab}" for tab in _lead_tabs()
    ],
    "leads:lead-tab": lambda p: [
        reverse("leads:lead-tab", args=[p.lead.pk, tab]) for tab in _lead_tabs()
    ],
    "leads:lead-edit": lambda p: [reverse("leads:lead-edit", args=[p.lead.pk])],
    "leads:lead-convert": lambda p: [reverse("leads:lead-convert", args=[p.lead.pk])],
    # The opportunity on the pooled customer: its customer's and contacts' names only.
    "opportunities:opportunity-detail": lambda p: [
        reverse("opportunities:opportunity-detail", args=[p.opportunity.pk]) + f"?tab={tab}"
        for tab in _opportunity_tabs()
    ],
    "opportunities:opportunity-tab": lambda p: [
        reverse("opportunities:opportunity-tab", args=[p.opportunity.pk, tab])
        for tab in _opportunity_tabs()
    ],
    "opportunities:opportunity-edit": lambda p: [
        reverse("opportunities:opportunity-edit", args=[p.opportunity.pk])
    ],
    "opportunities:opportunity-lines": lambda p: [
        reverse("opportunities:opportunity-lines", args=[p.opportunity.pk])
    ],
}
# Matrix URLs that never show a pooled row's fields: actions (POST only), rows of the
# settings, files and jobs, other records.
UNRELATED = {
    name
    for name in MATRIX
    if name.startswith(("crm:", "pools:group-", "leads:campaign-", "leads:rule-"))
    or name.startswith("leads:pool-group-")
} | {
    # POST-only actions on a customer or a lead (a GET is a 405; their refusals are tested
    # by the services' and views' own tests).
    "customers:customer-lock",
    "customers:customer-star",
    "customers:customer-participants",
    "customers:customer-participant-remove",
    "customers:followup-create",
    "customers:contact-create",
    "customers:contact-delete",
    "customers:followup-comment",
    "customers:attachment-create",
    "customers:attachment-delete",
    "customers:attachment-download",
    "customers:saved-search-delete",
    "leads:lead-followup-add",
    "leads:lead-attachment-add",
    "leads:lead-attachment-download",
    "leads:lead-attachment-delete",
    # POST-only actions on an opportunity, its files (an upload shows what was uploaded),
    # the stage settings' rows.
    "opportunities:opportunity-delete",
    "opportunities:opportunity-stage",
    "opportunities:opportunity-win",
    "opportunities:opportunity-lose",
    "opportunities:opportunity-reopen",
    "opportunities:opportunity-contact-add",
    "opportunities:opportunity-contact-remove",
    "opportunities:opportunity-contact-primary",
    "opportunities:opportunity-participants-add",
    "opportunities:opportunity-participant-remove",
    "opportunities:opportunity-followup-add",
    "opportunities:opportunity-attachment-add",
    "opportunities:opportunity-attachment-delete",
    "opportunities:opportunity-attachment-download",
    "opportunities:stage-edit",
    "opportunities:stage-delete",
    "opportunities:stage-move",
    # The catalogue holds no customer or lead field (the picker's last sold price is a price
    # and a day, never the document or its customer).
    "opportunities:product-detail",
    "opportunities:product-edit",
    "opportunities:product-stock",
    "opportunities:product-delete",
    "opportunities:product-image",
    "opportunities:product-image-delete",
    "opportunities:product-import-preview",
    "opportunities:product-import-confirm",
    "opportunities:product-import-errors",
    "opportunities:category-rename",
    "opportunities:category-move",
    "opportunities:category-delete",
}

# Pages without an id that are not for a rep's GET (or not pages at all).
SKIPPED_LISTS = {"logout", "set_language"}


def test_every_matrix_url_is_swept_or_declared_unrelated():
    missing = sorted(set(MATRIX) - set(SWEEP) - UNRELATED)
    assert missing == [], f"add these URLs to the masking sweep (SWEEP or UNRELATED): {missing}"
    stale = sorted((set(SWEEP) | UNRELATED) - set(MATRIX))
    assert stale == [], f"the sweep names URLs that left the matrix: {stale}"


def _text(response) -> str:
    """Everything a response gives away: the page, or every cell of a downloaded xlsx."""
    if response.get("Content-Type", "").startswith(XLSX_CONTENT_TYPE):
        book = load_workbook(BytesIO(response.content), read_only=True)
        return "\n".join(
            str(cell)
            for sheet in book.worksheets
            for row in sheet.iter_rows(values_only=True)
            for cell in row
            if cell is not None
        )
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


def _assert_clean(response, url: str) -> str:
    body = _text(response)
    leaked = [m for m in MARKERS if m in body]
    assert leaked == [], f"{url} shows hidden values {leaked}"
    return body


def test_no_page_of_the_matrix_shows_a_hidden_value(world, login, planted):
    client = login(world.rep_east)
    seen = 0
    for name, build in SWEEP.items():
        for url in build(planted):
            for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
                response = client.get(url, **headers)
                _assert_clean(response, url)
                seen += response.status_code == 200
    # The sweep looked at real pages (a 404 everywhere would prove nothing).
    assert seen >= (len(_customer_tabs()) + len(_lead_tabs()) + len(_opportunity_tabs())) * 2


def test_the_opportunity_on_a_pooled_customer_shows_its_contact_by_name_only(world, login, planted):
    """The sweep's opportunity pages are real: the page names the pooled customer and the
    planted contact (what they may show), and their hidden values nowhere."""
    client = login(world.rep_east)
    url = reverse("opportunities:opportunity-detail", args=[planted.opportunity.pk])
    page = _assert_clean(client.get(url + "?tab=contacts"), url)
    assert OPPORTUNITY_NAME in page and CUSTOMER_NAME in page
    assert "公海联系人" in page
    # On the lists, the kanban and a search by a hidden value's prefix: listed, never matched.
    for list_url in ("/opportunities/?view=all", "/opportunities/kanban/?view=all"):
        assert OPPORTUNITY_NAME in _assert_clean(client.get(list_url), list_url)
        for prefix in SEARCH_PREFIXES:
            body = _assert_clean(client.get(f"{list_url}&q={prefix}"), list_url)
            assert OPPORTUNITY_NAME not in body, (list_url, prefix)


def test_the_opportunity_reports_drill_down_shows_no_hidden_value(world, login, planted):
    """The opportunity reports' one drill-down page (reports:opportunities-list) lists the
    opportunity on the pooled customer, and no hidden value."""
    from tests.reports.opportunity_data import stages

    with scopes_disabled():
        rep_role = world.rep_east.role
        world.rep_east.role = make_role(
            world.tenant_a,
            "看报表的业务员",
            rep_role.data_scope,
            [*rep_role.permissions, "reports.view"],
        )
        world.rep_east.save()
    client = login(world.rep_east)
    first_stage = stages(world.tenant_a)["open"][0]
    base = reverse("reports:opportunities-list") + "?preset=this_year"
    urls = [
        f"{base}&report=funnel&table=funnel&row=stage-{first_stage.pk}&column=count",
        f"{base}&report=funnel&table=funnel&row=stage-{first_stage.pk}&column=amount",
        f"{base}&report=advance&column=reached&row={first_stage.pk}",
    ]
    for url in urls:
        for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
            response = client.get(url, **headers)
            assert response.status_code == 200, url
            assert OPPORTUNITY_NAME in _assert_clean(response, url), url


def _list_urls() -> list[str]:
    names = []
    for name, pattern in _walk(get_resolver().url_patterns):
        if pattern.pattern.converters or name.startswith("admin:") or name in SKIPPED_LISTS:
            continue
        names.append(name)
    return [reverse(name) for name in sorted(set(names))]


def test_no_list_page_or_search_shows_a_hidden_value(world, login, planted):
    client = login(world.rep_east)
    for url in _list_urls():
        for query in ["", "?view=all", *[f"?q={p}" for p in SEARCH_PREFIXES]]:
            for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
                _assert_clean(client.get(url + query, **headers), url + query)


def test_search_by_a_hidden_fields_prefix_never_returns_the_pooled_rows(world, login, planted):
    client = login(world.rep_east)
    pool = client.get("/pools/").content.decode()
    lead_pool = client.get("/leads/pool/").content.decode()
    assert CUSTOMER_NAME in pool and LEAD_COMPANY in lead_pool  # they are listed unfiltered
    for prefix in SEARCH_PREFIXES:
        for url in ("/pools/", "/customers/", "/customers/?view=all"):
            body = client.get(f"{url}{'&' if '?' in url else '?'}q={prefix}").content.decode()
            assert CUSTOMER_NAME not in body, (url, prefix)
        for url in ("/leads/pool/", "/leads/", "/leads/?view=all"):
            body = client.get(f"{url}{'&' if '?' in url else '?'}q={prefix}").content.decode()
            assert LEAD_COMPANY not in body, (url, prefix)


def test_duplicate_checks_never_map_a_hidden_number_to_its_row(world, login, planted):
    """查重 (issue 15): a hidden number, typed in full on the 查重 page or in the forms'
    warnings, says that a record exists in the pool and nothing else: not its name, not its
    other hidden values."""
    client = login(world.rep_east)
    contact_numbers = [CONTACT_MARKERS["mobile"], CONTACT_MARKERS["phone"]]
    checks = [
        *[("/customers/duplicates/", "phone", n) for n in contact_numbers],
        *[("/customers/duplicate-check/", "contact_phone", n) for n in contact_numbers],
        *[("/leads/duplicate-check/", "mobile", n) for n in contact_numbers],
        ("/leads/duplicate-check/", "mobile", LEAD_MARKERS["mobile"]),
        ("/leads/duplicate-check/", "phone", LEAD_MARKERS["phone"]),
    ]
    for url, field, number in checks:
        response = client.get(url, {field: number})
        assert response.status_code == 200, url
        body = response.content.decode()
        leaked = [m for m in [*MARKERS, CUSTOMER_NAME, LEAD_COMPANY] if m != number]
        assert [m for m in leaked if m in body] == [], (url, number)
        # The match is there, as "exists, in the pool" (customers/_duplicate_exists.html).
        assert body.count('data-testid="duplicate-exists"') == 1, (url, number)


def _export_urls() -> list[str]:
    return [
        reverse(name)
        for name, pattern in _walk(get_resolver().url_patterns)
        if name.endswith("-export") and not pattern.pattern.converters
    ]


def test_exports_as_files_never_hold_a_hidden_value(world, login, planted):
    # A rep whose role may also export (the default rep role may not).
    with scopes_disabled():
        rep_role = world.rep_east.role
        world.rep_east.role = make_role(
            world.tenant_a,
            "可导出的业务员",
            rep_role.data_scope,
            [*rep_role.permissions, "customer.export", "lead.export", "opportunity.export"],
        )
        world.rep_east.save()
    client = login(world.rep_east)
    files = 0
    for url in _export_urls():
        for query in ["", "?view=all", *[f"?q={p}" for p in SEARCH_PREFIXES[:2]]]:
            # An export starts with a POST (the list's query string in the action URL).
            response = client.post(url + query)
            _assert_clean(response, url + query)
            files += response.get("Content-Type", "").startswith(XLSX_CONTENT_TYPE)
    # The ticked pooled customer, exported from the pool list.
    pool_export = next(u for u in _export_urls() if u.startswith("/pools/"))
    response = client.post(pool_export, {"ids": [planted.customer.pk]})
    body = _assert_clean(response, pool_export)
    assert CUSTOMER_NAME in body  # the file holds the row, its hidden cells masked
    assert "***" in body
    assert files > 0
