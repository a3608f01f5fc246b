"""Lead test data, written straight to the tables (no service, no rights check).

Every helper takes the tenant from its parent and passes it down (STYLE: a factory never
invents a second tenant)."""

from __future__ import annotations

import itertools

from django.utils import timezone
from django_scopes import scopes_disabled

from crm.models import Tenant, User
from customers.models import FollowUp, PoolReason
from leads.models import AssignmentRule, AssignmentRuleUser, Campaign, Lead
from pools.models import PoolGroup

_numbers = itertools.count(1)


def make_lead(tenant: Tenant, owner: User | None, name: str | None = None, **fields) -> Lead:
    """A lead of ``tenant`` owned by ``owner`` (None: unowned, not in a pool unless
    ``pool_group``/``pooled_at`` are given; see make_pooled_lead)."""
    n = next(_numbers)
    fields.setdefault("company", f"测试线索公司{n}")
    if owner is not None:
        fields.setdefault("owned_since", timezone.now())
    with scopes_disabled():
        return Lead.objects.create(
            tenant=tenant, owner=owner, created_by=owner, name=name or f"线索人{n}", **fields
        )


def make_lead_pool(tenant: Tenant, name: str | None = None, **fields) -> PoolGroup:
    """A lead pool group of ``tenant`` (every member unless ``open_to_all=False``)."""
    fields.setdefault("open_to_all", True)
    with scopes_disabled():
        return PoolGroup.objects.create(
            tenant=tenant,
            kind=PoolGroup.Kind.LEAD,
            name=name or f"线索池{next(_numbers)}",
            **fields,
        )


def make_pooled_lead(group: PoolGroup, name: str | None = None, **fields) -> Lead:
    fields.setdefault("pooled_at", timezone.now())
    fields.setdefault("pool_reason", PoolReason.CREATED)
    return make_lead(group.tenant, None, name, pool_group=group, **fields)


def make_campaign(tenant: Tenant, name: str | None = None, **fields) -> Campaign:
    with scopes_disabled():
        return Campaign.objects.create(
            tenant=tenant, name=name or f"活动{next(_numbers)}", **fields
        )


def make_rule(tenant: Tenant, users: list[User], name: str | None = None, **fields):
    with scopes_disabled():
        rule = AssignmentRule.objects.create(
            tenant=tenant, name=name or f"规则{next(_numbers)}", **fields
        )
        for i, user in enumerate(users):
            AssignmentRuleUser.objects.create(tenant=tenant, rule=rule, user=user, position=i)
        return rule


def make_lead_followup(lead: Lead, author: User, content: str = "电话沟通", **fields):
    with scopes_disabled():
        # On the lead, and on its customer once it is converted (as lead_convert leaves it).
        return FollowUp.objects.create(
            tenant_id=lead.tenant_id,
            record=lead,
            customer_id=lead.customer_id,
            counts_as=FollowUp.LEAD,
            created_by=author,
            content=content,
            **fields,
        )
