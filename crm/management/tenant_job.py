"""What the commands that run a tenant's job now share (``reminders_run``, ``pool_run``): the
``--tenant`` and ``--now`` arguments, read into the tenant and the moment to pretend."""

from __future__ import annotations

import datetime

from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from crm.models import Tenant


def add_tenant_arguments(parser) -> None:
    parser.add_argument("--tenant", required=True, help="the tenant's slug")
    parser.add_argument(
        "--now", help="pretend it is this time (ISO 8601), e.g. 2026-12-01T09:00+08:00"
    )


def tenant_and_moment(slug: str, now: str | None) -> tuple[Tenant, datetime.datetime | None]:
    """The tenant with ``slug`` and the moment ``now`` names (None: the real now); a
    CommandError for an unknown slug or an unreadable time (a naive one is local time)."""
    found = Tenant.objects.filter(slug=slug).first()
    if found is None:
        raise CommandError(f"No tenant with the slug {slug!r}.")
    if not now:
        return found, None
    moment = parse_datetime(now)
    if moment is None:
        raise CommandError(f"Cannot read the time {now!r}; use ISO 8601.")
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return found, moment
