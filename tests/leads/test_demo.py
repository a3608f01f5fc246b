"""The demo leads (what `make run` loads): owners, the lead pool, campaigns, one rule."""

from __future__ import annotations

import pytest
from django_scopes import scopes_disabled

from crm.demo import load_demo
from customers import owned
from customers.models import FollowUp
from leads.models import AssignmentRule, Campaign, Lead
from pools.models import PoolGroup


@pytest.fixture
def demo(db):
    load_demo()


def test_demo_leads_spread_over_reps_pool_and_campaigns(demo):
    with scopes_disabled():
        leads = Lead.objects.filter(tenant__slug="demo")
        assert 250 <= leads.count() <= 400
        owners = set(leads.filter(owner__isnull=False).values_list("owner__username", flat=True))
        assert {"rep1", "rep2", "rep3"} <= owners
        pool = PoolGroup.objects.get(tenant__slug="demo", kind="lead", is_default=True)
        pooled = leads.filter(pooled_at__isnull=False)
        assert pooled.count() >= 30
        assert set(pooled.values_list("pool_group", flat=True)) == {pool.pk}
        assert not pooled.filter(owner__isnull=False).exists()
        assert Campaign.objects.filter(tenant__slug="demo").count() == 2
        assert leads.filter(campaign__isnull=False).count() > 100
        statuses = set(leads.values_list("status", flat=True))
        assert statuses == {"new", "contacted", "closed", "converted"}
        rule = AssignmentRule.objects.get(tenant__slug="demo")
        assert [m.user.username for m in rule.members.all()] == ["rep1", "rep2"]
        assert FollowUp.objects.filter(owned.on_ids(Lead, leads.values("pk"))).count() > 100


def test_demo_converted_leads_point_at_their_owners_customers(demo):
    with scopes_disabled():
        converted = Lead.objects.filter(status="converted").select_related("customer")
        assert converted.exists()
        for lead in converted:
            assert lead.customer is not None
            assert lead.customer.tenant_id == lead.tenant_id
            assert lead.customer.owner_id == lead.owner_id
            # Their follow-ups belong to the customer as well (as lead_convert leaves them).
            assert not FollowUp.objects.filter(owned.on(lead), customer__isnull=True).exists()


def test_other_tenant_has_its_own_leads(demo):
    with scopes_disabled():
        other = Lead.objects.filter(tenant__slug="other")
        assert other.exists()
        assert not other.filter(owner__tenant__slug="demo").exists()
        assert not other.filter(campaign__tenant__slug="demo").exists()
