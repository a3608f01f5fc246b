"""Extension points of the pool that later modules register with.

* ``register_recycle_exemption(func)``: ``func() -> Q`` returns a condition on the
  customer model (the public pool's rows) that marks customers the recycling must leave
  alone (the opportunities module: "has an open opportunity"). It only applies to groups
  whose ``exempt_with_opportunity`` switch is on (the customer subject, ``customers.subjects``,
  asks for it). The condition is evaluated inside the recycling query (set-based), never per
  customer in Python.
"""

from __future__ import annotations

from collections.abc import Callable
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
