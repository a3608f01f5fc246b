"""Extension points later modules register with (orders, payments, opportunities…).

* ``register_delete_check(func)``: ``func(customer) -> str | None`` returns the reason a
  customer must not be deleted (it has documents or receivables), or None.
* ``register_related_transfer(func)``: ``func(*, actor, customers, to_user)`` moves the
  customers' open related records (opportunities, quotes…) to the new owner.
"""

from __future__ import annotations

from collections.abc import Callable

_DELETE_CHECKS: list[Callable] = []
_RELATED_TRANSFERS: list[Callable] = []


def register_delete_check(func: Callable) -> Callable:
    _DELETE_CHECKS.append(func)
    return func


def register_related_transfer(func: Callable) -> Callable:
    _RELATED_TRANSFERS.append(func)
    return func


def delete_refusals(customer) -> list[str]:
    return [str(reason) for check in _DELETE_CHECKS if (reason := check(customer))]


def transfer_related(*, actor, customers, to_user) -> None:
    for func in _RELATED_TRANSFERS:
        func(actor=actor, customers=customers, to_user=to_user)
