"""The opportunities demo (opportunities/demo.py, what `make run` loads): the catalogue, about
600 opportunities over every stage with the services' invariants, histories the reports can
read, converted leads linked, and the funnel showing numbers to the demo's manager."""

from __future__ import annotations

from collections import defaultdict

import pytest
from django.db.models import Count, F, Max, Sum
from django.urls import reverse
from django_scopes import scopes_disabled

from crm.demo import load_demo
from crm.models import User
from leads.models import Lead
from opportunities.models import (
    Opportunity,
    OpportunityContact,
    OpportunityLine,
    OpportunityStageChange,
    Product,
    ProductCategory,
)


@pytest.fixture
def demo(db):
    load_demo()


def test_the_catalogue(demo):
    with scopes_disabled():
        products = Product.objects.filter(tenant__slug="demo")
        assert 180 <= products.count() <= 220
        assert products.exclude(code="").count() == products.count()
        assert {"杭叉", "合力", "龙工", "林德", "丰田"} <= set(
            products.values_list("brand", flat=True)
        )
        categories = ProductCategory.objects.filter(tenant__slug="demo")
        assert categories.aggregate(m=Max("level"))["m"] == 4
        roots = set(categories.filter(parent__isnull=True).values_list("name", flat=True))
        assert roots == {"叉车", "配件", "服务"}
        for c in categories.select_related("parent"):
            assert c.path == f"{c.parent.path if c.parent else '/'}{c.pk}/"
            assert c.level == c.path.count("/") - 1
        assert products.filter(is_vehicle=True, category__path__startswith="/").count() > 100


def test_the_opportunities_keep_the_services_invariants(demo):
    with scopes_disabled():
        opps = Opportunity.objects.filter(tenant__slug="demo").select_related("stage", "owner")
        assert 550 <= opps.count() <= 700
        assert {o["status"] for o in opps.values("status")} == {"open", "won", "lost"}
        assert opps.values("stage").distinct().count() == 6  # every stage
        owners = set(opps.values_list("owner__username", flat=True))
        assert owners == {"rep1", "rep2", "rep3", "manager1"}
        last = {}
        for change in OpportunityStageChange.objects.filter(opportunity__in=opps).order_by(
            "changed_at", "id"
        ):
            last[change.opportunity_id] = change
        sums = dict(
            OpportunityLine.objects.filter(opportunity__in=opps)
            .values("opportunity")
            .annotate(s=Sum("subtotal"))
            .values_list("opportunity", "s")
        )
        for o in opps:
            assert o.status == o.stage.kind
            assert o.probability == o.stage.probability
            assert (o.closed_date is not None) == (o.status != "open")
            assert (o.lost_reason_id is not None) == (o.status == "lost")
            assert last[o.pk].to_stage_id == o.stage_id
            assert last[o.pk].changed_at == o.stage_entered_at
            assert o.amount == sums[o.pk]
            assert o.customer.owner_id == o.owner_id
            assert o.owner_department_id == o.owner.department_id
            assert o.created_at <= o.stage_entered_at
        counts = defaultdict(int)
        for row in (
            OpportunityStageChange.objects.filter(opportunity__in=opps)
            .values("opportunity")
            .annotate(n=Count("pk"))
        ):
            counts[row["n"]] += 1
        assert max(counts) >= 4  # walked histories, not one row each
        contacts = OpportunityContact.objects.filter(opportunity__in=opps)
        assert contacts.exists()
        assert not contacts.exclude(contact__customer=F("opportunity__customer")).exists()
        assert (
            Lead.objects.filter(tenant__slug="demo", converted_opportunity__isnull=False).count()
            >= 5
        )


def test_the_demo_funnel_shows_numbers(demo, client):
    manager = User.objects.get(username="manager1")
    client.force_login(manager, backend="crm.auth.UsernameOrMobileBackend")
    response = client.get(reverse("reports:funnel"), {"preset": "this_year"})
    assert response.status_code == 200
    rows = {row.key: row.values for row in response.context["funnel"]["table"].rows}
    assert rows["won"]["count"] > 0 and rows["lost"]["count"] > 0
    assert sum(v["count"] for k, v in rows.items() if k.startswith("stage-")) > 0
    advance = client.get(reverse("reports:stage-advance"))
    first = advance.context["table"].rows[0]
    assert first.values["reached"] > 0 and first.values["dwell"] is not None
