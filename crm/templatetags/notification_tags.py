"""How the bell's dropdown tells a notification's time: "3 分钟前", "今天 09:30"."""

from __future__ import annotations

import datetime

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def notification_time(value: datetime.datetime | None, now: datetime.datetime | None = None):
    """Recent times relative to now (刚刚, N 分钟前), then today's and yesterday's clock time
    (今天 HH:MM, 昨天 HH:MM), then the date (MM-DD HH:MM this year, else YYYY-MM-DD), in the
    current time zone. ``now`` is for tests."""
    if value is None:
        return ""
    now = now or timezone.now()
    delta = now - value
    if datetime.timedelta(minutes=-1) < delta < datetime.timedelta(minutes=1):
        return _("Just now")
    if datetime.timedelta(0) < delta < datetime.timedelta(hours=1):
        return _("%(count)d min ago") % {"count": delta // datetime.timedelta(minutes=1)}
    local = timezone.localtime(value)
    today = timezone.localtime(now).date()
    clock = date_format(local, "H:i")
    if local.date() == today:
        return _("Today %(time)s") % {"time": clock}
    if local.date() == today - datetime.timedelta(days=1):
        return _("Yesterday %(time)s") % {"time": clock}
    if local.year == today.year:
        return date_format(local, "m-d H:i")
    return date_format(local, "Y-m-d")
