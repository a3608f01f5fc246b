"""Extension points of the pool that later modules register with.

* ``register_recycle_exemption(func)``: ``func() -> Q`` returns a condition on the
  customer model (the public pool's rows) that marks customers the recycling must leave
  alone (the opportunities module: "has an open opportunity"). It only applies to groups
  whose ``exempt_with_opportunity`` switch is on (the customer subject, ``customers.subjects``,
  asks for it). The condition is evaluated inside the recycling query (set-based), never per
  customer in Python.
* ``register_activity_date(name, kind=..., latest=..., reason=...)``: a date a higher app
  keeps per pooled row, for the recycle rule "no new <name> in N days" (the opportunities
  module: the newest opportunity of a customer, 悟空's rule type 2). ``latest()`` returns an
  expression giving that date for the row ``OuterRef("pk")`` of the ``kind``'s model (a
  subquery), so the pool subject annotates it on its candidate query (set-based: one
  subquery, never a query per row); ``reason(days)`` words the rule for the forecast and
  the recycling note. The subject names the group fields of each rule (the customer subject:
  ``PoolGroup.recycle_no_opportunity_days`` and ``PoolLevelRule.no_opportunity_days`` for
  "opportunity").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce
from operator import or_

from django.db.models import Q

_EXEMPTIONS: list[Callable[[], Q]] = []


def register_recycle_exemption(func: Callable[[], Q]) -> Callable[[], Q]:
    _EXEMPTIONS.append(func)
    return func


def unregister_recycle_exemption(func: Callable[[], Q]) -> None:
    _EXEMPTIONS.remove(func)


def exemption_q() -> Q | None:
    """The OR of every registered exemption, or None when nothing is registered."""
    conditions = [func() for func in _EXEMPTIONS]
    return reduce(or_, conditions) if conditions else None


def exempt_ids(model, ids) -> set[int]:
    """The ids among ``ids`` (rows of ``model``) that a registered exemption keeps out of
    recycling (one query)."""
    condition = exemption_q()
    if condition is None or not ids:
        return set()
    return set(
        model.objects.filter(pk__in=list(ids)).filter(condition).values_list("pk", flat=True)
    )


def is_exempt(row) -> bool:
    return row.pk in exempt_ids(type(row), [row.pk])


@dataclass(frozen=True)
class ActivityDate:
    name: str
    kind: str
    latest: Callable[[], object]
    reason: Callable[[int], str]

    @property
    def annotation(self) -> str:
        """The name the subject annotates the date under on its rows."""
        return f"last_{self.name}_at"


_ACTIVITY_DATES: dict[str, ActivityDate] = {}


def register_activity_date(
    name: str, *, kind: str, latest: Callable[[], object], reason: Callable[[int], str]
) -> ActivityDate:
    """Register (or replace, for a reloaded module) the dated activity ``name``."""
    found = ActivityDate(name, kind, latest, reason)
    _ACTIVITY_DATES[name] = found
    return found


def unregister_activity_date(name: str) -> None:
    _ACTIVITY_DATES.pop(name, None)


def activity_date(name: str) -> ActivityDate | None:
    """The activity registered under ``name``, or None (its app is not installed: rules
    counting it stay off)."""
    return _ACTIVITY_DATES.get(name)
