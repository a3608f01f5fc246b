"""What a user may do to one lead (STYLE "Visibility and permissions", question 3).

Plain functions of ``(user, lead)`` answering "may this user edit / follow up / transfer /
convert / return / close this lead?", built on the data scope
(:func:`crm.visibility.owner_scope`). Services refuse with them; views and templates show
or hide buttons with them. Which leads a user sees at all is crm.visibility's
(``visible_to``); whether a role has a right at all is ``user.can(code)``, which the rules
needing one check as well. Claiming and assigning pooled leads are the pool's rules
(pools: membership and pool admins).
"""

from __future__ import annotations

from crm.models import User
from crm.visibility import owner_scope
from leads.models import Lead


def may_edit(user: User, lead: Lead) -> bool:
    """May ``user`` change this lead (fields, status, close, reopen)? Its owner and users
    whose data scope covers the owner (leads have no participants); a lead lying in a pool
    is claimed first, and a converted lead is read-only for everybody."""
    if not user.is_active or lead.tenant_id != user.tenant_id or lead.is_converted:
        return False
    if lead.in_pool:
        return False
    return owner_scope(user).covers(lead.owner_id)


def may_follow_up(user: User, lead: Lead) -> bool:
    """Follow-ups and files on a lead: those who may change it."""
    return may_edit(user, lead)


def _is_open(lead: Lead) -> bool:
    return lead.status in (Lead.Status.NEW, Lead.Status.CONTACTED) and not lead.in_pool


def may_transfer(user: User, lead: Lead) -> bool:
    """Hand the lead to someone else: those who may change it, with the ``lead.transfer``
    right or as its owner (handing over their own)."""
    return may_edit(user, lead) and (user.can("lead.transfer") or lead.owner_id == user.pk)


def may_convert(user: User, lead: Lead) -> bool:
    """Convert an open lead into a customer: the ``lead.convert`` right and the rights to
    change the lead (leads.conversion.conversion_refusal says why not, row by row)."""
    return _is_open(lead) and may_edit(user, lead) and user.can("lead.convert")


def may_return(user: User, lead: Lead) -> bool:
    """Put an open lead with an owner back into a lead pool: its owner and the managers
    whose data scope covers the owner."""
    return _is_open(lead) and lead.owner_id is not None and may_edit(user, lead)
