"""Template filters of the opportunity pages: amounts as people read them (¥1,234,567.00),
the masking layer's ``***`` passed through untouched, days in a stage, a duration."""

from __future__ import annotations

import datetime
from decimal import Decimal, InvalidOperation

from django import template
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from crm import masking

register = template.Library()


@register.filter
def money(value) -> str:
    """``{{ o|masked:"amount"|money }}``: 1,234,567.00; ``***`` stays ``***``; empty: —."""
    if value is None or value == "":
        return "—"
    if value == masking.MASK:
        return masking.MASK
    try:
        amount = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return str(value)
    return f"{amount:,.2f}"


@register.filter
def duration(value) -> str:
    """A ``timedelta`` as 3 天 5 小时 / 5 小时 / 不到 1 小时; None: —."""
    if not isinstance(value, datetime.timedelta):
        return "—"
    days, hours = value.days, value.seconds // 3600
    if days:
        text = ngettext("%(n)d day", "%(n)d days", days) % {"n": days}
        if hours:
            text += " " + ngettext("%(n)d hour", "%(n)d hours", hours) % {"n": hours}
        return text
    if hours:
        return ngettext("%(n)d hour", "%(n)d hours", hours) % {"n": hours}
    return _("less than an hour")
