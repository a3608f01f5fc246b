"""Reads of opportunities for an actor (scoped: 404 for what they may not see) and of the
tenant's stages and option lists."""

from __future__ import annotations

from django.db.models import DurationField, ExpressionWrapper, F, QuerySet
from django.db.models.functions import Now
from django.http import Http404

from crm.models import Option, OptionKind, User
from crm.visibility import visible_to
from opportunities.models import Opportunity, OpportunityStage, OpportunityStageChange, StageKind


def opportunities_visible(actor: User) -> QuerySet:
    """Every opportunity ``actor`` may see (owned in scope ∪ team)."""
    return visible_to(actor, Opportunity.objects.all())


def opportunity_get_for_actor(*, actor: User, pk: int) -> Opportunity:
    """One visible opportunity with what its page shows, or 404 (missing, another tenant's,
    not visible)."""
    try:
        return (
            opportunities_visible(actor)
            .select_related(
                "customer",
                "owner",
                "owner_department",
                "stage",
                "primary_contact",
                "lost_reason",
                "created_by",
            )
            .get(pk=pk)
        )
    except (Opportunity.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


def stages(tenant_id: int, *, active_only: bool = False) -> QuerySet:
    """The tenant's stages in pipeline order (open ones by their sort, then won, then lost)."""
    qs = OpportunityStage.objects.filter(tenant_id=tenant_id)
    if active_only:
        qs = qs.filter(is_active=True)
    return qs.order_by("sort", "id")


def open_stages(tenant_id: int) -> list[OpportunityStage]:
    """The active open stages in order (the kanban's columns before 赢单 / 输单)."""
    return list(stages(tenant_id, active_only=True).filter(kind=StageKind.OPEN))


def end_stage(tenant_id: int, kind: str) -> OpportunityStage:
    """The tenant's one won (``kind="won"``) or lost stage."""
    return OpportunityStage.objects.get(tenant_id=tenant_id, kind=kind)


def lost_reasons(tenant_id: int) -> QuerySet:
    return Option.objects.filter(
        tenant_id=tenant_id, kind=OptionKind.LOST_REASON, is_active=True
    ).order_by("sort_order", "id")


def contact_roles(tenant_id: int) -> QuerySet:
    return Option.objects.filter(
        tenant_id=tenant_id, kind=OptionKind.CONTACT_ROLE, is_active=True
    ).order_by("sort_order", "id")


def with_time_in_stage(queryset: QuerySet) -> QuerySet:
    """Annotate ``in_stage`` (a duration: now − stage_entered_at) for sorting and filters;
    ``Opportunity.days_in_stage()`` gives the days of one row."""
    return queryset.annotate(
        in_stage=ExpressionWrapper(Now() - F("stage_entered_at"), output_field=DurationField())
    )


def stage_history(*, opportunity: Opportunity) -> list[OpportunityStageChange]:
    """The opportunity's stage changes, oldest first, each with ``duration`` (how long it
    stayed in ``to_stage``: until the next change, or until now for the current one)."""
    from django.utils import timezone

    rows = list(
        OpportunityStageChange.objects.filter(
            tenant_id=opportunity.tenant_id, opportunity=opportunity
        )
        .select_related("from_stage", "to_stage", "changed_by")
        .order_by("changed_at", "id")
    )
    now = timezone.now()
    for row, following in zip(rows, [*rows[1:], None], strict=True):
        end = following.changed_at if following is not None else now
        row.duration = end - row.changed_at
    return rows
