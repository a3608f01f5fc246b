"""线索自动分配: ordered rules hand new, imported, returned and pooled leads to users in
turn (round robin). Entry point for the other lead services: ``auto_assign``.

TODO(issue 6, assignment rules): the rules engine is being written; until then no lead is
assigned automatically.
"""

from __future__ import annotations

from collections.abc import Sequence

from crm.models import User
from leads.models import Lead

TRIGGERS = ("create", "import", "return", "periodic")


def auto_assign(
    *, leads: Sequence[Lead], trigger: str, actor: User | None = None
) -> dict[int, User]:
    """Give each unowned lead of ``leads`` to a user by the first matching enabled rule that
    applies to ``trigger``; returns {lead id: user} for the leads it assigned. Leads no rule
    takes stay where they are. Locks what it changes; call inside the caller's transaction."""
    if trigger not in TRIGGERS:
        raise ValueError(trigger)
    return {}
