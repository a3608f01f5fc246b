"""The one masking layer (issue 14 §4, DESIGN §3 "field masking"): which fields of a row a user
may not see, decided here and applied to everything that shows a row (pages, tabs, fragments,
exports, the activity timeline, the convert page) and to search (a row is never matched through
a field its searcher may not see).

A module with maskable rows registers a :class:`MaskingRule` (the pool rule from
``pools.masking``: what a pool group hides while a row lies in its pool; later amounts hidden
by role). A rule speaks in *keys* (``"contact_phones"``, ``"address"``…, what a setting names)
and says which *field paths* each key covers on a model: the row's own fields (``"address"``)
and its related rows' (``"contacts__mobile"``, as an ORM lookup would name them).

* :func:`hidden_fields` / :func:`hidden_fields_many`: the keys hidden from a user on one row /
  on a page of rows (PERF: the rule reads what the rows carry, no query per row);
* :func:`hidden_paths`, :func:`field_hidden`, :func:`mask`, :func:`prepare` (for the
  ``masked`` template filter): the same per field;
* :func:`mask_activity`: activity-log entries of a row with the old and new values of its
  hidden fields (and of its related rows' hidden fields) replaced by :data:`MASK`;
* :func:`shown_q` / :func:`search_q`: "match field X only on rows where X is not hidden".

SECURITY: a row nobody registered a rule for hides nothing; a registered rule decides alone
what it hides, and every key a rule names must map to field paths (``keys``), so a key is
never silently without effect.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import models
from django.db.models import Q

# What a hidden value reads as in text (exports, the activity timeline, the convert page).
MASK = "***"

# The attribute prepare() sets on a row for the ``masked`` template filter.
PREPARED_ATTRIBUTE = "_masking_hidden_paths"


class MaskingRule:
    """One reason for hiding fields. Subclasses answer for the models they apply to."""

    def applies_to(self, model: type[models.Model]) -> bool:
        raise NotImplementedError

    def keys(self, model: type[models.Model]) -> dict[str, tuple[str, ...]]:
        """``{key: field paths}`` for ``model``: what hiding a key hides."""
        raise NotImplementedError

    def hidden_keys(self, user, obj: models.Model) -> frozenset[str]:
        """The keys ``user`` may not see on ``obj`` (no query per row on a prepared page)."""
        raise NotImplementedError

    def hidden_keys_many(self, user, objs: Sequence[models.Model]) -> dict[Any, frozenset[str]]:
        """``{pk: keys}`` for a page of rows; override to read shared data once."""
        return {obj.pk: self.hidden_keys(user, obj) for obj in objs}

    def shown_q(self, user, model: type[models.Model], key: str) -> Q:
        """The rows of ``model`` on which ``key`` is shown to ``user`` (an empty ``Q()`` for
        all of them)."""
        raise NotImplementedError

    def activity_relations(self, model: type[models.Model]) -> dict[str, str]:
        """``{action prefix: relation}``: activity entries about a row whose action starts
        with the prefix record changes of that related row (``"contact."``: ``contacts``)."""
        return {}


_RULES: list[MaskingRule] = []


def register(rule: MaskingRule) -> MaskingRule:
    """Add a rule (from an ``AppConfig.ready()``); a rule registered twice is an error."""
    if any(type(r) is type(rule) for r in _RULES):
        raise ValueError(f"masking rule {type(rule).__name__} is registered twice")
    _RULES.append(rule)
    _rules_for.cache_clear()
    return rule


def unregister(rule: MaskingRule) -> None:
    """Remove a rule (tests)."""
    _RULES.remove(rule)
    _rules_for.cache_clear()


@functools.cache
def _rules_for(model: type[models.Model]) -> tuple[MaskingRule, ...]:
    return tuple(rule for rule in _RULES if rule.applies_to(model))


def rules_for(model: type[models.Model]) -> tuple[MaskingRule, ...]:
    return _rules_for(model._meta.concrete_model)


def _model(obj) -> type[models.Model]:
    return type(obj)._meta.concrete_model


# ---------------------------------------------------------------- keys and paths


def hidden_fields(user, obj: models.Model) -> frozenset[str]:
    """The keys of ``obj`` that ``user`` may not see (every rule's, together)."""
    keys: set[str] = set()
    for rule in rules_for(_model(obj)):
        keys |= rule.hidden_keys(user, obj)
    return frozenset(keys)


def hidden_fields_many(user, objs: Iterable[models.Model]) -> dict[Any, frozenset[str]]:
    """``{pk: hidden keys}`` for a page of rows of one model (PERF: each rule reads what it
    shares between rows once; no query per row)."""
    objs = list(objs)
    if not objs:
        return {}
    result: dict[Any, set[str]] = {obj.pk: set() for obj in objs}
    for rule in rules_for(_model(objs[0])):
        for pk, keys in rule.hidden_keys_many(user, objs).items():
            result[pk] |= keys
    return {pk: frozenset(keys) for pk, keys in result.items()}


def paths_for_keys(model: type[models.Model], keys: Iterable[str]) -> frozenset[str]:
    """The field paths ``keys`` hide on ``model``."""
    keys = set(keys)
    paths: set[str] = set()
    for rule in rules_for(model):
        for key, key_paths in rule.keys(model).items():
            if key in keys:
                paths.update(key_paths)
    return frozenset(paths)


def maskable_paths(model: type[models.Model]) -> frozenset[str]:
    """Every field path some rule may hide on ``model`` (exports wrap those columns)."""
    paths: set[str] = set()
    for rule in rules_for(model):
        for key_paths in rule.keys(model).values():
            paths.update(key_paths)
    return frozenset(paths)


def hidden_paths(user, obj: models.Model) -> frozenset[str]:
    """The field paths of ``obj`` that ``user`` may not see (``"address"``,
    ``"contacts__mobile"``)."""
    model = _model(obj)
    paths: set[str] = set()
    for rule in rules_for(model):
        hidden = rule.hidden_keys(user, obj)
        if hidden:
            for key, key_paths in rule.keys(model).items():
                if key in hidden:
                    paths.update(key_paths)
    return frozenset(paths)


def field_hidden(user, obj: models.Model, path: str) -> bool:
    """Whether ``user`` may not see field ``path`` of ``obj``."""
    return path in hidden_paths(user, obj)


def prepare(user, objs: Iterable[models.Model]) -> None:
    """Record on each row what ``user`` may not see, for the ``masked`` template filter
    (one bulk computation for the page)."""
    objs = list(objs)
    if not objs:
        return
    model = _model(objs[0])
    for obj in objs:
        setattr(obj, PREPARED_ATTRIBUTE, frozenset())
    for pk, keys in hidden_fields_many(user, objs).items():
        if keys:
            paths = paths_for_keys(model, keys)
            for obj in objs:
                if obj.pk == pk:
                    setattr(obj, PREPARED_ATTRIBUTE, paths)


def prepared_paths(obj: models.Model) -> frozenset[str]:
    """What prepare() recorded on ``obj``. SECURITY: a row that was not prepared is an
    error, never shown in clear by default."""
    try:
        return getattr(obj, PREPARED_ATTRIBUTE)
    except AttributeError:
        raise LookupError(
            f"{type(obj).__name__} {obj.pk} was not prepared for masking (crm.masking.prepare)"
        ) from None


class Masked:
    """A read-only view of a row for one user: hidden fields read as :data:`MASK`, the others
    as on the row. ``hidden`` holds the hidden keys, ``paths`` the hidden field paths."""

    def __init__(self, obj: models.Model, hidden: frozenset[str], paths: frozenset[str]):
        self._obj = obj
        self.hidden = hidden
        self.paths = paths

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self.paths:
            return MASK
        return getattr(self._obj, name)

    def __str__(self) -> str:
        return str(self._obj)


def mask(user, obj: models.Model) -> Masked:
    """``obj`` as ``user`` may read it (see :class:`Masked`)."""
    hidden = hidden_fields(user, obj)
    return Masked(obj, hidden, paths_for_keys(_model(obj), hidden) if hidden else frozenset())


def mask_value(value: Any, hidden: bool) -> Any:
    """``value``, or :data:`MASK` when it is hidden (exports)."""
    return MASK if hidden else value


# ---------------------------------------------------------------- the activity timeline


def _relation_of(action: str, relations: dict[str, str]) -> str | None:
    for prefix, relation in relations.items():
        if action.startswith(prefix):
            return relation
    return None


def mask_activity(
    user, obj: models.Model, entries: Iterable, paths: frozenset[str] | None = None
) -> list:
    """The activity-log ``entries`` about ``obj`` with the old and new values of the fields
    ``user`` may not see on it replaced by :data:`MASK`: its own hidden fields, and for the
    entries about a related row (a contact of a customer, by the action's prefix) that row's
    hidden fields. The entries are changed in memory only (the log stays as it was).
    ``paths``: the hidden paths when already known (rows prepared in bulk by :func:`prepare`)."""
    entries = list(entries)
    if paths is None:
        paths = hidden_paths(user, obj)
    if not paths or not entries:
        return entries
    model = _model(obj)
    relations: dict[str, str] = {}
    for rule in rules_for(model):
        relations.update(rule.activity_relations(model))
    own = {p for p in paths if "__" not in p}
    related: dict[str, set[str]] = {}
    for p in paths:
        if "__" in p:
            relation, field = p.split("__", 1)
            related.setdefault(relation, set()).add(field)
    for entry in entries:
        if not entry.changes:
            continue
        relation = _relation_of(entry.action, relations)
        names = related.get(relation, set()) if relation else own
        if names & set(entry.changes):
            entry.changes = {
                field: ([MASK, MASK] if field in names else values)
                for field, values in entry.changes.items()
            }
    return entries


# ---------------------------------------------------------------- search


def shown_q(user, model: type[models.Model], paths: Iterable[str]) -> Q:
    """The rows of ``model`` on which every field of ``paths`` is shown to ``user``."""
    paths = set(paths)
    conditions = []
    for rule in rules_for(model):
        for key, key_paths in rule.keys(model).items():
            if paths & set(key_paths):
                condition = rule.shown_q(user, model, key)
                if condition:
                    conditions.append(condition)
    return functools.reduce(operator.and_, conditions) if conditions else Q()


def search_q(user, model: type[models.Model], paths: Iterable[str], condition: Q) -> Q:
    """``condition`` (a match on ``paths``) limited to the rows where those fields are shown
    to ``user``: a search never finds a row through a field its searcher may not see."""
    shown = shown_q(user, model, paths)
    return condition & shown if shown else condition
