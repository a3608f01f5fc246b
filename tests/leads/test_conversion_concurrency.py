"""Converting the same lead from several requests at once (a double click, a manager and
the rep together): the lead row lock lets exactly one conversion through; the others are
refused with "converted" and no second customer appears."""

from __future__ import annotations

import pytest
from django_scopes import scopes_disabled

from crm.exceptions import ServiceError
from crm.tenancy import tenant_scope
from customers.models import Customer, OwnershipEvent
from leads import conversion
from leads.models import Lead, LeadEvent
from tests.leads.factories import make_lead, make_lead_followup
from tests.pools.factories import fresh_user
from tests.pools.test_concurrency import _run_threads

THREADS = 8


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_lead_converted_at_once_by_many_becomes_one_customer(world):
    lead = make_lead(world.tenant_a, world.rep_east, company="抢着转换的公司")
    make_lead_followup(lead, world.rep_east)
    actors = [world.rep_east, world.manager_sales, world.admin_a] * 3
    outcomes: list[str] = []

    def convert(user):
        def run():
            actor = fresh_user(user)
            with tenant_scope(actor.tenant_id):
                try:
                    conversion.lead_convert(actor=actor, lead=Lead.objects.get(pk=lead.pk))
                    outcomes.append("ok")
                except ServiceError as exc:
                    outcomes.append(exc.code)

        return run

    errors = _run_threads([convert(u) for u in actors[:THREADS]])
    assert errors == []
    assert sorted(outcomes) == ["converted"] * (THREADS - 1) + ["ok"]
    with scopes_disabled():
        [customer] = Customer.objects.filter(tenant=world.tenant_a)
        assert (
            OwnershipEvent.objects.filter(
                customer=customer, kind=OwnershipEvent.Kind.CONVERTED
            ).count()
            == 1
        )
        assert LeadEvent.objects.filter(lead=lead, kind=LeadEvent.Kind.CONVERTED).count() == 1
        assert Lead.objects.get(pk=lead.pk).customer_id == customer.pk
