"""SECURITY (issue 15, "Files and requests"): every export starts with a CSRF-protected POST,
never with a GET: a link, an image or a prefetch on another site can never make a signed-in
user build a file. The 导出 buttons are small POST forms that carry the list's query string
(its filters and order) in their action, so the file holds exactly the filtered rows; the
download of a finished export (我的导出) stays a GET, it starts nothing.

Every ``*-export`` URL of the project joins these tests by its name (as in the masking sweep),
and so does the lead conversion statistics' export (a POST to its own page).
"""

from __future__ import annotations

import html
import io
import re

import openpyxl
import pytest
from django.test import Client
from django.urls import get_resolver, reverse
from django_scopes import scopes_disabled

from crm.models import ExportJob
from crm.xlsx import XLSX_CONTENT_TYPE
from customers.models import Customer
from tests.conftest import PASSWORD
from tests.crm.test_url_matrix import _walk
from tests.customers.factories import make_contact, make_customer, make_followup
from tests.leads.factories import make_lead
from tests.pools.factories import make_group, pooled


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def export_urls() -> list[str]:
    return sorted(
        reverse(name)
        for name, pattern in _walk(get_resolver().url_patterns)
        if name.endswith("-export") and not pattern.pattern.converters
    )


def csrf_client(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    assert client.login(username=user.username, password=PASSWORD)
    client.cookies["django_language"] = "en"
    return client


def job_count() -> int:
    with scopes_disabled():
        return ExportJob.objects.count()


def names_of(response) -> list[str]:
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"] == XLSX_CONTENT_TYPE
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    return [row[0] for row in list(book.active.iter_rows(values_only=True))[1:]]


def export_form(page: str) -> tuple[str, dict]:
    """The action and the fields of the page's 导出 form (the whole filtered list)."""
    match = re.search(
        r'<form method="post" action="([^"]*)" class="[^"]*export-form">(.*?)</form>', page, re.S
    )
    assert match, "no export form on the page"
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', match[2]))
    assert "csrfmiddlewaretoken" in fields
    return html.unescape(match[1]), {k: html.unescape(v) for k, v in fields.items()}


@pytest.fixture
def rows(world):
    """Customers, contacts, follow-ups, pooled customers and leads of tenant A, two of each
    matching the filter 华东 and one that does not."""
    w = world
    east = make_customer(w.tenant_a, w.rep_east, "华东一号")
    make_customer(w.tenant_a, w.rep_east, "华东二号")
    west = make_customer(w.tenant_a, w.rep_west, "华西客户")
    make_contact(east, "华东联系人")
    make_contact(west, "华西联系人")
    make_followup(east, w.rep_east, "华东跟进")
    make_followup(west, w.rep_west, "华西跟进")
    group = make_group(w.tenant_a, "全员公海", open_to_all=True)
    pooled(group, "华东池中")
    pooled(group, "华西池中")
    make_lead(w.tenant_a, w.rep_east, "华东线索人", company="华东线索公司")
    make_lead(w.tenant_a, w.rep_west, "华西线索人", company="华西线索公司")
    return w


def test_the_export_urls_are_the_lists():
    """Every list's export is here (the tests below walk them all): a new one joins."""
    assert export_urls() == sorted(
        [
            reverse("customers:customer-export"),
            reverse("customers:contact-export"),
            reverse("customers:followup-export"),
            reverse("customers:pool-export"),
            reverse("leads:lead-export"),
            reverse("opportunities:opportunity-export"),
            reverse("opportunities:product-export"),
        ]
    )


def test_a_get_never_starts_an_export(rows, login):
    client = login(rows.admin_a)  # every permission, data scope "all"
    for url in export_urls():
        for query in ("", "?view=all", "?q=华东"):
            response = client.get(url + query)
            assert response.status_code == 405, url + query
            assert response["Allow"] == "POST"
            assert not response.get("Content-Type", "").startswith(XLSX_CONTENT_TYPE)
    assert job_count() == 0


def test_a_post_without_the_csrf_token_is_refused(rows):
    client = csrf_client(rows.admin_a)
    for url in export_urls():
        assert client.post(url + "?view=all").status_code == 403, url
        assert client.post(url, {"rows": "selected", "ids": ["1"]}).status_code == 403, url
    assert job_count() == 0


@pytest.mark.parametrize(
    ("page_name", "query", "expected"),
    [
        ("customers:customer-list", {"view": "all", "q": "华东"}, ["华东一号", "华东二号"]),
        ("customers:contact-list", {"q": "华东"}, ["华东一号"]),  # its customer
        ("customers:followup-feed", {"scope": "team", "customer": "east"}, ["华东一号"]),
        ("customers:pool-list", {"q": "华东"}, ["华东池中"]),
        ("leads:lead-list", {"view": "all", "q": "华东"}, ["华东线索人"]),
    ],
)
def test_the_export_button_posts_the_lists_filters(rows, page_name, query, expected):
    """The list page's 导出 form, submitted as a browser would (its action, its hidden fields,
    the CSRF token): the file holds exactly the rows the filtered list shows."""
    if query.get("customer") == "east":
        with scopes_disabled():
            query = {**query, "customer": Customer.objects.get(name="华东一号").pk}
    client = csrf_client(rows.admin_a)
    page = client.get(reverse(page_name), query)
    assert page.status_code == 200
    action, fields = export_form(page.content.decode())
    assert "?" in action and action.startswith("/")
    response = client.post(action, fields)
    assert sorted(names_of(response)) == sorted(expected)
    # The same form without its filters would have exported more: the filter is what counts.
    everything = client.post(action.split("?")[0] + "?view=all&scope=team", fields)
    assert len(names_of(everything)) > len(expected)


def test_the_export_selected_buttons_say_so(rows, login):
    """导出所选 sends rows=selected: with nothing ticked the export is refused with a
    message, it never falls back to the whole list."""
    client = login(rows.admin_a)
    for name in ("customers:customer-list", "customers:contact-list", "customers:pool-list"):
        page = client.get(reverse(name)).content.decode()
        assert re.search(r'name="rows" value="selected" data-export="selected"', page), name
    response = client.post(reverse("customers:customer-export") + "?view=all", {"rows": "selected"})
    assert response.status_code == 302 and response["Location"] == "/customers/?view=all"
    assert job_count() == 0


def test_the_download_of_a_finished_export_stays_a_get(
    rows, login, settings, django_capture_on_commit_callbacks
):
    settings.EXPORT_SYNC_ROWS = 1  # built by the worker, downloaded from 我的导出
    client = login(rows.admin_a)
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(reverse("customers:customer-export") + "?view=all")
    assert started.status_code == 302 and started["Location"] == reverse("crm:export-list")
    with scopes_disabled():
        job = ExportJob.objects.get()
    assert job.status == ExportJob.Status.DONE
    response = client.get(reverse("crm:export-download", args=[job.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == XLSX_CONTENT_TYPE


POST_FORM = re.compile(r'<form[^>]*method="post"[^>]*>(.*?)</form>', re.S)


@pytest.mark.parametrize(
    ("page_name", "query", "kind"),
    [
        ("customers:customer-list", {"view": "all", "q": "华东"}, "customers"),
        ("leads:lead-list", {"view": "all", "q": "华东"}, "leads"),
        ("customers:contact-list", {"q": "华东"}, None),
        ("customers:followup-feed", {"scope": "team"}, None),
        ("customers:pool-list", {"q": "华东"}, None),
    ],
)
def test_every_post_form_of_the_lists_carries_the_csrf_token(rows, page_name, query, kind):
    """Components included with "only" do not get the token by themselves: the export button,
    the saved-search form and its chips' delete forms are handed it. Each form, submitted as a
    browser would, passes the CSRF check."""
    client = csrf_client(rows.admin_a)
    if kind:  # a saved search, so that its chip (with its delete form) is shown
        page = client.get(reverse(page_name), query).content.decode()
        save = next(
            f for f in POST_FORM.finditer(page) if 'name="list_kind"' in f[1] and "query" in f[1]
        )
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', save[1]))
        fields = {k: html.unescape(v) for k, v in fields.items()}
        response = client.post(reverse("customers:saved-search-create"), {**fields, "name": "华东"})
        assert response.status_code == 302  # not 403: the form had its token
    page = client.get(reverse(page_name), query).content.decode()
    forms = POST_FORM.findall(page)
    assert len(forms) >= 2
    for body in forms:
        assert 'name="csrfmiddlewaretoken"' in body, body[:300]
