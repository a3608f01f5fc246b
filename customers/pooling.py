"""The public pool (公海) of customers: claim, assign, return, move, initialise.

Thin wrappers over the pool engine (``pools.services`` with the customer subject of
``customers.subjects``): members, claim mode, daily and holding limits, cool-down, return
reasons and hidden fields are the engine's; ownership events (``customers.OwnershipEvent``)
and the signed / locked / open-opportunity rules are the customer's. The lead pools have the
same entry points in ``leads.pooling``.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.dispatch import receiver

from crm.models import Option, User
from crm.services import tenant_created
from customers import policies
from customers.models import Customer
from customers.subjects import CUSTOMER
from pools import services as pool_services
from pools.models import PoolGroup
from pools.services import PoolResult

KIND = PoolGroup.Kind.CUSTOMER


@transaction.atomic
def customer_claim(*, actor: User, customers: Sequence[Customer | int]) -> PoolResult:
    """The actor takes customers from pools they are a member of (领取), single or batch."""
    return pool_services.pool_subject_claim(actor=actor, subject=CUSTOMER, rows=customers)


@transaction.atomic
def customer_assign(
    *,
    actor: User,
    customers: Sequence[Customer | int],
    users: Sequence[User],
    distribution: str = "even",
    note: str = "",
) -> PoolResult:
    """A pool admin hands pool customers to reps (分配): to one user, or spread over several
    evenly (平均: in turn, by id) or at random (随机)."""
    return pool_services.pool_subject_assign(
        actor=actor,
        subject=CUSTOMER,
        rows=customers,
        users=users,
        distribution=distribution,
        note=note,
    )


@transaction.atomic
def customer_return(
    *,
    actor: User,
    customers: Sequence[Customer | int],
    reason: Option | None,
    note: str = "",
    group: PoolGroup | None = None,
) -> list[Customer]:
    """Owners (or their managers) put customers back into the pool (退回公海) with a reason
    from the tenant's list and a free note, into their own group or, where allowed, another."""
    return pool_services.pool_subject_return(
        actor=actor, subject=CUSTOMER, rows=customers, reason=reason, note=note, group=group
    )


@transaction.atomic
def customer_move(
    *, actor: User, customers: Sequence[Customer | int], group: PoolGroup
) -> list[Customer]:
    """A pool admin moves pool customers into another group (of which they are admin too)."""
    return pool_services.pool_subject_move(
        actor=actor, subject=CUSTOMER, rows=customers, group=group
    )


@transaction.atomic
def customer_pool_initialize(*, actor: User, group: PoolGroup | None = None) -> tuple[int, int]:
    """初始化公海分组: every live customer without a group gets ``group`` (default: the
    default group); ownerless ones go into its pool. Returns (owned, pooled) counts."""
    return pool_services.pool_subject_initialize(actor=actor, subject=CUSTOMER, group=group)


def default_pool(tenant_id: int) -> PoolGroup:
    """The tenant's default public pool (默认公海), created on first use."""
    return pool_services.default_group_for(tenant_id, KIND)


def customer_may_return(*, actor: User, customer: Customer) -> bool:
    """The owner, and managers whose data scope covers the owner (not for a locked one):
    customers.policies.may_return."""
    return policies.may_return(actor, customer)


def customer_return_targets(*, actor: User, customer: Customer | None = None) -> list[PoolGroup]:
    """The groups ``actor`` may return ``customer`` into (for a choice on the page)."""
    return pool_services.return_targets(actor, customer, kind=KIND)


@receiver(tenant_created)
def _create_default_pool(sender, tenant, **kwargs) -> None:
    # A new tenant starts with exactly one group, its public pool. The default lead pool is
    # created on first use (leads.pooling: the lead pool page, a lead created or returned
    # without a group).
    default_pool(tenant.pk)
