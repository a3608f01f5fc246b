"""Test data of opportunities and products (foundation helper; shared by the tests of
tests/opportunities/)."""

from __future__ import annotations

import datetime
import itertools
from decimal import Decimal

from django_scopes import scopes_disabled

from crm.models import Option, OptionKind, Tenant, User
from crm.tenancy import tenant_scope
from customers.models import Customer
from opportunities import services
from opportunities.models import (
    Opportunity,
    OpportunityStage,
    Product,
    ProductCategory,
    StageKind,
)

_numbers = itertools.count(1)


def stage(tenant: Tenant, name: str) -> OpportunityStage:
    with scopes_disabled():
        return OpportunityStage.objects.get(tenant=tenant, name=name)


def stages(tenant: Tenant) -> dict[str, OpportunityStage]:
    """The tenant's stages by name (初步接洽, 需求确定, 方案/报价, 谈判/合同, 赢单, 输单)."""
    with scopes_disabled():
        return {s.name: s for s in OpportunityStage.objects.filter(tenant=tenant)}


def end_stage(tenant: Tenant, kind: str) -> OpportunityStage:
    with scopes_disabled():
        return OpportunityStage.objects.get(tenant=tenant, kind=kind)


def option(tenant: Tenant, kind: str, label: str | None = None) -> Option:
    with scopes_disabled():
        qs = Option.objects.filter(tenant=tenant, kind=kind).order_by("sort_order", "id")
        return qs.get(label=label) if label else qs.first()


def lost_reason(tenant: Tenant, label: str | None = None) -> Option:
    return option(tenant, OptionKind.LOST_REASON, label)


def contact_role(tenant: Tenant, label: str | None = None) -> Option:
    return option(tenant, OptionKind.CONTACT_ROLE, label)


def make_category(tenant: Tenant, name: str = "叉车", parent: ProductCategory | None = None):
    with scopes_disabled():
        category = ProductCategory.objects.create(
            tenant=tenant,
            name=name,
            parent=parent,
            level=(parent.level + 1) if parent else 1,
        )
        category.path = f"{parent.path if parent else '/'}{category.pk}/"
        category.save(update_fields=["path"])
        return category


def make_product(
    tenant: Tenant,
    name: str | None = None,
    *,
    price="100.00",
    category: ProductCategory | None = None,
    **fields,
) -> Product:
    with scopes_disabled():
        if category is None:
            category = ProductCategory.objects.filter(tenant=tenant, parent=None).first()
            category = category or make_category(tenant)
        return Product.objects.create(
            tenant=tenant,
            name=name or f"产品{next(_numbers)}",
            category=category,
            price=Decimal(price),
            **fields,
        )


def make_opportunity(
    actor: User,
    customer: Customer,
    name: str | None = None,
    *,
    stage: OpportunityStage | None = None,
    lines=(),
    **data,
) -> Opportunity:
    """An opportunity created through the service by ``actor`` (who must be allowed to)."""
    data.setdefault("expected_close_date", datetime.date(2026, 12, 31))
    data["name"] = name or f"商机{next(_numbers)}"
    if stage is not None:
        data["stage"] = stage
    with tenant_scope(actor.tenant_id):
        return services.opportunity_create(
            actor=actor, customer=customer, data=data, lines=list(lines)
        )


def refreshed(opportunity: Opportunity) -> Opportunity:
    with scopes_disabled():
        return Opportunity.objects.select_related("stage").get(pk=opportunity.pk)


__all__ = ["StageKind"]
