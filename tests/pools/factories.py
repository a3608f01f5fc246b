"""Pool test data, written straight to the tables (no service, no rights check).

Every helper takes the tenant from its parent (the group, the user) and passes it down.
"""

from __future__ import annotations

import datetime
import itertools

from django.utils import timezone
from django_scopes import scopes_disabled

from crm.models import Option, OptionKind, User
from customers.models import Customer, OwnershipEvent
from pools.models import PoolGroup, PoolGroupDepartment, PoolGroupUser, PoolLevelRule
from tests.customers.factories import make_customer

DAY = datetime.timedelta(days=1)
_names = itertools.count(1)


def make_group(
    tenant,
    name: str | None = None,
    *,
    departments=(),
    users=(),
    admins=(),
    level_rules=(),
    **rules,
) -> PoolGroup:
    """A pool group of ``tenant`` with member departments, users, admins and level rules
    (``(level option, no_followup_days, no_deal_days)``)."""
    with scopes_disabled():
        group = PoolGroup.objects.create(tenant=tenant, name=name or f"公海{next(_names)}", **rules)
        for dept in departments:
            PoolGroupDepartment.objects.create(tenant=tenant, group=group, department=dept)
        for user in users:
            PoolGroupUser.objects.create(tenant=tenant, group=group, user=user)
        for user in admins:
            PoolGroupUser.objects.create(tenant=tenant, group=group, user=user, is_admin=True)
        for level, followup, deal in level_rules:
            PoolLevelRule.objects.create(
                tenant=tenant,
                group=group,
                level=level,
                no_followup_days=followup,
                no_deal_days=deal,
            )
        return group


def pooled(group: PoolGroup, name: str | None = None, *, at=None, **fields) -> Customer:
    """A customer lying in ``group``'s pool (no owner)."""
    fields.setdefault("pool_reason", "returned")
    return make_customer(
        group.tenant, None, name, pool_group=group, pooled_at=at or timezone.now(), **fields
    )


def owned(group: PoolGroup, owner: User, name: str | None = None, *, since=None, **fields):
    """A customer of ``group`` owned by ``owner`` since ``since`` (default: now)."""
    since = since or timezone.now()
    fields.setdefault("created_at", since)
    return make_customer(group.tenant, owner, name, pool_group=group, owned_since=since, **fields)


def levels(tenant) -> list[Option]:
    with scopes_disabled():
        return list(
            Option.objects.filter(tenant=tenant, kind=OptionKind.CUSTOMER_LEVEL).order_by(
                "sort_order", "id"
            )
        )


def return_reason(tenant, label: str = "联系不上") -> Option:
    with scopes_disabled():
        return Option.objects.get(tenant=tenant, kind=OptionKind.POOL_RETURN_REASON, label=label)


def fresh_user(user: User) -> User:
    """The user without the per-request caches (pool membership, data scope)."""
    with scopes_disabled():
        return User.objects.select_related("role", "department").get(pk=user.pk)


def claimed_events(customer_ids=None, **filters) -> list[OwnershipEvent]:
    with scopes_disabled():
        qs = OwnershipEvent.objects.filter(kind=OwnershipEvent.Kind.CLAIMED, **filters)
        if customer_ids is not None:
            qs = qs.filter(customer_id__in=list(customer_ids))
        return list(qs.order_by("id"))


def set_rules(group: PoolGroup, **rules) -> None:
    """Change a group's columns in the database (and on the instance)."""
    with scopes_disabled():
        PoolGroup.objects.filter(pk=group.pk).update(**rules)
    for key, value in rules.items():
        setattr(group, key, value)
