"""SECURITY (issue 15, "Files and requests"): 查重 — the duplicate check page and the duplicate
warnings of the customer and lead forms.

* at least 2 characters (of a name, as compared) or digits (of a phone): shorter input is
  refused with a message on the page and runs no query at all;
* a record the user may not open shows only that it exists and who owns it ("owned by …" or
  "in the pool"): no name, no phone, no company details, no link, no id in the HTML. A pooled
  record the user may see but whose phones its pool hides counts as one they may not open
  when it was found by its phone (the old open item "查重 still maps a hidden pooled phone to
  a name");
* throttled per user through the cache: DUPLICATE_CHECK_PER_MINUTE searches a minute (the page
  and the warnings share it), then 429 with a message.
"""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.customers.factories import make_contact, make_customer
from tests.leads.factories import make_lead, make_lead_pool, make_pooled_lead
from tests.pools.factories import make_group, pooled

PAGE = "customers:customer-duplicates"
CHECK = "customers:customer-duplicate-check"
LEAD_CHECK = "leads:lead-duplicate-check"

SECRET_NAME = "机密客户甲"
SECRET_PHONE = "13955556666"
SECRET_DETAILS = {
    "address": "机密路八号",
    "legal_representative": "机密法人",
    "credit_code": "91SECRETCREDIT01",
    "bank_account": "6222999988887777",
    "remark": "机密备注",
}
POOL_NAME = "池中机密客户"
POOL_PHONE = "13944443333"
OUTSIDE_POOL_NAME = "别组池中客户"
LEAD_COMPANY = "机密线索公司"
LEAD_NAME = "机密线索人"
LEAD_PHONE = "13977778888"
POOLED_LEAD_COMPANY = "池中机密线索公司"
POOLED_LEAD_PHONE = "13966661111"


@pytest.fixture(autouse=True)
def _fresh_throttle():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def secrets(world):
    """Records rep_east may not open (rep_west's customer and lead, a customer in a pool group
    rep_east is not a member of), and pooled ones rep_east sees whose phones their pool hides
    (the default hidden fields: phones and e-mail)."""
    w = world
    hidden = make_customer(w.tenant_a, w.rep_west, SECRET_NAME, **SECRET_DETAILS)
    make_contact(hidden, "机密联系人", mobile=SECRET_PHONE, email="secret@hidden.example")
    shared_pool = make_group(w.tenant_a, "全员公海", open_to_all=True)
    in_pool = pooled(shared_pool, POOL_NAME)
    make_contact(in_pool, "池中联系人", mobile=POOL_PHONE)
    closed_pool = make_group(w.tenant_a, "别组公海", users=[w.rep_west])
    outside = pooled(closed_pool, OUTSIDE_POOL_NAME)
    lead = make_lead(w.tenant_a, w.rep_west, LEAD_NAME, company=LEAD_COMPANY, mobile=LEAD_PHONE)
    lead_pool = make_lead_pool(w.tenant_a, "全员线索池")
    pooled_lead = make_pooled_lead(
        lead_pool, "池中线索人", company=POOLED_LEAD_COMPANY, mobile=POOLED_LEAD_PHONE
    )
    return w, hidden, in_pool, outside, lead, pooled_lead


def _assert_nothing_of(html: str, *values) -> None:
    leaked = [v for v in values if str(v) in html]
    assert leaked == [], f"the page shows {leaked}"


HIDDEN_ROW = re.compile(
    r'<(?P<tag>li|tr)[^>]*>\s*(?:<td colspan="3" class="muted">)?\s*'
    r'<span data-testid="duplicate-exists">(?P<text>[^<]*)</span>\s*(?:</td>)?\s*</(?P=tag)>'
)
EXISTS_SENTENCES = re.compile(
    r"A (customer|lead) exists, (owned by [^.<]+|in the public pool|in the lead pool|owned by "
    r"nobody)\."
)


def _no_link_or_id(html: str, *records) -> None:
    """No link to the records, and every hidden row is the bare sentence: no attribute, no
    id, nothing but "exists, owned by …"."""
    for record in records:
        assert f"/customers/{record.pk}/" not in html
        assert f"/leads/{record.pk}/" not in html
    shown = html.count('data-testid="duplicate-exists"')
    rows = list(HIDDEN_ROW.finditer(html))
    assert shown > 0 and len(rows) == shown, html
    for row in rows:
        assert EXISTS_SENTENCES.fullmatch(row["text"]), row["text"]


# ---------------------------------------------------------------- at least 2 characters


def _record_queries(client, url, params):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params)
    touched = [
        q["sql"] for q in ctx.captured_queries if "customers_" in q["sql"] or "leads_" in q["sql"]
    ]
    return response, touched


@pytest.mark.parametrize(
    "params",
    [
        {"name": "机"},
        {"name": "（机）"},
        {"phone": "1"},
        {"phone": "+"},
        {"name": "机密", "phone": "6"},
    ],
)
def test_the_page_refuses_less_than_two_characters_without_a_query(secrets, as_user, params):
    w, *_ = secrets
    client = as_user(w.rep_east)
    response, touched = _record_queries(client, reverse(PAGE), params)
    assert response.status_code == 422
    html = response.content.decode()
    assert (
        "Enter at least 2 characters of the name or 2 digits of the phone number. "
        "Nothing was searched." in html
    )
    assert 'data-testid="duplicate-hidden"' not in html and "<table" not in html
    assert touched == []


def test_two_characters_are_enough(secrets, as_user):
    w, *_ = secrets
    response = as_user(w.rep_east).get(reverse(PAGE), {"name": "机密"})
    assert response.status_code == 200
    assert "A customer exists, owned by rep_west." in response.content.decode()


def test_the_warnings_run_no_query_for_one_character(secrets, as_user):
    w, *_ = secrets
    client = as_user(w.rep_east)
    for url, params in (
        (reverse(CHECK), {"name": "机"}),
        (reverse(CHECK), {"name": "机", "contact_phone": "139"}),
        (reverse(LEAD_CHECK), {"company": "机"}),
        (reverse(LEAD_CHECK), {"company": "机", "mobile": "1"}),
    ):
        response, touched = _record_queries(client, url, params)
        assert response.status_code == 200
        assert 'data-testid="duplicate-warning"' not in response.content.decode()
        assert touched == [], params


# ---------------------------------------------------------------- "exists, owned by …"


def test_the_page_shows_a_hidden_customer_only_as_exists_owned_by(secrets, as_user):
    w, hidden, _in_pool, outside, *_ = secrets
    client = as_user(w.rep_east)
    for params in ({"name": "机密客户"}, {"name": SECRET_NAME}, {"phone": SECRET_PHONE}):
        response = client.get(reverse(PAGE), params)
        assert response.status_code == 200
        html = response.content.decode()
        assert "A customer exists, owned by rep_west." in html, params
        # What was typed comes back in the search box (and the language menu's next URL);
        # nothing of the customer anywhere else, and nothing at all in the results.
        typed = {params.get("name"), params.get("phone")}
        secrets_ = [
            SECRET_NAME,
            SECRET_PHONE,
            "机密联系人",
            "secret@hidden.example",
            *SECRET_DETAILS.values(),
        ]
        _assert_nothing_of(html, *[v for v in secrets_ if v not in typed])
        _assert_nothing_of(html[html.index('<section class="card table-wrap">') :], *secrets_)
        _no_link_or_id(html, hidden)
    # A customer in a pool rep_east is not a member of: "in the public pool", nothing else.
    html = client.get(reverse(PAGE), {"name": "别组池中"}).content.decode()
    assert "A customer exists, in the public pool." in html
    _assert_nothing_of(html, OUTSIDE_POOL_NAME)
    _no_link_or_id(html, outside)


def test_a_visible_customer_keeps_its_name_and_link(secrets, as_user):
    w, hidden, *_ = secrets
    client = as_user(w.rep_west)  # the owner
    html = client.get(reverse(PAGE), {"phone": SECRET_PHONE}).content.decode()
    assert SECRET_NAME in html
    assert reverse("customers:customer-detail", args=[hidden.pk]) in html
    assert "A customer exists" not in html


def test_a_hidden_pooled_phone_is_never_mapped_to_its_customer(secrets, as_user):
    """rep_east sees the pooled customer (a member of its pool), but the pool hides its
    contacts' phones: found by that phone, it is only "in the public pool"."""
    w, _hidden, in_pool, *_ = secrets
    client = as_user(w.rep_east)
    for url, params in (
        (reverse(PAGE), {"phone": POOL_PHONE}),
        (reverse(CHECK), {"contact_phone": POOL_PHONE}),
        (reverse(LEAD_CHECK), {"mobile": POOL_PHONE}),
    ):
        html = client.get(url, params).content.decode()
        assert "A customer exists, in the public pool." in html, url
        _assert_nothing_of(html, POOL_NAME, "池中联系人")
        _no_link_or_id(html, in_pool)
    # Found by its name (which the member may see), it keeps its name and link.
    html = client.get(reverse(PAGE), {"name": POOL_NAME}).content.decode()
    assert reverse("customers:customer-detail", args=[in_pool.pk]) in html
    _assert_nothing_of(html, POOL_PHONE)


def test_the_customer_form_warning_shows_only_the_owner(secrets, as_user):
    w, hidden, *_ = secrets
    client = as_user(w.rep_east)
    for params in ({"name": SECRET_NAME}, {"contact_phone": SECRET_PHONE}):
        response = client.get(reverse(CHECK), params)
        html = response.content.decode()
        assert 'data-testid="duplicate-warning"' in html
        assert "A customer exists, owned by rep_west." in html
        _assert_nothing_of(html, SECRET_NAME, SECRET_PHONE, "机密联系人", *SECRET_DETAILS.values())
        _no_link_or_id(html, hidden)


def test_the_refused_create_shows_only_the_owner(secrets, as_user):
    """Saving a duplicate without confirming: the 422 form lists the matches the same way."""
    w, hidden, *_ = secrets
    response = as_user(w.rep_east).post(
        reverse("customers:customer-create"),
        {
            "name": "新客户",
            "visibility": "private",
            "contact_name": "某人",
            "contact_phone": SECRET_PHONE,
        },
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "A customer exists, owned by rep_west." in html
    assert "Possible duplicates already exist (listed above)." in html
    _assert_nothing_of(html, SECRET_NAME, "机密联系人", *SECRET_DETAILS.values())
    _no_link_or_id(html, hidden)


def test_the_refused_lead_create_shows_only_the_owner(secrets, as_user):
    w, _hidden, _in_pool, _outside, lead, _pooled_lead = secrets
    response = as_user(w.rep_east).post(
        reverse("leads:lead-create"), {"name": "新线索人", "mobile": LEAD_PHONE}
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "A lead exists, owned by rep_west." in html
    assert "Possible duplicates already exist (listed above)." in html
    _assert_nothing_of(html, LEAD_NAME, LEAD_COMPANY)
    _no_link_or_id(html, lead)


def test_the_lead_form_warning_shows_only_the_owner(secrets, as_user):
    w, hidden, _in_pool, _outside, lead, pooled_lead = secrets
    client = as_user(w.rep_east)
    html = client.get(reverse(LEAD_CHECK), {"mobile": LEAD_PHONE}).content.decode()
    assert "A lead exists, owned by rep_west." in html
    _assert_nothing_of(html, LEAD_NAME, LEAD_COMPANY, LEAD_PHONE)
    _no_link_or_id(html, lead)
    html = client.get(reverse(LEAD_CHECK), {"company": LEAD_COMPANY}).content.decode()
    assert "A lead exists, owned by rep_west." in html
    _assert_nothing_of(html, LEAD_NAME, LEAD_PHONE)
    _no_link_or_id(html, lead)
    # A customer found from the lead form: the same rule.
    html = client.get(reverse(LEAD_CHECK), {"company": SECRET_NAME}).content.decode()
    assert "A customer exists, owned by rep_west." in html
    _no_link_or_id(html, hidden)
    # A pooled lead whose pool hides its phone, found by the phone: "in the lead pool".
    html = client.get(reverse(LEAD_CHECK), {"mobile": POOLED_LEAD_PHONE}).content.decode()
    assert "A lead exists, in the lead pool." in html
    _assert_nothing_of(html, POOLED_LEAD_COMPANY, "池中线索人")
    _no_link_or_id(html, pooled_lead)


# ---------------------------------------------------------------- throttled per user


def test_searches_are_throttled_per_user(secrets, as_user, settings):
    settings.DUPLICATE_CHECK_PER_MINUTE = 3
    w, *_ = secrets
    rep, other = as_user(w.rep_east), as_user(w.rep_west)
    # The page and both warnings share one budget; too-short input does not count.
    assert rep.get(reverse(PAGE), {"name": "机"}).status_code == 422
    assert rep.get(reverse(PAGE), {"name": "机密"}).status_code == 200
    assert rep.get(reverse(CHECK), {"name": "机密"}).status_code == 200
    assert rep.get(reverse(LEAD_CHECK), {"company": "机密"}).status_code == 200
    message = "Too many duplicate checks in a minute. Wait a moment, then try again."
    for url, params in (
        (reverse(PAGE), {"name": "机密"}),
        (reverse(CHECK), {"name": "机密"}),
        (reverse(LEAD_CHECK), {"company": LEAD_COMPANY}),
    ):
        with CaptureQueriesContext(connection) as ctx:
            response = rep.get(url, params)
        assert response.status_code == 429, url
        html = response.content.decode()
        assert message in html and "A customer exists" not in html and "A lead exists" not in html
        assert not [q for q in ctx.captured_queries if "customers_customer" in q["sql"]]
    # Another user has their own budget.
    assert other.get(reverse(PAGE), {"name": "机密"}).status_code == 200
