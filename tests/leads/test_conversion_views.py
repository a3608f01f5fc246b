"""The 转为客户 pages: the single conversion (matches, choice, refusals), the batch action
and the 来源线索 tab of the customer page."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django_scopes import scopes_disabled

from customers.models import Customer
from leads.models import Lead
from tests.customers.factories import fresh, make_contact, make_customer
from tests.leads.factories import make_lead


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def url(lead) -> str:
    return reverse("leads:lead-convert", args=[lead.pk])


def test_page_lists_matches_visible_ones_linked_invisible_ones_by_owner_only(world, login):
    mine = make_customer(world.tenant_a, world.rep_east, "匹配公司")
    theirs = make_customer(world.tenant_a, world.rep_west, "匹配（公司）")
    by_phone = make_customer(world.tenant_a, world.rep_east, "电话匹配的客户")
    make_contact(by_phone, "某人", mobile="13855556666")
    make_customer(world.tenant_b, world.rep_b, "匹配公司")  # another tenant: never shown
    lead = make_lead(world.tenant_a, world.rep_east, company="匹配公司", mobile="13855556666")

    response = login(world.rep_east).get(url(lead))

    assert response.status_code == 200
    html = response.content.decode()
    assert reverse("customers:customer-detail", args=[mine.pk]) in html
    assert reverse("customers:customer-detail", args=[by_phone.pk]) in html
    # SECURITY (issue 15): the one rep_east may not open shows that it exists and its owner.
    assert "匹配（公司）" not in html and "rep_west" in html
    assert html.count('data-testid="duplicate-exists"') == 1
    assert reverse("customers:customer-detail", args=[theirs.pk]) not in html
    choices = dict(response.context["form"].fields["target"].choices)
    assert set(choices) == {"new", str(mine.pk), str(by_phone.pk)}
    # The same-name customer the user may change is proposed first.
    assert response.context["form"].fields["target"].initial == str(mine.pk)


def test_post_creates_a_customer_and_goes_to_its_page(world, login):
    lead = make_lead(world.tenant_a, world.rep_east, "赵六", company="新建的公司")
    response = login(world.rep_east).post(
        url(lead), {"target": "new", "name": "新建的公司（改）", "contact": "on"}
    )
    lead = fresh(lead)
    assert lead.status == Lead.Status.CONVERTED
    assert response.status_code == 302
    assert response["Location"] == reverse("customers:customer-detail", args=[lead.customer_id])
    assert fresh(lead.customer).name == "新建的公司（改）"


def test_post_merges_into_the_chosen_customer(world, login):
    existing = make_customer(world.tenant_a, world.rep_east, "要合并的公司")
    lead = make_lead(world.tenant_a, world.rep_east, company="要合并的公司")
    response = login(world.rep_east).post(url(lead), {"target": str(existing.pk)})
    assert response.status_code == 302
    assert fresh(lead).customer_id == existing.pk
    with scopes_disabled():
        assert Customer.objects.filter(tenant=world.tenant_a).count() == 1


def test_post_into_a_customer_not_offered_is_refused(world, login):
    hidden = make_customer(world.tenant_a, world.rep_west, "不可见的公司")
    lead = make_lead(world.tenant_a, world.rep_east, company="不可见的公司")
    response = login(world.rep_east).post(url(lead), {"target": str(hidden.pk)})
    assert response.status_code == 422
    assert fresh(lead).status == Lead.Status.NEW


def test_new_customer_needs_a_name(world, login):
    lead = make_lead(world.tenant_a, world.rep_east)
    response = login(world.rep_east).post(url(lead), {"target": "new", "name": ""})
    assert response.status_code == 422
    assert fresh(lead).status == Lead.Status.NEW


def test_converted_lead_shows_its_customer_and_refuses(world, login):
    client = login(world.rep_east)
    lead = make_lead(world.tenant_a, world.rep_east, company="已转换公司")
    client.post(url(lead), {"target": "new", "name": "已转换公司"})
    response = client.get(url(lead))
    assert response.status_code == 200
    assert response.context["refusal"].code == "converted"
    assert "convert-form" not in response.content.decode()
    assert client.post(url(lead), {"target": "new", "name": "再来"}).status_code == 422
    with scopes_disabled():
        assert Customer.objects.filter(tenant=world.tenant_a).count() == 1


def test_closed_lead_is_refused_on_the_page(world, login):
    lead = make_lead(world.tenant_a, world.rep_east, status=Lead.Status.CLOSED)
    response = login(world.rep_east).get(url(lead))
    assert response.context["refusal"].code == "closed"


def test_invisible_lead_is_404_and_no_permission_is_403(world, login):
    other = make_lead(world.tenant_a, world.rep_west)
    assert login(world.rep_east).get(url(other)).status_code == 404
    assert login(world.rep_east).post(url(other), {"target": "new"}).status_code == 404
    own = make_lead(world.tenant_a, world.service_a)
    assert login(world.service_a).get(url(own)).status_code == 403


def test_batch_converts_the_ticked_leads(world, login):
    a = make_lead(world.tenant_a, world.rep_east, company="批量一")
    b = make_lead(world.tenant_a, world.rep_east, company="批量二")
    response = login(world.rep_east).post(
        reverse("leads:lead-convert-batch"), {"ids": [a.pk, b.pk], "next": "/leads/?view=mine"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/leads/?view=mine"
    assert fresh(a).status == fresh(b).status == Lead.Status.CONVERTED


def test_batch_with_a_bad_or_invisible_id_changes_nothing(world, login):
    a = make_lead(world.tenant_a, world.rep_east, company="批量三")
    other = make_lead(world.tenant_a, world.rep_west)
    client = login(world.rep_east)
    client.post(reverse("leads:lead-convert-batch"), {"ids": [a.pk, "x"]})
    client.post(reverse("leads:lead-convert-batch"), {"ids": [a.pk, other.pk]})
    assert fresh(a).status == Lead.Status.NEW
    assert client.get(reverse("leads:lead-convert-batch")).status_code == 405


def test_customer_page_lists_its_source_leads_the_user_may_see(world, login):
    customer = make_customer(world.tenant_a, world.rep_east, "来源客户")
    seen = make_lead(world.tenant_a, world.rep_east, "看得见的人", company="来源客户")
    unseen = make_lead(world.tenant_a, world.rep_west, "看不见的人", company="来源客户")
    admin = login(world.admin_a)
    for lead in (seen, unseen):
        admin.post(url(lead), {"target": str(customer.pk)})
    assert fresh(unseen).customer_id == customer.pk

    client = login(world.rep_east)
    page = client.get(reverse("customers:customer-detail", args=[customer.pk]) + "?tab=leads")
    assert page.status_code == 200
    html = page.content.decode()
    assert "看得见的人" in html and "看不见的人" not in html
    tab = client.get(reverse("customers:customer-tab", args=[customer.pk, "leads"]))
    assert tab.status_code == 200
    assert "看得见的人" in tab.content.decode()
    assert "<html" not in tab.content.decode()
    manager = login(world.manager_sales).get(
        reverse("customers:customer-tab", args=[customer.pk, "leads"])
    )
    assert "看得见的人" in manager.content.decode() and "看不见的人" in manager.content.decode()


def test_another_tenants_lead_is_404_and_stays_open(world, login):
    lead = make_lead(world.tenant_b, world.rep_b, company="乙的线索")
    client = login(world.admin_a)
    assert client.get(url(lead)).status_code == 404
    assert client.post(url(lead), {"target": "new", "name": "x"}).status_code == 404
    client.post(reverse("leads:lead-convert-batch"), {"ids": [lead.pk]})
    assert fresh(lead).status == Lead.Status.NEW
    with scopes_disabled():
        assert not Customer.objects.filter(tenant=world.tenant_a).exists()


def test_the_convert_page_follows_the_data_scope(world, login):
    lead = make_lead(world.tenant_a, world.rep_east, company="范围内的线索")
    assert login(world.manager_sales).get(url(lead)).status_code == 200
    assert login(world.rep_east2).get(url(lead)).status_code == 404
    assert login(world.rep_west).get(url(lead)).status_code == 404


def test_the_leads_follow_up_shows_on_the_customer_page_after_a_merge(world, login):
    from tests.leads.factories import make_lead_followup

    existing = make_customer(world.tenant_a, world.rep_east, "已有客户甲")
    lead = make_lead(world.tenant_a, world.rep_east, company="已有客户甲")
    make_lead_followup(lead, world.rep_east, "线索阶段的第一次电话")
    client = login(world.rep_east)
    page = client.get(url(lead))
    assert page.context["form"].fields["target"].initial == str(existing.pk)
    client.post(url(lead), {"target": str(existing.pk), "contact": "on"})
    tab = client.get(reverse("customers:customer-tab", args=[existing.pk, "followups"]))
    assert "线索阶段的第一次电话" in tab.content.decode()
