"""What a user may do to one opportunity (STYLE "Visibility and permissions", question 3).

Plain functions of ``(user, opportunity)`` built on the data scope
(:func:`crm.visibility.owner_scope`) and visibility; services refuse with them, views and
templates show or hide buttons with them. Which opportunities a user sees at all is
crm.visibility's (``visible_to``: owned in scope ∪ team ∪ nothing public); whether a role has
a right at all is ``user.can(code)``.

Won and lost opportunities are read-only (wave2.md §3.4) except their remark, files,
follow-ups and team: ``may_edit`` is for the fields, lines, contacts and stage of an open
one; ``may_edit_remark``, ``may_follow_up`` and ``may_manage_participants`` stay open after
the end.
"""

from __future__ import annotations

from crm.models import User
from crm.visibility import can_edit, can_see, owner_scope
from customers import policies as customer_policies
from customers.models import Customer
from opportunities.models import Opportunity, OpportunityParticipant


def may_view(user: User, opportunity: Opportunity) -> bool:
    return user.is_active and can_see(user, opportunity)


def _may_change(user: User, opportunity: Opportunity) -> bool:
    """Owner, users whose data scope covers the owner, team members with the edit grant."""
    if not user.is_active or opportunity.tenant_id != user.tenant_id:
        return False
    return can_edit(user, opportunity)


def may_edit(user: User, opportunity: Opportunity) -> bool:
    """Change the fields, lines and contacts of an open opportunity."""
    return opportunity.is_open and _may_change(user, opportunity)


def may_edit_remark(user: User, opportunity: Opportunity) -> bool:
    """The remark stays editable after the end (won or lost)."""
    return _may_change(user, opportunity)


def may_change_stage(user: User, opportunity: Opportunity) -> bool:
    """Move an open opportunity to another stage, win it or lose it: those who may edit it."""
    return may_edit(user, opportunity)


def may_reopen(user: User, opportunity: Opportunity) -> bool:
    """Reopen a won or lost opportunity: the ``opportunity.reopen`` right (managers) and a
    data scope covering the owner, only when its end stage allows reopening."""
    if opportunity.is_open or not opportunity.stage.allow_reopen:
        return False
    if not user.is_active or opportunity.tenant_id != user.tenant_id:
        return False
    return user.can("opportunity.reopen") and owner_scope(user).covers(opportunity.owner_id)


def may_transfer(user: User, opportunity: Opportunity) -> bool:
    """Give the opportunity to someone else (open or not): its owner, or a holder of
    ``opportunity.transfer`` whose data scope covers the owner."""
    if not user.is_active or opportunity.tenant_id != user.tenant_id:
        return False
    if opportunity.owner_id == user.pk:
        return True
    return user.can("opportunity.transfer") and owner_scope(user).covers(opportunity.owner_id)


def may_delete(user: User, opportunity: Opportunity) -> bool:
    """The ``opportunity.delete`` right and the owner or a data scope covering the owner
    (the service also refuses while a document references it)."""
    if not user.is_active or opportunity.tenant_id != user.tenant_id:
        return False
    if not user.can("opportunity.delete"):
        return False
    return opportunity.owner_id == user.pk or owner_scope(user).covers(opportunity.owner_id)


def may_follow_up(user: User, opportunity: Opportunity) -> bool:
    """Follow-ups and files (also after the end): those who may change it, and every team
    member (read-only ones too, as on customers)."""
    if _may_change(user, opportunity):
        return True
    return OpportunityParticipant.objects.filter(opportunity=opportunity, user=user).exists()


def may_manage_participants(user: User, opportunity: Opportunity) -> bool:
    """Add or remove team members (also after the end): those who may change it."""
    return _may_change(user, opportunity)


def may_create_for(user: User, customer: Customer) -> bool:
    """Create an opportunity on ``customer``: the ``opportunity.create`` right and the right
    to edit the customer (wave2.md §3.1: only a customer the user owns or may edit); never
    one lying in the pool or in the recycle bin."""
    if not user.can("opportunity.create") or customer.tenant_id != user.tenant_id:
        return False
    if customer.deleted_at is not None or customer.pooled_at is not None:
        return False
    return customer_policies.may_edit(user, customer)
