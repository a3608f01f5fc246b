"""What a user who manages users may give, and whom they may manage (issue 15).

SECURITY: ``users.manage`` is not a master key. Its holder can give (to a role, to a user,
to themselves) only the permission codes they hold and a data scope no wider than their own,
and cannot change, deactivate or reset the password of a user whose role holds more than
theirs. The services (``crm.services``) refuse; the settings forms offer only what may be
given, built from the same functions.

Data scopes are compared by breadth, narrowest first: ``own`` < ``own_and_subordinates`` <
``department`` < ``department_and_below`` < ``all``. A scope is relative to the user who
holds it, so the comparison is one of breadth, not of the exact set of owners.
"""

from __future__ import annotations

from collections.abc import Iterable

from crm import permissions
from crm.models import DataScope, Role, User

SCOPE_ORDER: tuple[str, ...] = (
    DataScope.OWN,
    DataScope.OWN_AND_SUBORDINATES,
    DataScope.DEPARTMENT,
    DataScope.DEPARTMENT_AND_BELOW,
    DataScope.ALL,
)


def scope_breadth(scope: str) -> int:
    """The rank of a data scope in :data:`SCOPE_ORDER`; an unknown one is the widest."""
    try:
        return SCOPE_ORDER.index(scope)
    except ValueError:
        return len(SCOPE_ORDER)


def role_codes(role: Role | None) -> frozenset[str]:
    """The registered permission codes a role holds (none without a role)."""
    if role is None:
        return frozenset()
    known = set(permissions.all_codes())
    return frozenset(c for c in role.permissions if c in known)


def role_scope(role: Role | None) -> str:
    return role.data_scope if role is not None else DataScope.OWN


def held_codes(actor: User) -> frozenset[str]:
    """What the actor may give: the codes they hold (nothing once deactivated)."""
    return frozenset(actor.permission_codes)


def missing_codes(actor: User, codes: Iterable[str]) -> list[str]:
    """The codes among ``codes`` the actor does not hold, in the order given."""
    held = held_codes(actor)
    return [c for c in dict.fromkeys(codes) if c not in held]


def scope_exceeds(actor: User, scope: str) -> bool:
    """Is ``scope`` wider than the actor's own data scope?"""
    return scope_breadth(scope) > scope_breadth(actor.data_scope)


def role_exceeds(actor: User, role: Role | None) -> bool:
    """Does ``role`` hold a code the actor lacks, or a wider data scope than theirs?"""
    if role is None:
        return False
    return bool(missing_codes(actor, role_codes(role))) or scope_exceeds(actor, role.data_scope)


def user_outranks(actor: User, user: User) -> bool:
    """Has ``user`` (active or not) more rights than the actor: a code or a scope the actor
    lacks? Such a user is managed only by someone who holds at least as much."""
    return role_exceeds(actor, user.role if user.role_id else None)


def grantable_codes(actor: User) -> list[str]:
    """The codes the actor may put in a role, in registry order."""
    held = held_codes(actor)
    return [c for c in permissions.all_codes() if c in held]


def grantable_scopes(actor: User) -> list[tuple[str, str]]:
    """The data scope choices the actor may give, narrowest first."""
    limit = scope_breadth(actor.data_scope)
    return [(value, label) for value, label in DataScope.choices if scope_breadth(value) <= limit]
