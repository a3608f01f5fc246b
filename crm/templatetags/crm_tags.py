from __future__ import annotations

from django import template

from crm import activity as activity_module
from crm import masking

register = template.Library()


@register.filter
def can(user, code: str) -> bool:
    """``{% if user|can:"users.manage" %}``: hide what the user may not use."""
    return bool(getattr(user, "is_authenticated", False)) and user.can(code)


@register.filter
def may_export(user) -> bool:
    """``{% if user|may_export %}``: 我的导出 for whoever may export any kind."""
    from crm import exporting

    return bool(getattr(user, "is_authenticated", False)) and exporting.may_export(user)


@register.filter
def action_label(code: str):
    return activity_module.action_label(code)


@register.simple_tag
def field_label(entry, field_name):
    return activity_module.field_label(entry, field_name)


@register.simple_tag(takes_context=True)
def query_replace(context, **kwargs) -> str:
    """The current query string with some parameters replaced (pagination, sorting)."""
    query = context["request"].GET.copy()
    for key, value in kwargs.items():
        if value in (None, ""):
            query.pop(key, None)
        else:
            query[key] = value
    return query.urlencode()


@register.filter
def get_item(mapping, key):
    """``{{ counts|get_item:key }}``: a dict lookup with a variable key."""
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def masked(obj, path: str):
    """``{{ lead|masked:"mobile" }}``: the field, or ``***`` when the user may not see it.
    The view prepares the row for its user first (``crm.masking.prepare``); an unprepared
    row is an error, never shown in clear."""
    if path in masking.prepared_paths(obj):
        return masking.MASK
    return getattr(obj, path)
