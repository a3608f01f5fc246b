"""leads.policies: what each rule allows and what it refuses (personas of tests/conftest;
reps hold lead.convert but not lead.transfer, the sales manager both, admin_a everything)."""

from __future__ import annotations

import pytest

from crm.models import DataScope
from leads import policies
from leads.models import Lead
from tests.factories import make_role, make_user
from tests.leads.factories import make_lead, make_lead_pool, make_pooled_lead


@pytest.fixture
def lead(world):
    return make_lead(world.tenant_a, world.rep_east, company="东一公司")


def test_may_edit_owner_and_managers_over_the_owner(world, scoped, lead):
    with scoped(world.rep_east):
        assert policies.may_edit(world.rep_east, lead)
        assert policies.may_edit(world.manager_sales, lead)
        assert policies.may_edit(world.admin_a, lead)
        assert not policies.may_edit(world.rep_east2, lead)  # same team, own scope
        assert not policies.may_edit(world.service_a, lead)
        assert not policies.may_edit(world.rep_b, lead)  # another tenant


def test_may_edit_refuses_pooled_converted_and_deactivated(world, scoped, lead):
    pooled = make_pooled_lead(make_lead_pool(world.tenant_a))
    converted = make_lead(world.tenant_a, world.rep_east, status=Lead.Status.CONVERTED)
    with scoped(world.rep_east):
        assert not policies.may_edit(world.admin_a, pooled)  # claimed first
        assert not policies.may_edit(world.rep_east, converted)
        assert not policies.may_edit(world.admin_a, converted)
        world.rep_east.is_active = False
        assert not policies.may_edit(world.rep_east, lead)


def test_may_edit_an_ownerless_lead_only_with_scope_all(world, scoped):
    nobody = make_lead(world.tenant_a, None)
    with scoped(world.rep_east):
        assert policies.may_edit(world.admin_a, nobody)
        assert not policies.may_edit(world.manager_sales, nobody)


def test_may_follow_up_is_may_edit(world, scoped, lead):
    with scoped(world.rep_east):
        assert policies.may_follow_up(world.rep_east, lead)
        assert not policies.may_follow_up(world.rep_west, lead)


def test_may_transfer_owner_or_the_transfer_right(world, scoped, lead):
    with scoped(world.rep_east):
        assert policies.may_transfer(world.rep_east, lead)  # handing over their own
        assert policies.may_transfer(world.manager_sales, lead)  # lead.transfer
        assert not policies.may_transfer(world.rep_west, lead)
    # Scope "all" without lead.transfer: may change the lead, not hand it over.
    seer = make_user(world.tenant_a, "seer", role=make_role(world.tenant_a, "seer", DataScope.ALL))
    with scoped(world.rep_east):
        assert policies.may_edit(seer, lead)
        assert not policies.may_transfer(seer, lead)


def test_may_convert_open_leads_with_the_convert_right(world, scoped, lead):
    closed = make_lead(world.tenant_a, world.rep_east, status=Lead.Status.CLOSED)
    with scoped(world.rep_east):
        assert policies.may_convert(world.rep_east, lead)
        assert policies.may_convert(world.manager_sales, lead)
        assert not policies.may_convert(world.service_a, lead)  # invisible, no right
        assert not policies.may_convert(world.rep_east, closed)
    bare = make_user(world.tenant_a, "bare", role=make_role(world.tenant_a, "bare", DataScope.OWN))
    own = make_lead(world.tenant_a, bare)
    with scoped(bare):
        assert policies.may_edit(bare, own)
        assert not policies.may_convert(bare, own)  # no lead.convert


def test_may_return_open_owned_leads(world, scoped, lead):
    nobody = make_lead(world.tenant_a, None)
    contacted = make_lead(world.tenant_a, world.rep_east, status=Lead.Status.CONTACTED)
    closed = make_lead(world.tenant_a, world.rep_east, status=Lead.Status.CLOSED)
    with scoped(world.rep_east):
        assert policies.may_return(world.rep_east, lead)
        assert policies.may_return(world.rep_east, contacted)
        assert policies.may_return(world.manager_sales, lead)
        assert not policies.may_return(world.rep_west, lead)
        assert not policies.may_return(world.rep_east, closed)
        assert not policies.may_return(world.admin_a, nobody)  # no owner to take it from
