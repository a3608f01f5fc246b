"""Extension points later modules register with (orders, payments, opportunities…).

* ``register_delete_check(func, moves_on_merge=False)``: ``func(customer) -> str | None``
  returns the reason a customer must not be deleted (it has documents or receivables), or
  None. ``moves_on_merge``: the module's records follow a merge (its
  ``register_merge_related`` mover points them at the kept customer), so the check does not
  stop a merge.
* ``register_related_transfer(func)``: ``func(*, actor, customers, to_user)`` moves the
  customers' open related records (opportunities, quotes…) to the new owner.
* ``register_merge_related(func)``: ``func(*, actor, keep, merged_ids)`` points the
  records of another module that belong to the merged-away customers at the kept one
  (customer_merge calls it inside its transaction, before those customers are deleted).
* ``register_detail_tab(key, label, template, context)``: a tab of the customer page
  (客户画像). ``template`` is rendered as the tab's body (also alone, for htmx) with the
  page's context plus ``context(request, customer) -> dict``.

Kinds of owned records (the records follow-ups and files go on: leads, opportunities…)
register in ``customers.owned``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.utils.functional import Promise

_DELETE_CHECKS: list[Callable] = []
_MOVED_ON_MERGE: set[Callable] = set()
_RELATED_TRANSFERS: list[Callable] = []
_MERGE_RELATED: list[Callable] = []
_DETAIL_TABS: dict[str, DetailTab] = {}


@dataclass(frozen=True)
class DetailTab:
    key: str
    label: str | Promise
    template: str
    context: Callable[..., dict]


def register_delete_check(func: Callable, *, moves_on_merge: bool = False) -> Callable:
    _DELETE_CHECKS.append(func)
    if moves_on_merge:
        _MOVED_ON_MERGE.add(func)
    return func


def unregister_delete_check(func: Callable) -> None:
    _DELETE_CHECKS.remove(func)
    _MOVED_ON_MERGE.discard(func)


def register_related_transfer(func: Callable) -> Callable:
    _RELATED_TRANSFERS.append(func)
    return func


def delete_refusals(customer, *, merging: bool = False) -> list[str]:
    """Why ``customer`` may not be deleted; ``merging``: leaving out the records that
    follow a merge to the kept customer."""
    return [
        str(reason)
        for check in _DELETE_CHECKS
        if not (merging and check in _MOVED_ON_MERGE) and (reason := check(customer))
    ]


def transfer_related(*, actor, customers, to_user) -> None:
    for func in _RELATED_TRANSFERS:
        func(actor=actor, customers=customers, to_user=to_user)


def register_merge_related(func: Callable) -> Callable:
    _MERGE_RELATED.append(func)
    return func


def merge_related(*, actor, keep, merged_ids) -> None:
    for func in _MERGE_RELATED:
        func(actor=actor, keep=keep, merged_ids=merged_ids)


def register_detail_tab(
    key: str, label: str | Promise, template: str, context: Callable[..., dict]
) -> DetailTab:
    tab = DetailTab(key, label, template, context)
    _DETAIL_TABS[key] = tab
    return tab


def detail_tabs() -> list[DetailTab]:
    return list(_DETAIL_TABS.values())


def detail_tab(key: str) -> DetailTab | None:
    return _DETAIL_TABS.get(key)
