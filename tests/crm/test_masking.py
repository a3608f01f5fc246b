"""The one masking layer (crm.masking) and the leaks it closes (issue 14 §4).

The pool rule (pools.masking) hides a group's hidden fields while a row lies in its pool from
everyone but the group's admins and the pool managers; once someone owns the row nothing is
hidden. Each leak test below failed before the layer existed.
"""

from __future__ import annotations

import pytest
from django.db.models import Q
from django.template import Context, Template
from django.urls import reverse
from django_scopes import scopes_disabled

from crm import activity, masking
from crm.exporting import field_column, masked
from crm.models import ActivityLog
from crm.selectors import activity_timeline
from crm.tenancy import tenant_scope
from customers.models import Contact, Customer
from leads.models import Lead
from tests.customers.factories import make_contact, make_customer
from tests.leads.factories import make_lead, make_lead_pool, make_pooled_lead
from tests.pools.factories import make_group, pooled

ALL_CUSTOMER_KEYS = [
    "contact_phones",
    "contact_emails",
    "address",
    "legal_representative",
    "credit_code",
    "bank",
    "remark",
]


@pytest.fixture
def east_pool(world):
    """The east department's customer pool, hiding every field it may hide; manager_sales
    administers it."""
    return make_group(
        world.tenant_a,
        "华东公海",
        departments=[world.east],
        admins=[world.manager_sales],
        hidden_fields=ALL_CUSTOMER_KEYS,
    )


@pytest.fixture
def lead_pool(world):
    """A lead pool every member of tenant A sees, hiding phones, e-mail, address, remark."""
    return make_lead_pool(
        world.tenant_a,
        "线索池",
        hidden_fields=["contact_phones", "contact_emails", "address", "remark"],
    )


def _log(target, action: str, changes: dict, actor=None) -> ActivityLog:
    with scopes_disabled():
        return activity.activity_record(actor=actor, target=target, action=action, changes=changes)


# ---------------------------------------------------------------- the layer itself


def test_pooled_customer_hides_its_groups_keys_from_members_but_not_from_admins(world, east_pool):
    customer = pooled(east_pool, "池中客户")
    with tenant_scope(world.tenant_a.pk):
        assert masking.hidden_fields(world.rep_east, customer) == frozenset(ALL_CUSTOMER_KEYS)
        # The group's admin and the tenant admin (pool manager) see everything.
        assert masking.hidden_fields(world.manager_sales, customer) == frozenset()
        assert masking.hidden_fields(world.admin_a, customer) == frozenset()


def test_owned_customer_hides_nothing(world, east_pool):
    customer = make_customer(world.tenant_a, world.rep_east, pool_group=east_pool)
    with tenant_scope(world.tenant_a.pk):
        assert masking.hidden_fields(world.rep_east2, customer) == frozenset()
        assert masking.hidden_paths(world.rep_east2, customer) == frozenset()


def test_hidden_paths_name_the_rows_fields_and_its_contacts_fields(world, east_pool):
    customer = pooled(east_pool)
    with tenant_scope(world.tenant_a.pk):
        paths = masking.hidden_paths(world.rep_east, customer)
    assert {"address", "longitude", "latitude", "bank_name", "bank_account"} <= paths
    assert {"contacts__mobile", "contacts__phone", "contacts__email"} <= paths
    assert "name" not in paths and "city" not in paths


def test_hidden_fields_many_reads_the_groups_once_for_a_page(
    world, east_pool, django_assert_num_queries
):
    rows = [pooled(east_pool) for _ in range(5)]
    owned_row = make_customer(world.tenant_a, world.rep_east, pool_group=east_pool)
    with tenant_scope(world.tenant_a.pk):
        world.rep_east._pool_admin_ids = {"customer": []}  # the request's cache, warmed
        fresh = list(Customer.objects.filter(pk__in=[r.pk for r in [*rows, owned_row]]))
        with django_assert_num_queries(1):  # the groups, once
            result = masking.hidden_fields_many(world.rep_east, fresh)
    assert all(result[r.pk] == frozenset(ALL_CUSTOMER_KEYS) for r in rows)
    assert result[owned_row.pk] == frozenset()


def test_mask_reads_hidden_fields_as_stars_and_the_others_as_they_are(world, lead_pool):
    lead = make_pooled_lead(lead_pool, "池中人", mobile="13911112222", title="经理")
    with tenant_scope(world.tenant_a.pk):
        view = masking.mask(world.rep_east, lead)
    assert view.mobile == masking.MASK
    assert view.title == "经理"
    assert "contact_phones" in view.hidden


def test_masked_filter_refuses_a_row_that_was_not_prepared(world, lead_pool):
    lead = make_pooled_lead(lead_pool, mobile="13911112222")
    template = Template('{% load crm_tags %}{{ lead|masked:"mobile" }}')
    with pytest.raises(LookupError):
        template.render(Context({"lead": lead}))
    with tenant_scope(world.tenant_a.pk):
        masking.prepare(world.rep_east, [lead])
    assert template.render(Context({"lead": lead})) == "***"


def test_activity_entries_of_a_pooled_customer_mask_its_and_its_contacts_hidden_values(
    world, east_pool
):
    customer = pooled(east_pool)
    _log(customer, "customer.updated", {"address": ["旧地址", "新地址"], "products": ["", "叉车"]})
    _log(
        customer,
        "contact.updated",
        {"mobile": ["13900000001", "13900000002"], "title": ["", "厂长"]},
    )
    with tenant_scope(world.tenant_a.pk):
        entries = {
            e.action: e.changes for e in activity_timeline(actor=world.rep_east, obj=customer)
        }
        admin = {e.action: e.changes for e in activity_timeline(actor=world.admin_a, obj=customer)}
    assert entries["customer.updated"] == {"address": ["***", "***"], "products": ["", "叉车"]}
    assert entries["contact.updated"] == {"mobile": ["***", "***"], "title": ["", "厂长"]}
    assert admin["customer.updated"]["address"] == ["旧地址", "新地址"]
    assert admin["contact.updated"]["mobile"] == ["13900000001", "13900000002"]
    with scopes_disabled():  # the log itself is unchanged
        stored = ActivityLog.objects.get(object_id=customer.pk, action="contact.updated")
    assert stored.changes["mobile"] == ["13900000001", "13900000002"]


def test_search_q_limits_a_match_to_rows_where_the_field_is_shown(world, east_pool):
    hidden_row = pooled(east_pool, "池中客户")
    make_contact(hidden_row, "甲", mobile="13955550001")
    mine = make_customer(world.tenant_a, world.rep_east, "我的客户", pool_group=east_pool)
    make_contact(mine, "乙", mobile="13955550002")
    with tenant_scope(world.tenant_a.pk):
        by_phone = Contact.objects.filter(mobile__startswith="139555").values("customer_id")
        condition = masking.search_q(
            world.rep_east, Customer, ["contacts__mobile"], Q(pk__in=by_phone)
        )
        found = set(Customer.objects.filter(condition).values_list("pk", flat=True))
        for_admin = masking.search_q(
            world.admin_a, Customer, ["contacts__mobile"], Q(pk__in=by_phone)
        )
        admin_found = set(Customer.objects.filter(for_admin).values_list("pk", flat=True))
    assert found == {mine.pk}
    assert admin_found == {mine.pk, hidden_row.pk}


def test_export_column_masks_a_contact_through_its_pooled_customer(world, east_pool):
    hidden_row = pooled(east_pool)
    contact = make_contact(hidden_row, "甲", mobile="13955550001")
    mine = make_customer(world.tenant_a, world.rep_east, pool_group=east_pool)
    own_contact = make_contact(mine, "乙", mobile="13955550002")
    column = masked(
        field_column(Contact, "mobile"),
        actor=world.rep_east,
        model=Customer,
        path="contacts__mobile",
        row=lambda c: c.customer,
    )
    with tenant_scope(world.tenant_a.pk):
        assert column.value(contact) == "***"
        assert column.value(own_contact) == "13955550002"
    unmaskable = field_column(Contact, "name")
    assert (
        masked(unmaskable, actor=world.rep_east, model=Customer, path="contacts__name")
        is unmaskable
    )


# ---------------------------------------------------------------- the leaks (issue 14)


def test_convert_page_of_a_pooled_lead_does_not_show_its_hidden_phones(world, login, lead_pool):
    lead = make_pooled_lead(lead_pool, "池中线索人", mobile="13966667777", phone="021-66667777")
    page = login(world.rep_east).get(reverse("leads:lead-convert", args=[lead.pk]))
    assert page.status_code == 200
    body = page.content.decode()
    assert "池中线索人" in body
    assert "13966667777" not in body
    assert "66667777" not in body
    assert "***" in body


def test_convert_page_of_an_owned_lead_shows_its_phones(world, login, lead_pool):
    lead = make_lead(world.tenant_a, world.rep_east, mobile="13966667777", pool_group=lead_pool)
    body = login(world.rep_east).get(reverse("leads:lead-convert", args=[lead.pk])).content
    assert "13966667777" in body.decode()


@pytest.mark.parametrize("prefix", ["139", "1398", "13987", "1398765"])
def test_pool_search_never_matches_a_hidden_contact_phone(world, login, east_pool, prefix):
    hidden_row = pooled(east_pool, "藏号客户")
    make_contact(hidden_row, "王五", mobile="13987654321", phone="13987654321")
    url = "/pools/" + f"?q={prefix}"
    assert "藏号客户" not in login(world.rep_east).get(url).content.decode()
    # The pool's admin sees the phone, so the search finds it for them.
    assert "藏号客户" in login(world.manager_sales).get(url).content.decode()


def test_pool_search_matches_phones_the_group_shows(world, login):
    open_pool = make_group(world.tenant_a, "明号公海", departments=[world.east], hidden_fields=[])
    row = pooled(open_pool, "明号客户")
    make_contact(row, "赵六", mobile="13987654321")
    body = login(world.rep_east).get("/pools/" + "?q=1398765").content.decode()
    assert "明号客户" in body


def test_pool_search_still_matches_names(world, login, east_pool):
    pooled(east_pool, "藏号客户")
    body = login(world.rep_east).get("/pools/" + "?q=藏号").content.decode()
    assert "藏号客户" in body


@pytest.mark.parametrize("prefix", ["139", "13976", "1397654"])
def test_lead_pool_search_never_matches_a_hidden_mobile(world, login, lead_pool, prefix):
    make_pooled_lead(lead_pool, "藏号线索人", company="藏号线索公司", mobile="13976543210")
    url = "/leads/pool/" + f"?q={prefix}"
    assert "藏号线索公司" not in login(world.rep_east).get(url).content.decode()
    # The tenant admin manages lead pools and sees the mobile.
    assert "藏号线索公司" in login(world.admin_a).get(url).content.decode()


def test_lead_list_search_still_matches_an_owned_leads_mobile(world, login, lead_pool):
    make_lead(world.tenant_a, world.rep_east, company="我的线索公司", mobile="13976543210")
    url = reverse("leads:lead-list") + "?q=1397654"
    assert "我的线索公司" in login(world.rep_east).get(url).content.decode()


def test_activity_tab_of_a_pooled_customer_hides_old_and_new_hidden_values(world, login, east_pool):
    customer = pooled(east_pool, "退回的客户")
    _log(customer, "customer.updated", {"address": ["人民路1号", "解放路2号"]}, world.rep_west)
    _log(customer, "contact.updated", {"mobile": ["13911110000", "13922220000"]}, world.rep_west)
    _log(customer, "customer.updated", {"products": ["", "挖掘机"]}, world.rep_west)
    url = reverse("customers:customer-tab", args=[customer.pk, "activity"])
    body = login(world.rep_east).get(url).content.decode()
    for secret in ("人民路1号", "解放路2号", "13911110000", "13922220000"):
        assert secret not in body
    assert "挖掘机" in body  # what the pool does not hide stays in the history
    admin = login(world.admin_a).get(url).content.decode()
    assert "解放路2号" in admin and "13922220000" in admin


def test_activity_tab_of_a_pooled_lead_hides_old_and_new_hidden_values(world, login, lead_pool):
    lead = make_pooled_lead(lead_pool, "退回的线索人")
    _log(lead, "lead.updated", {"mobile": ["13933330000", "13944440000"], "title": ["", "采购"]})
    _log(lead, "lead.updated", {"remark": ["", "老板私人号码在备注"]})
    url = reverse("leads:lead-tab", args=[lead.pk, "activity"])
    body = login(world.rep_east).get(url).content.decode()
    for secret in ("13933330000", "13944440000", "老板私人号码在备注"):
        assert secret not in body
    assert "采购" in body
    page = login(world.rep_east).get(reverse("leads:lead-detail", args=[lead.pk]) + "?tab=activity")
    assert "13944440000" not in page.content.decode()


def test_activity_tab_of_an_owned_customer_shows_the_values(world, login, east_pool):
    customer = make_customer(world.tenant_a, world.rep_east, pool_group=east_pool)
    _log(customer, "contact.updated", {"mobile": ["13911110000", "13922220000"]})
    url = reverse("customers:customer-tab", args=[customer.pk, "activity"])
    assert "13922220000" in login(world.rep_east).get(url).content.decode()


def test_lead_model_is_covered_by_the_pool_rule():
    assert masking.rules_for(Lead) and masking.rules_for(Customer)
    assert "mobile" in masking.maskable_paths(Lead)
    assert "contacts__mobile" in masking.maskable_paths(Customer)
