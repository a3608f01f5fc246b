"""``{% load once %}`` … ``{% once_token %}``: the one-time token of a create form
(``crm.idempotency``), rendered next to ``{% csrf_token %}``."""

from __future__ import annotations

from django import template
from django.utils.html import format_html

from crm import idempotency

register = template.Library()


@register.simple_tag
def once_token() -> str:
    """A hidden field with a fresh token: a second submission of this rendering of the
    form gets the first one's answer instead of creating again."""
    return format_html(
        '<input type="hidden" name="{}" value="{}">', idempotency.FIELD, idempotency.new_token()
    )
