"""What a user may do to one pooled row, whatever its kind (STYLE "Visibility and
permissions", question 3): claim it (领取) or assign it (分配). The pooled modules' own
``policies.py`` ask these with their kind; the services (``pools.services``) check the same
rules again under their locks, with the messages that say why not."""

from __future__ import annotations

from crm.models import User
from pools.models import PoolGroup
from pools.selectors import is_group_admin, is_group_member


def _open_group(row, kind: str) -> PoolGroup | None:
    """The row's group when the row lies in it and the group is an enabled one of ``kind``."""
    group = row.pool_group if row.pool_group_id else None
    if row.pooled_at is None or group is None or not group.is_enabled or group.kind != kind:
        return None
    return group


def may_claim(user: User, row, kind: str) -> bool:
    """Take the row from its pool: a member of its group, where members claim themselves
    (an admin of the group in either claim mode)."""
    group = _open_group(row, kind)
    if group is None or not user.is_active or not is_group_member(user, group.pk, kind):
        return False
    return group.claim_mode == PoolGroup.ClaimMode.SELF or is_group_admin(user, group.pk, kind)


def may_assign(user: User, row, kind: str) -> bool:
    """Hand the row to someone: an admin of its group (or a holder of the kind's manage
    right, whom ``is_group_admin`` counts as an admin of every group)."""
    group = _open_group(row, kind)
    return group is not None and user.is_active and is_group_admin(user, group.pk, kind)
