"""What a user may do to one customer (STYLE "Visibility and permissions", question 3).

Plain functions of ``(user, object)`` answering "may this user edit / follow up / comment /
manage the participants of / lock / delete / transfer this row?", built on the data scope
(:func:`crm.visibility.owner_scope`) and visibility. Services refuse with them; views and
templates show or hide buttons with them; nothing else writes these rules again. Which rows
a user sees at all is crm.visibility's (``visible_to``); whether a role has a right at all is
``user.can(code)``, which the rules needing one check as well.
"""

from __future__ import annotations

from crm.models import User
from crm.visibility import can_edit, can_see, edit_permission, owner_scope
from customers.models import Customer, CustomerParticipant, FollowUp
from pools import policies as pool_policies
from pools.models import PoolGroup


def may_edit(user: User, customer: Customer, *, in_bin: bool = False) -> bool:
    """May ``user`` change this customer (fields, contacts, files, status, tags, lock)?

    Its owner, users whose data scope covers the owner, and participants holding the edit
    grant (crm.visibility.can_edit). A locked customer only by its owner and those
    participants (seed 004 "锁定"); one in the recycle bin by nobody, except for restoring or
    purging it (``in_bin``), which takes the same rights."""
    if (customer.is_deleted and not in_bin) or not user.is_active:
        return False
    if customer.is_locked:
        if not can_see(user, customer):
            return False
        return customer.owner_id == user.pk or user.has_perm(edit_permission(Customer), customer)
    return can_edit(user, customer)


def may_follow_up(user: User, customer: Customer) -> bool:
    """Those who may change the customer, and every participant (read-only ones too: working
    alongside the owner is what participants are for); also for adding files."""
    if customer.is_deleted:
        return False
    if may_edit(user, customer):
        return True
    return CustomerParticipant.objects.filter(customer=customer, user=user).exists()


def may_comment(user: User, followup: FollowUp) -> bool:
    """Managers comment on follow-ups (点评): someone whose data scope covers the author,
    never the author. (The customer must be visible too: the service checks it.)"""
    if followup.created_by_id == user.pk:
        return False
    return owner_scope(user).covers(followup.created_by_id)


def may_manage_participants(user: User, customer: Customer) -> bool:
    """Add or remove team members (我参与的): those who may change the customer."""
    return may_edit(user, customer)


def may_lock(user: User, customer: Customer) -> bool:
    """Lock or unlock: those who may change the customer (the owner and edit participants
    when it is locked, the owner's managers too when it is not)."""
    return may_edit(user, customer)


def may_delete(user: User, customer: Customer) -> bool:
    """Move to the recycle bin, or restore or purge one lying there: the ``customer.delete``
    right, and the rights to change the customer."""
    return user.can("customer.delete") and may_edit(user, customer, in_bin=customer.is_deleted)


def may_transfer(user: User, customer: Customer) -> bool:
    """Give the customer to someone else (转移): the ``customer.transfer`` right, and the
    rights to change the customer."""
    return user.can("customer.transfer") and may_edit(user, customer)


# ---------------------------------------------------------------- the public pool (公海)


def may_claim(user: User, customer: Customer) -> bool:
    """领取: a member of the customer's pool group where members claim themselves, or an
    admin of the group (pools.policies)."""
    return not customer.is_deleted and pool_policies.may_claim(
        user, customer, PoolGroup.Kind.CUSTOMER
    )


def may_assign(user: User, customer: Customer) -> bool:
    """分配 a pooled customer to someone: an admin of its pool group (pools.policies)."""
    return not customer.is_deleted and pool_policies.may_assign(
        user, customer, PoolGroup.Kind.CUSTOMER
    )


def may_return(user: User, customer: Customer) -> bool:
    """退回公海: its owner, and the managers whose data scope covers the owner; never a
    customer in the recycle bin, and a locked one only by its owner. (The pool service
    refuses a customer already in the pool with its own message.)"""
    if customer.owner_id is None or customer.is_deleted:
        return False
    if customer.owner_id == user.pk:
        return True
    return not customer.is_locked and owner_scope(user).covers(customer.owner_id)
