"""A tenant's opportunity defaults: the six stages of wave2.md §3.2 and the settings row,
created with the tenant (crm.services.tenant_created) and on first use for older tenants."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.dispatch import receiver

from crm.models import Role
from crm.services import tenant_created
from crm.tenancy import tenant_scope
from opportunities.models import DEFAULT_STAGES, OpportunitySettings, OpportunityStage
from opportunities.permissions import ROLE_DEFAULTS


def stages_create_defaults(tenant_id: int) -> None:
    """The default stages, when the tenant has none."""
    with tenant_scope(tenant_id):
        if OpportunityStage.objects.filter(tenant_id=tenant_id).exists():
            return
        OpportunityStage.objects.bulk_create(
            OpportunityStage(
                tenant_id=tenant_id,
                name=name,
                probability=probability,
                kind=kind,
                sort=(i + 1) * 10,
            )
            for i, (name, probability, kind) in enumerate(DEFAULT_STAGES)
        )


def settings_for(tenant_id: int) -> OpportunitySettings:
    """The tenant's opportunity settings, created on first use."""
    with tenant_scope(tenant_id):
        found = OpportunitySettings.objects.filter(tenant_id=tenant_id).first()
        if found is not None:
            return found
        try:
            with transaction.atomic():
                return OpportunitySettings.objects.create(tenant_id=tenant_id)
        except IntegrityError:  # created meanwhile by a concurrent request
            return OpportunitySettings.objects.get(tenant_id=tenant_id)


def roles_grant_defaults(tenant_id: int) -> None:
    """The built-in sales roles get their opportunity rights (crm creates the roles with its
    own codes; the administrator holds every registered code already)."""
    with tenant_scope(tenant_id):
        for role in Role.objects.filter(tenant_id=tenant_id, builtin__in=list(ROLE_DEFAULTS)):
            missing = [c for c in ROLE_DEFAULTS[role.builtin] if c not in role.permissions]
            if missing:
                role.permissions = [*role.permissions, *missing]
                role.save(update_fields=["permissions"])


@receiver(tenant_created)
def _create_defaults(sender, tenant, **kwargs) -> None:
    stages_create_defaults(tenant.pk)
    settings_for(tenant.pk)
    roles_grant_defaults(tenant.pk)
