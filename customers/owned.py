"""Owned records as one concept: the kinds of record follow-ups and files go on.

Customers are the lowest app with owned records; every other owned module sits above them
(leads today, then opportunities, contracts, orders, service tickets). A follow-up
(``FollowUp``) or a file (``Attachment``) points at the record it is on generically
(``record_type`` + ``record_id``) and, whenever the record has one, directly at its customer
(``customer``), so the customer timeline, the follow-up feed and the statistics read a
customer's history without joins.

A module registers its kind of record once, from its own code (customers register
themselves in ``customers.services``, leads in ``leads.services``)::

    owned.register(owned.OwnedKind(key="lead", model=Lead, get_for_actor=..., for_work=...,
                                   detail_url=..., customer_id=...))

* ``get_for_actor(*, actor, pk)``: the row when the actor may see it, else a not-found (404).
* ``for_work(*, actor, row, what)``: the row (a row or its id), locked, once the actor may
  work on it (``what``: "followup", "file" or "edit"), else a refusal.
* ``detail_url(pk)``: the record's page.
* ``customer_id(row)``: the record's direct customer (a customer is its own, a converted
  lead the customer it became, an opportunity its customer), or None.
* ``followed_up(row)``: extra columns a follow-up sets on the record (a new lead becomes
  contacted), or None.
* ``files_full`` / ``followup_elsewhere``: the refusals of a full file list and of a file
  given to a follow-up of another record, in the record's own words.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q, QuerySet
from django.utils.functional import Promise


@dataclass(frozen=True)
class OwnedKind:
    key: str
    model: type[models.Model]
    get_for_actor: Callable[..., models.Model]
    for_work: Callable[..., models.Model]
    detail_url: Callable[[int], str]
    customer_id: Callable[[models.Model], int | None]
    files_full: str | Promise
    followup_elsewhere: str | Promise
    followed_up: Callable[[models.Model], dict] | None = None
    # What its follow-ups count as in the follow-up statistics (FollowUp.counts_as): a fixed
    # subject ("lead"), or None for its customer's lifecycle (a customer's, an opportunity's).
    counts_as: str | None = None
    # Whether a follow-up on it is also its customer's (moves the customer's last follow-up
    # time, which the pool's "no follow-up in N days" rule reads): an opportunity's is, a
    # lead's is not (a lead is worked before it is a customer).
    touches_customer: bool = False

    @property
    def content_type(self) -> ContentType:
        return ContentType.objects.get_for_model(self.model)


_KINDS: dict[str, OwnedKind] = {}


def register(kind: OwnedKind) -> OwnedKind:
    """Register (or replace, for a reloaded module) a kind of owned record."""
    for key, known in list(_KINDS.items()):
        if known.model is kind.model and key != kind.key:
            raise ValueError(f"{kind.model.__name__} is already registered as {key!r}")
    _KINDS[kind.key] = kind
    return kind


def unregister(key: str) -> None:
    _KINDS.pop(key, None)


def kinds() -> list[OwnedKind]:
    return list(_KINDS.values())


def kind(key: str) -> OwnedKind:
    """The kind registered under ``key`` (KeyError for an unknown one)."""
    return _KINDS[key]


def kind_of(record_or_model) -> OwnedKind:
    """The kind of a record (a row or a model class); LookupError when not registered."""
    model = record_or_model if isinstance(record_or_model, type) else type(record_or_model)
    for known in _KINDS.values():
        if issubclass(model, known.model):
            return known
    raise LookupError(f"{model.__name__} is not a registered kind of owned record")


def kind_for_type(content_type_id: int) -> OwnedKind:
    """The kind behind a ``record_type`` id; LookupError when not registered."""
    model = ContentType.objects.get_for_id(content_type_id).model_class()
    if model is None:
        raise LookupError(f"content type {content_type_id} has no model")
    return kind_of(model)


def link(record: models.Model) -> dict:
    """The columns that put a follow-up or a file on ``record``: the record itself and its
    direct customer (None when it has none)."""
    found = kind_of(record)
    return {
        "record_type": found.content_type,
        "record_id": record.pk,
        "customer_id": found.customer_id(record),
    }


def on(record: models.Model) -> Q:
    """The condition for the follow-ups or files on ``record``."""
    return Q(record_type=kind_of(record).content_type, record_id=record.pk)


def on_ids(model: type[models.Model], ids: Iterable[int] | QuerySet) -> Q:
    """The condition for the follow-ups or files on the ``model`` records ``ids`` (a list,
    or a queryset of ids used as a subquery: set-based, for lists and batches)."""
    if not isinstance(ids, QuerySet):
        ids = list(ids)
    return Q(record_type=kind_of(model).content_type, record_id__in=ids)


def of_kind(model: type[models.Model]) -> Q:
    """The condition for every follow-up or file on a record of ``model``."""
    return Q(record_type=kind_of(model).content_type)
