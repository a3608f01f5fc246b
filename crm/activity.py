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

# SECURITY: never store secrets in the log, whatever a caller passes.
_MASKED = ("password", "secret", "token", "api_key")


def register_action(code: str, label: str | Promise) -> str:
    _ACTIONS[code] = label
    return code


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
    model = entry.content_type.model_class()
    try:
        return str(model._meta.get_field(field_name).verbose_name)
    except Exception:
        return field_name


# Core actions; modules register their own next to their services.
DEPARTMENT_CREATED = register_action("department.created", _("created the department"))
DEPARTMENT_RENAMED = register_action("department.renamed", _("renamed the department"))
DEPARTMENT_MOVED = register_action("department.moved", _("moved the department"))
DEPARTMENT_DISABLED = register_action("department.disabled", _("disabled the department"))
DEPARTMENT_ENABLED = register_action("department.enabled", _("enabled the department"))
USER_CREATED = register_action("user.created", _("created the user"))
USER_UPDATED = register_action("user.updated", _("changed the user"))
USER_DEACTIVATED = register_action("user.deactivated", _("deactivated the user"))
USER_ACTIVATED = register_action("user.activated", _("reactivated the user"))
USER_PASSWORD_RESET = register_action("user.password_reset", _("reset the password of"))
USER_PASSWORD_CHANGED = register_action("user.password_changed", _("changed their password"))
ROLE_CREATED = register_action("role.created", _("created the role"))
ROLE_UPDATED = register_action("role.updated", _("changed the role"))
ROLE_DELETED = register_action("role.deleted", _("deleted the role"))
OPTION_CREATED = register_action("option.created", _("added the option"))
OPTION_UPDATED = register_action("option.updated", _("changed the option"))
