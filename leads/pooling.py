"""The lead pool (线索池): claim, assign, return, move and the pool list.

Thin wrappers over the pool machinery (``pools.services`` with the lead subject of
``pools.subjects``): the same rules as the public pool — members, claim mode, daily and
holding limits, cool-down, return reasons, hidden fields — with LeadEvents instead of
ownership events and the open leads a user owns as the holding count. Recycling of leads
runs in ``pools.recycling`` with the customer groups'.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from django.db import transaction
from django.db.models import QuerySet

from crm.models import Option, OptionKind, User
from leads.models import Lead
from leads.subjects import LEAD
from pools import selectors as pool_selectors
from pools import services as pool_services
from pools.models import PoolGroup
from pools.services import PoolResult

KIND = PoolGroup.Kind.LEAD


@transaction.atomic
def lead_claim(*, actor: User, leads: Sequence[Lead | int]) -> PoolResult:
    """The actor takes leads from lead pools they are a member of (领取), one or many. A lead
    another user got first is reported in ``lost``; limits refuse the whole batch."""
    return pool_services.pool_subject_claim(actor=actor, subject=LEAD, rows=leads)


@transaction.atomic
def lead_assign(
    *,
    actor: User,
    leads: Sequence[Lead | int],
    users: Sequence[User],
    distribution: str = "even",
    note: str = "",
) -> PoolResult:
    """A lead pool admin (or a holder of lead.manage) hands pooled leads to users (分配),
    evenly in turn or at random; each user's holding limit holds."""
    return pool_services.pool_subject_assign(
        actor=actor,
        subject=LEAD,
        rows=leads,
        users=users,
        distribution=distribution,
        note=note,
    )


@transaction.atomic
def lead_return(
    *,
    actor: User,
    leads: Sequence[Lead | int],
    reason: Option | None,
    note: str = "",
    group: PoolGroup | None = None,
) -> list[Lead]:
    """Owners (or managers whose scope covers the owner) put leads back into a lead pool
    (退回线索池) with a reason from the tenant's return reasons and a note: into the lead's own
    pool or, where allowed, the chosen one (never a customer pool). Converted leads are
    refused. The automatic assignment rules for returned leads may then hand them out."""
    from leads.assignment import auto_assign

    returned = pool_services.pool_subject_return(
        actor=actor, subject=LEAD, rows=leads, reason=reason, note=note, group=group
    )
    auto_assign(leads=returned, trigger="return", actor=actor)
    return returned


@transaction.atomic
def lead_move(*, actor: User, leads: Sequence[Lead | int], group: PoolGroup) -> list[Lead]:
    """A lead pool admin moves pooled leads into another lead pool they administer."""
    return pool_services.pool_subject_move(actor=actor, subject=LEAD, rows=leads, group=group)


# ---------------------------------------------------------------- reads


def lead_pool_groups(*, actor: User) -> list[PoolGroup]:
    """The enabled lead pools ``actor`` may open (the default one exists from the first
    call: it is created on first use)."""
    pool_services.default_group_for(actor.tenant_id, KIND)
    return pool_selectors.visible_groups(actor, KIND)


def lead_pool_list(*, actor: User, group: PoolGroup | None = None) -> QuerySet:
    """The leads lying in the lead pools ``actor`` may open (or in one of them), with what
    the pool list shows."""
    return pool_selectors.pool_base(actor=actor, group=group, kind=KIND).select_related(
        "pool_group", "previous_owner", "source", "campaign"
    )


def lead_hidden_fields(*, actor: User, lead: Lead) -> frozenset[str]:
    """What ``actor`` may not see on ``lead`` while it lies in a pool: keys of
    ``pools.models.LEAD_HIDDEN_FIELD_CHOICES`` (contact_phones: mobile and phone;
    contact_emails: e-mail; address; remark)."""
    return pool_selectors.hidden_fields_for(actor, lead)


def lead_return_targets(*, actor: User, lead: Lead | None = None) -> list[PoolGroup]:
    """The lead pools ``actor`` may return ``lead`` into (for a choice on the page)."""
    return pool_services.return_targets(actor, lead, kind=KIND)


def lead_return_reasons(tenant_id: int) -> QuerySet:
    return Option.objects.filter(
        tenant_id=tenant_id, kind=OptionKind.POOL_RETURN_REASON, is_active=True
    )


def lead_may_return(*, actor: User, lead: Lead) -> bool:
    """Whether the page offers 退回线索池 for ``lead`` (the service checks again)."""
    return lead.pooled_at is None and not lead.is_converted and LEAD.may_return(actor, lead)


def lead_forecast(lead: Lead) -> pool_selectors.Forecast | None:
    """When an owned open lead falls back into its pool (its group's days without a
    follow-up), or None; the same forecast the warnings before recycling use. No query when
    the lead was read with its pool group (``lead_get_for_actor``), else one."""
    if lead.owner_id is None or lead.pooled_at is not None or not lead.pool_group_id:
        return None
    if lead.status not in (Lead.Status.NEW, Lead.Status.CONTACTED):
        return None
    return LEAD.forecast(lead, lead.pool_group)


def lead_due_for_recycling(*, actor: User, now: datetime.datetime | None = None) -> list[Lead]:
    """The actor's own open leads that their lead pool recycles within its warning days,
    soonest first, each with ``.forecast`` set (the workbench)."""
    return pool_selectors.due_for_recycling(actor=actor, now=now, kind=KIND)
