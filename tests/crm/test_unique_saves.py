"""A name saved by another request between a service's name check and its own save (two
admins creating "抖音" at the same moment, an old form posted twice without its token) is a
refusal, never a 500 (crm.exceptions.refused_if_taken; issue 15).

The race is made deterministic: the service's name check is made to miss the row another
request has just committed, so the INSERT meets the unique constraint, as it does when two
requests pass the check together."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from django.db.models.query import QuerySet
from django_scopes import scopes_disabled

from crm import services
from crm.exceptions import ServiceError
from crm.models import Option, OptionKind
from crm.tenancy import tenant_scope
from leads import assignment, campaigns
from leads.models import AssignmentRule, Campaign
from pools import services as pool_services
from pools.models import PoolGroup
from tests.leads.factories import make_campaign, make_rule


@contextmanager
def check_misses(model):
    """``exists()`` on ``model`` answers False: the row came in after the check."""
    original = QuerySet.exists

    def exists(self):
        return False if self.model is model else original(self)

    QuerySet.exists = exists
    try:
        yield
    finally:
        QuerySet.exists = original


def _count(model, **filters) -> int:
    with scopes_disabled():
        return model.objects.filter(**filters).count()


def _refused_as_duplicate(call) -> None:
    with pytest.raises(ServiceError) as info:
        call()
    assert info.value.code == "duplicate"


def test_campaign_created_twice_at_once_is_refused(world):
    make_campaign(world.tenant_a, "双十一")
    with tenant_scope(world.tenant_a.pk), check_misses(Campaign):
        _refused_as_duplicate(
            lambda: campaigns.campaign_save(actor=world.admin_a, data={"name": "双十一"})
        )
    assert _count(Campaign, tenant=world.tenant_a, name="双十一") == 1


def test_assignment_rule_created_twice_at_once_is_refused(world):
    make_rule(world.tenant_a, [world.rep_east], name="华东轮流")
    with tenant_scope(world.tenant_a.pk), check_misses(AssignmentRule):
        _refused_as_duplicate(
            lambda: assignment.rule_save(
                actor=world.admin_a, data={"name": "华东轮流"}, users=[world.rep_east]
            )
        )
    assert _count(AssignmentRule, tenant=world.tenant_a, name="华东轮流") == 1


def test_pool_group_created_twice_at_once_is_refused(world):
    with tenant_scope(world.tenant_a.pk):
        pool_services.pool_group_save(
            kind="customer", actor=world.admin_a, data={"name": "华东公海"}
        )
        with check_misses(PoolGroup):
            _refused_as_duplicate(
                lambda: pool_services.pool_group_save(
                    kind="customer", actor=world.admin_a, data={"name": "华东公海"}
                )
            )
    assert _count(PoolGroup, tenant=world.tenant_a, name="华东公海") == 1


def test_option_created_or_renamed_onto_a_taken_label_at_once_is_refused(world):
    kind = OptionKind.values[0]
    with tenant_scope(world.tenant_a.pk):
        services.option_create(actor=world.admin_a, kind=kind, label="抖音-新")
        other = services.option_create(actor=world.admin_a, kind=kind, label="快手-新")
        with check_misses(Option):
            _refused_as_duplicate(
                lambda: services.option_create(actor=world.admin_a, kind=kind, label="抖音-新")
            )
            _refused_as_duplicate(
                lambda: services.option_update(
                    actor=world.admin_a, option=other, label="抖音-新", is_active=True
                )
            )
    assert _count(Option, tenant=world.tenant_a, kind=kind, label="抖音-新") == 1
    assert _count(Option, pk=other.pk, label="快手-新") == 1
