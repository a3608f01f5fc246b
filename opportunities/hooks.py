"""Extension points of opportunities and products that later modules register with (quotes,
contracts, orders, after-sales tickets).

* ``register_delete_check(func)``: ``func(opportunity) -> str | None`` returns the reason an
  opportunity must not be deleted (a quote, contract or order references it), or None.
* ``register_product_reference(func)``: ``func(product) -> str | None`` returns the reason a
  product must not be deleted (a line of a later document references it), or None. Lines of
  opportunities are checked by the product service itself.
"""

from __future__ import annotations

from collections.abc import Callable

_DELETE_CHECKS: list[Callable] = []
_PRODUCT_REFERENCES: list[Callable] = []


def register_delete_check(func: Callable) -> Callable:
    _DELETE_CHECKS.append(func)
    return func


def unregister_delete_check(func: Callable) -> None:
    _DELETE_CHECKS.remove(func)


def delete_refusals(opportunity) -> list[str]:
    """Why ``opportunity`` may not be deleted (empty: it may)."""
    return [str(reason) for check in _DELETE_CHECKS if (reason := check(opportunity))]


def register_product_reference(func: Callable) -> Callable:
    _PRODUCT_REFERENCES.append(func)
    return func


def unregister_product_reference(func: Callable) -> None:
    _PRODUCT_REFERENCES.remove(func)


def product_references(product) -> list[str]:
    """Why ``product`` may not be deleted according to the registered modules (empty: none
    of them references it)."""
    return [str(reason) for check in _PRODUCT_REFERENCES if (reason := check(product))]
