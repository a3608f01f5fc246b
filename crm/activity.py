"""The activity log: one service to record "who did what to which record, with field changes"
and the registry of action labels the timeline shows."""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from crm.models import ActivityLog, User

_ACTIONS: dict[str, str | Promise] = {}
# How each action's payload reads (crm.activity_words): labels of its payload keys that are
# not fields of the target's model, and whether a value with an empty "before" is a fact
# ("联系人：张三") rather than a change ("设为 …").
_FIELDS: dict[str, dict[str, str | Promise]] = {}
_PLAIN: set[str] = set()
# The model whose fields an action's payload names when it is not the target's
# ("contact.updated" is logged on the customer with the contact's fields).
_MODELS: dict[str, str] = {}

# SECURITY: never store secrets in the log, whatever a caller passes.
_MASKED = ("password", "secret", "token", "api_key")


def register_action(
    code: str,
    label: str | Promise,
    *,
    fields: dict[str, str | Promise] | None = None,
    plain: bool = False,
    model: str = "",
) -> str:
    """Register an action and its label (a verb phrase: "changed the customer"). ``fields``
    names the payload keys that are not fields of the target's model (``{"file": _("File")}``);
    ``plain``: its payload states facts (a new contact's name), shown without "设为";
    ``model`` ("app_label.Model"): the model its payload's fields belong to, when it is not
    the target's."""
    _ACTIONS[code] = label
    if fields:
        _FIELDS[code] = dict(fields)
    if plain:
        _PLAIN.add(code)
    if model:
        _MODELS[code] = model
    return code


def registered_actions() -> dict[str, str | Promise]:
    """Every registered action code and its label (the words test renders each)."""
    return dict(_ACTIONS)


def action_fields(code: str) -> dict[str, str | Promise]:
    return _FIELDS.get(code, {})


def action_is_plain(code: str) -> bool:
    return code in _PLAIN


def action_model(code: str) -> str:
    return _MODELS.get(code, "")


def action_label(code: str) -> str | Promise:
    return _ACTIONS.get(code, code)


def display_value(obj: models.Model, field_name: str) -> str:
    """The value of a field as a person reads it (choice labels, related names, blanks)."""
    field = obj._meta.get_field(field_name)
    if getattr(field, "choices", None):
        value = getattr(obj, f"get_{field_name}_display")()
    elif field.is_relation and field.many_to_one:
        value = getattr(obj, field_name)
    else:
        value = getattr(obj, field_name)
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return str(_("Yes") if value else _("No"))
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def snapshot(obj: models.Model, fields: list[str]) -> dict[str, str]:
    return {name: display_value(obj, name) for name in fields}


def diff(before: dict[str, str], after: dict[str, str]) -> dict[str, list[str]]:
    return {k: [before.get(k, ""), v] for k, v in after.items() if before.get(k, "") != v}


def activity_record(
    *,
    actor: User | None,
    target: models.Model,
    action: str,
    changes: dict[str, Any] | None = None,
    note: str = "",
) -> ActivityLog:
    """Append one entry for ``target`` (which must carry ``tenant_id``)."""
    if action not in _ACTIONS:
        raise ValueError(f"unregistered activity action {action!r}")
    clean = {}
    for key, value in (changes or {}).items():
        clean[key] = ["***", "***"] if any(m in key.lower() for m in _MASKED) else value
    return ActivityLog.objects.create(
        tenant_id=target.tenant_id,
        actor=actor,
        content_type=ContentType.objects.get_for_model(target),
        object_id=target.pk,
        object_repr=str(target)[:200],
        action=action,
        changes=clean,
        note=note[:500],
    )


def activity_record_many(
    *,
    actor: User | None,
    targets: list[models.Model],
    action: str,
    changes_for=None,
    note: str = "",
) -> int:
    """One entry per target in one INSERT (batch services: recycling, imports).
    ``changes_for(target)`` gives each entry's changes."""
    if action not in _ACTIONS:
        raise ValueError(f"unregistered activity action {action!r}")
    if not targets:
        return 0
    content_type = ContentType.objects.get_for_model(targets[0])
    ActivityLog.objects.bulk_create(
        [
            ActivityLog(
                tenant_id=t.tenant_id,
                actor=actor,
                content_type=content_type,
                object_id=t.pk,
                object_repr=str(t)[:200],
                action=action,
                changes=changes_for(t) if changes_for else {},
                note=note[:500],
            )
            for t in targets
        ],
        batch_size=500,
    )
    return len(targets)


def field_label(entry: ActivityLog, field_name: str) -> str:
    """The readable name of a payload key (see crm.activity_words.field_label)."""
    from crm import activity_words

    return activity_words.field_label(entry, field_name)


# Core actions; modules register their own next to their services.
DEPARTMENT_CREATED = register_action(
    "department.created",
    _("created the department"),
    fields={"parent": _("Parent department")},
    plain=True,
)
DEPARTMENT_RENAMED = register_action("department.renamed", _("renamed the department"))
DEPARTMENT_MOVED = register_action(
    "department.moved", _("moved the department"), fields={"parent": _("Parent department")}
)
DEPARTMENT_DISABLED = register_action("department.disabled", _("disabled the department"))
DEPARTMENT_ENABLED = register_action("department.enabled", _("enabled the department"))
USER_CREATED = register_action("user.created", _("created the user"), plain=True)
USER_UPDATED = register_action("user.updated", _("changed the user"))
USER_DEACTIVATED = register_action("user.deactivated", _("deactivated the user"))
USER_ACTIVATED = register_action("user.activated", _("reactivated the user"))
USER_PASSWORD_RESET = register_action("user.password_reset", _("reset the password of"))
USER_PASSWORD_CHANGED = register_action("user.password_changed", _("changed their password"))
ROLE_CREATED = register_action("role.created", _("created the role"))
ROLE_UPDATED = register_action(
    "role.updated", _("changed the role"), fields={"permissions": _("Permissions")}
)
ROLE_DELETED = register_action("role.deleted", _("deleted the role"))
OPTION_CREATED = register_action("option.created", _("added the option"))
OPTION_UPDATED = register_action(
    "option.updated", _("changed the option"), fields={"sort_order": _("Position")}
)
