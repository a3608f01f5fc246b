"""Opportunities for the report tests, written straight to the tables (the reports read rows;
the services that write them are tested in tests/opportunities/), with the invariants the
services keep: status from the stage's kind, probability from the stage, closed date on
won / lost ones, ``stage_entered_at`` = the last stage change, and a stage-change row per
step of ``path``."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.utils import timezone
from django_scopes import scopes_disabled

from crm.models import Option, OptionKind, Tenant, User
from customers.models import Customer
from opportunities.models import Opportunity, OpportunityStage, OpportunityStageChange
from tests.customers.factories import make_customer


def stages(tenant: Tenant) -> dict[str, OpportunityStage]:
    """The tenant's default stages by name, plus ``won`` and ``lost``."""
    with scopes_disabled():
        found = list(OpportunityStage.objects.filter(tenant=tenant).order_by("sort", "id"))
    out = {s.name: s for s in found}
    out["won"] = next(s for s in found if s.kind == "won")
    out["lost"] = next(s for s in found if s.kind == "lost")
    out["open"] = [s for s in found if s.kind == "open"]
    return out


def lost_reason(tenant: Tenant, label: str) -> Option:
    with scopes_disabled():
        return Option.objects.get_or_create(
            tenant=tenant, kind=OptionKind.LOST_REASON, label=label
        )[0]


_customers: dict[tuple[int, int | None], Customer] = {}


def make_opportunity(
    owner: User | None,
    *,
    tenant: Tenant | None = None,
    path: list[tuple[OpportunityStage, datetime.datetime]],
    amount: int | str = 10000,
    expected: datetime.date | None = None,
    closed: datetime.date | None = None,
    created: datetime.datetime | None = None,
    commit: bool = False,
    reason: Option | None = None,
    customer: Customer | None = None,
    name: str = "",
) -> Opportunity:
    """An opportunity that walked ``path`` ([(stage, moment entered)…], the first one its
    creation); its current stage is the last one."""
    tenant = tenant or owner.tenant
    stage, entered = path[-1]
    created = created or path[0][1]
    with scopes_disabled():
        if customer is None:
            customer = make_customer(tenant, owner)
        opp = Opportunity.objects.create(
            tenant=tenant,
            owner=owner,
            created_by=owner,
            name=name or f"商机{Opportunity.objects.count() + 1}",
            customer=customer,
            amount=Decimal(str(amount)),
            expected_close_date=expected or (closed or timezone.localdate()),
            stage=stage,
            probability=stage.probability,
            commit=commit,
            status=stage.kind,
            stage_entered_at=entered,
            closed_date=closed if stage.kind != "open" else None,
            lost_reason=reason,
            owner_department=owner.department if owner else None,
            created_at=created,
        )
        previous = None
        for step, moment in path:
            OpportunityStageChange.objects.create(
                tenant=tenant,
                opportunity=opp,
                from_stage=previous,
                to_stage=step,
                changed_by=owner,
                changed_at=moment,
                amount=opp.amount,
                probability=step.probability,
            )
            previous = step
    return opp
