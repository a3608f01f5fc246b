"""转为客户 with 同时创建商机 (pages helper): the opportunity is created on the customer in the
conversion's transaction, owned by the lead's owner, and the lead keeps the link (its page
shows it); a refused opportunity leaves the lead unconverted."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django_scopes import scopes_disabled

from crm.exceptions import ServiceError
from crm.tenancy import tenant_scope
from customers.models import Customer
from leads import conversion
from leads.models import Lead
from opportunities.models import Opportunity, OpportunityStageChange
from tests.customers.factories import fresh
from tests.leads.factories import make_lead
from tests.opportunities.factories import stages


def url(lead) -> str:
    return reverse("leads:lead-convert", args=[lead.pk])


def test_conversion_page_offers_the_opportunity_part(world, login):
    lead = make_lead(world.tenant_a, world.rep_east, company="带商机公司")
    response = login(world.rep_east).get(url(lead))
    assert response.status_code == 200
    form = response.context["form"]
    assert "with_opportunity" in form.fields
    assert form.fields["opportunity_name"].initial == "带商机公司"
    assert [s.name for s in form.fields["opportunity_stage"].queryset] == [
        "初步接洽",
        "需求确定",
        "方案/报价",
        "谈判/合同",
    ]
    assert 'data-testid="convert-opportunity"' in response.content.decode()


def test_converting_with_an_opportunity_creates_and_links_it(world, login):
    lead = make_lead(world.tenant_a, world.rep_east, company="成交机械")
    stage = stages(world.tenant_a)["需求确定"]
    client = login(world.rep_east)
    response = client.post(
        url(lead),
        {
            "target": "new",
            "name": "成交机械",
            "contact": "on",
            "with_opportunity": "on",
            "opportunity_name": "成交机械-叉车",
            "opportunity_amount": "56000",
            "opportunity_close": "2026-12-31",
            "opportunity_stage": stage.pk,
        },
    )
    lead = fresh(lead)
    assert lead.status == Lead.Status.CONVERTED
    with scopes_disabled():
        opportunity = Opportunity.objects.get(name="成交机械-叉车")
        assert opportunity.customer_id == lead.customer_id
        assert opportunity.owner_id == world.rep_east.pk
        assert opportunity.amount == Decimal("56000.00")
        assert opportunity.stage_id == stage.pk
        assert opportunity.expected_close_date == datetime.date(2026, 12, 31)
        assert OpportunityStageChange.objects.filter(opportunity=opportunity).count() == 1
    assert lead.converted_opportunity_id == opportunity.pk
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "opportunities:opportunity-detail", args=[opportunity.pk]
    )
    page = client.get(reverse("leads:lead-detail", args=[lead.pk])).content.decode()
    assert 'data-testid="lead-opportunity"' in page
    assert reverse("opportunities:opportunity-detail", args=[opportunity.pk]) in page


def test_without_the_option_no_opportunity_is_created(world, login):
    lead = make_lead(world.tenant_a, world.rep_east, company="只转客户")
    login(world.rep_east).post(
        url(lead), {"target": "new", "name": "只转客户", "opportunity_name": "不要的商机"}
    )
    lead = fresh(lead)
    assert lead.status == Lead.Status.CONVERTED
    assert lead.converted_opportunity_id is None
    with scopes_disabled():
        assert not Opportunity.objects.filter(tenant=world.tenant_a).exists()


def test_the_opportunity_needs_a_name_and_a_close_date(world, login):
    lead = make_lead(world.tenant_a, world.rep_east, company="缺字段")
    response = login(world.rep_east).post(
        url(lead),
        {"target": "new", "name": "缺字段", "with_opportunity": "on", "opportunity_name": ""},
    )
    assert response.status_code == 422
    errors = response.context["form"].errors
    assert "opportunity_name" in errors and "opportunity_close" in errors
    assert fresh(lead).status == Lead.Status.NEW


def test_a_refused_opportunity_leaves_the_lead_unconverted(world):
    """The opportunity is created in the conversion's transaction: refused (here a won stage
    given as the starting one), nothing of the conversion stays."""
    lead = make_lead(world.tenant_a, world.rep_east, company="回滚公司")
    won = stages(world.tenant_a)["赢单"]
    with tenant_scope(world.tenant_a.pk), pytest.raises(ServiceError):
        conversion.lead_convert(
            actor=world.rep_east,
            lead=lead,
            data={"name": "回滚公司"},
            opportunity={
                "name": "不该有",
                "expected_close_date": datetime.date(2026, 12, 31),
                "stage": won,
            },
        )
    assert fresh(lead).status == Lead.Status.NEW
    with scopes_disabled():
        assert not Customer.objects.filter(tenant=world.tenant_a, name="回滚公司").exists()
        assert not Opportunity.objects.filter(tenant=world.tenant_a).exists()


def test_a_manager_converting_a_reps_lead_gives_the_rep_the_opportunity(world):
    lead = make_lead(world.tenant_a, world.rep_east, company="经理转换")
    with tenant_scope(world.tenant_a.pk):
        customer = conversion.lead_convert(
            actor=world.manager_sales,
            lead=lead,
            data={"name": "经理转换"},
            opportunity={
                "name": "经理转换-商机",
                "expected_close_date": datetime.date(2026, 11, 30),
            },
        )
    with scopes_disabled():
        opportunity = Opportunity.objects.get(name="经理转换-商机")
    assert opportunity.customer_id == customer.pk
    assert opportunity.owner_id == world.rep_east.pk
    assert opportunity.created_by_id == world.manager_sales.pk
    assert fresh(lead).converted_opportunity_id == opportunity.pk
