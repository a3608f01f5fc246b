"""How an activity-log entry reads (issue 16 §6): one Chinese sentence per entry and one line
per payload key, never a raw key or value.

* field names: the action's own labels (``register_action(fields=...)``), the target model's
  ``verbose_name``, then :data:`COMMON_FIELDS`; a key nobody named reads as "其他字段";
* values: choice values as their labels (also when stored as a raw value or an English
  label), booleans 是/否, dates and times localised, lists joined with "、";
* a change with an empty "before" reads "设为 X", one with an empty "after" "清空（原为 X）",
  a fact (``register_action(plain=True)``: a new contact, a file, a source lead) "字段：X";
* imports and exports: counters ("新增 3 条 · 更新 1 条 · …"), the kind exported and its
  filters as readable conditions ("视图：全部 · 关键词：华东") through the describers the list's
  module registers for its export kind (:func:`register_query_words`).

SECURITY: this layer only reads what it is given. The timeline masks values first
(crm.masking.mask_activity through crm.selectors.activity_timeline); a masked value (``***``)
reads as it is.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import models
from django.http import QueryDict
from django.utils import formats, timezone
from django.utils.functional import Promise
from django.utils.html import conditional_escape, escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, override

from crm import activity
from crm.masking import MASK

# Payload keys several actions share whatever their target (a label of their own first).
COMMON_FIELDS: dict[str, str | Promise] = {
    "owner": gettext_lazy("Owner"),
    "parent": gettext_lazy("Parent department"),
    "contact": gettext_lazy("Contact"),
    "file": gettext_lazy("File"),
    "tags": gettext_lazy("Tags"),
    "participants": gettext_lazy("Participants"),
    "merged": gettext_lazy("Merged customers"),
    "lead": gettext_lazy("Source lead"),
    "customer": gettext_lazy("Customer"),
    "users": gettext_lazy("Members"),
    "sort_order": gettext_lazy("Position"),
    "pool_group": gettext_lazy("Pool group"),
    "status": gettext_lazy("Status"),
    "close_reason": gettext_lazy("Close reason"),
}

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:?\d{2}|Z)?$"
)
_TRUE = {"True", "true", "Yes"}
_FALSE = {"False", "false", "No"}


@dataclass
class Words:
    """One entry as people read it: ``verb`` (the action's label), ``object`` (what it was
    done to) and ``lines`` (safe HTML, one per payload key or counter group)."""

    verb: str
    object: str
    lines: list[SafeString] = field(default_factory=list)


# ---------------------------------------------------------------- export queries

# ``describer(tenant_id, key, values) -> (label, text) | None``: one condition of a list's
# query string; None leaves the key out (paging, sorting).
QueryWords = Callable[[int, str, list[str]], "tuple[str, str] | None"]
_QUERY_WORDS: dict[str, QueryWords] = {}

# Query keys that say how a list is shown, not what it holds.
_NOT_CONDITIONS = {"page", "cursor", "size", "per_page", "sort", "order", "partial"}


def register_query_words(export_kind: str, describer: QueryWords) -> None:
    """Say how the query strings of an export kind read (from the list's module)."""
    _QUERY_WORDS[export_kind] = describer


def filterset_words(
    get_filterset: Callable[[], type],
    *,
    views: Callable[[], Iterable[tuple[str, Any]]] | None = None,
    extra: dict[str, tuple[str | Promise, dict[str, Any]]] | None = None,
) -> QueryWords:
    """A describer from a list's FilterSet class: its filters' labels, choices, related rows
    (read in the entry's tenant), booleans and date ranges; ``views`` the list's views
    (``?view=``); ``extra`` other keys as ``{key: (label, {value: label})}``."""

    def describe(tenant_id: int, key: str, values: list[str]):
        if key == "view" and views is not None:
            labels = {k: str(v) for k, v in views()}
            return _("List view"), "、".join(labels.get(v, _("(unknown)")) for v in values)
        if extra and key in extra:
            label, choices = extra[key]
            return str(label), "、".join(str(choices.get(v, v)) for v in values)
        if key == "q":
            return _("Keyword"), "、".join(values)
        filterset = get_filterset()
        name, suffix = key, ""
        for end in ("_after", "_before", "_min", "_max"):
            if key.endswith(end) and key[: -len(end)] in filterset.base_filters:
                name, suffix = key[: -len(end)], end
        flt = filterset.base_filters.get(name)
        if flt is None:
            return None
        label = str(flt.label or _("Other condition"))
        if suffix in ("_after", "_min"):
            label = _("%(field)s from") % {"field": label}
        elif suffix in ("_before", "_max"):
            label = _("%(field)s until") % {"field": label}
        return label, "、".join(_filter_value(filterset, flt, tenant_id, v) for v in values)

    return describe


def _filter_value(filterset, flt, tenant_id: int, value: str) -> str:
    import django_filters

    if isinstance(flt, django_filters.BooleanFilter):
        return bool_text(value in _TRUE or value in {"1", "on"})
    if isinstance(flt, django_filters.ModelChoiceFilter | django_filters.ModelMultipleChoiceFilter):
        try:
            related = filterset._meta.model._meta.get_field(flt.field_name).related_model
            rows = related._base_manager.filter(pk=value)
            if any(f.name == "tenant" for f in related._meta.fields):
                rows = rows.filter(tenant_id=tenant_id)
            row = rows.first()
        except (ValueError, TypeError, LookupError, models.FieldDoesNotExist):
            row = None
        return str(row) if row is not None else _("(deleted)")
    if isinstance(flt, django_filters.ChoiceFilter):
        choices = {str(k): str(v) for k, v in flt.extra.get("choices", ())}
        return choices.get(value, _("(unknown)"))
    return value_text(value)


def query_conditions(export_kind: str, tenant_id: int, query: str) -> list[tuple[str, str]]:
    """``[(label, text)]`` of an export's list query; keys nobody describes are counted as
    "另有 N 项条件", never shown raw."""
    describer = _QUERY_WORDS.get(export_kind)
    conditions: list[tuple[str, str]] = []
    unknown = 0
    for key, values in QueryDict(query or "").lists():
        values = [v for v in values if v != ""]
        if not values or key in _NOT_CONDITIONS:
            continue
        described = describer(tenant_id, key, values) if describer else None
        if described is None:
            unknown += 1
        else:
            conditions.append((str(described[0]), str(described[1])))
    if unknown:
        conditions.append((_("Other conditions"), _("%(count)s more") % {"count": unknown}))
    return conditions


# ---------------------------------------------------------------- names and values


def _model(entry) -> type[models.Model] | None:
    named = activity.action_model(entry.action)
    if named:
        from django.apps import apps

        return apps.get_model(named)
    try:
        return entry.content_type.model_class()
    except Exception:  # an entry without a content type (tests, a removed model)
        return None


def _model_field(entry, key: str):
    model = _model(entry)
    if model is None:
        return None
    try:
        return model._meta.get_field(key)
    except Exception:
        return None


def field_label(entry, key: str) -> str:
    """The readable name of payload ``key`` of ``entry``."""
    own = activity.action_fields(entry.action)
    if key in own:
        return str(own[key])
    model_field = _model_field(entry, key)
    if model_field is not None and getattr(model_field, "verbose_name", None):
        return str(model_field.verbose_name)
    if key in COMMON_FIELDS:
        return str(COMMON_FIELDS[key])
    return _("Other field")


def bool_text(value: bool) -> str:
    return _("Yes") if value else _("No")


def _choice_label(model_field, value: str) -> str | None:
    choices = list(model_field.flatchoices)
    for raw, label in choices:
        if value in (str(raw), str(label)):
            return str(label)
    with override("en"):
        english = [str(label) for _raw, label in choices]
    for (_raw, label), text in zip(choices, english, strict=True):
        if value == text:
            return str(label)
    return None


def _datetime_text(value: str) -> str | None:
    if _ISO_DATE.match(value):
        try:
            return formats.date_format(datetime.date.fromisoformat(value), "Y-m-d")
        except ValueError:
            return None
    if _ISO_DATETIME.match(value):
        try:
            moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if timezone.is_aware(moment):
            moment = timezone.localtime(moment)
        return formats.date_format(moment, "Y-m-d H:i")
    return None


def value_text(value: Any, model_field=None) -> str:
    """A stored payload value as people read it ("" for nothing)."""
    if value is None or value == "":
        return ""
    if value == MASK:
        return MASK
    if isinstance(value, bool):
        return bool_text(value)
    if isinstance(value, list | tuple):
        return "、".join(t for t in (value_text(v, model_field) for v in value) if t)
    if isinstance(value, dict):
        return "、".join(f"{value_text(k)}：{value_text(v)}" for k, v in value.items())
    if isinstance(value, int | float):
        return formats.localize(value)
    text = str(value)
    if isinstance(model_field, models.BooleanField) and (text in _TRUE or text in _FALSE):
        return bool_text(text in _TRUE)
    if model_field is None and text in {"True", "False"}:
        return bool_text(text == "True")
    if model_field is not None and getattr(model_field, "choices", None):
        label = _choice_label(model_field, text)
        if label is not None:
            return label
    moment = _datetime_text(text)
    return moment if moment is not None else text


# ---------------------------------------------------------------- lines


def _line(template: str, **values: str) -> SafeString:
    return mark_safe(escape(template) % {k: conditional_escape(v) for k, v in values.items()})  # noqa: S308


def change_line(label: str, before: str, after: str, *, plain: bool = False) -> SafeString | None:
    """One changed field: "标签：旧 → 新", "标签：设为 新", "清空标签（原为 旧）", or for a fact
    "标签：值"."""
    if not before and not after:
        return None
    if plain:
        return _line(_("%(field)s: %(value)s"), field=label, value=after or before)
    if not before:
        return _line(_("%(field)s: set to %(value)s"), field=label, value=after)
    if not after:
        return _line(_("Cleared %(field)s (was %(value)s)"), field=label, value=before)
    return mark_safe(  # noqa: S308
        escape(_("%(field)s: %(before)s → %(after)s"))
        % {
            "field": conditional_escape(label),
            "before": format_html("<del>{}</del>", before),
            "after": format_html("<ins>{}</ins>", after),
        }
    )


def _pair(values: Any) -> tuple[Any, Any]:
    if isinstance(values, list | tuple):
        if len(values) >= 2:
            return values[0], values[1]
        return "", values[0] if values else ""
    return "", values


def _number(changes: dict, key: str) -> str:
    return value_text(_pair(changes.get(key, ""))[1]) or "0"


IMPORT_COUNTERS = [
    ("created", gettext_lazy("%(count)s new")),
    ("updated", gettext_lazy("%(count)s updated")),
    ("skipped", gettext_lazy("%(count)s skipped")),
    ("failed", gettext_lazy("%(count)s failed")),
]
UNDO_COUNTERS = [
    ("removed", gettext_lazy("%(count)s removed")),
    ("restored", gettext_lazy("%(count)s restored")),
    ("kept", gettext_lazy("%(count)s kept")),
]


def counters_line(changes: dict, counters) -> SafeString:
    """ "新增 3 条 · 更新 1 条 · 跳过 0 条 · 失败 2 条"."""
    parts = [str(label) % {"count": _number(changes, key)} for key, label in counters]
    return mark_safe(" · ".join(conditional_escape(p) for p in parts))  # noqa: S308


def _counters_words(entry, counters) -> list[SafeString]:
    changes = entry.changes or {}
    known = {key for key, _label in counters}
    return [counters_line(changes, counters), *_change_lines(entry, exclude=known)]


def _export_words(entry) -> list[SafeString]:
    from crm.exporting import kind_label

    changes = entry.changes or {}
    kind = str(_pair(changes.get("kind", ""))[1])
    lines = [
        _line(_("Exported: %(kind)s"), kind=str(kind_label(kind)) if kind else _("a list")),
        _line(_("Rows: %(count)s"), count=_number(changes, "row_count")),
    ]
    if "selected" in changes:
        lines.append(_line(_("Selected rows: %(count)s"), count=_number(changes, "selected")))
    query = _pair(changes.get("query", ""))[1]
    if query and query != MASK:
        conditions = query_conditions(kind, entry.tenant_id, str(query))
        if conditions:
            text = " · ".join(
                _("%(field)s: %(value)s") % {"field": label, "value": value}
                for label, value in conditions
            )
            lines.append(_line(_("Conditions: %(conditions)s"), conditions=text))
    return lines


_SPECIAL: dict[str, Callable[[Any], list[SafeString]]] = {
    "import.applied": lambda entry: _counters_words(entry, IMPORT_COUNTERS),
    "import.undone": lambda entry: _counters_words(entry, UNDO_COUNTERS),
    "export.created": _export_words,
}


def _change_lines(entry, exclude: Iterable[str] = ()) -> list[SafeString]:
    plain = activity.action_is_plain(entry.action)
    lines = []
    for key, values in (entry.changes or {}).items():
        if key in exclude:
            continue
        before, after = _pair(values)
        model_field = _model_field(entry, key)
        line = change_line(
            field_label(entry, key),
            value_text(before, model_field),
            value_text(after, model_field),
            plain=plain,
        )
        if line is not None:
            lines.append(line)
    return lines


def object_text(entry) -> str:
    """What the entry is about: its record's name when it was logged (an export: its kind
    and time, not the job's code)."""
    if entry.action == "export.created":
        from crm.exporting import kind_label

        kind = str(_pair((entry.changes or {}).get("kind", ""))[1])
        if kind:
            return _("%(kind)s export") % {"kind": kind_label(kind)}
    return entry.object_repr


def words(entry) -> Words:
    """``entry`` as people read it (call after masking: values are shown as given)."""
    special = _SPECIAL.get(entry.action)
    lines = special(entry) if special else _change_lines(entry)
    verb = activity.action_label(entry.action)
    # An action no module registers any more (old entries) never shows its code.
    return Words(
        verb=str(verb) if verb != entry.action else _("changed the record"),
        object=object_text(entry),
        lines=lines,
    )
