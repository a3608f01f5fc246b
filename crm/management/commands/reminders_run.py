"""Fire the reminders due now for one tenant (operators, the demo, tests), as the beat job
does every minute (crm.tasks.reminders_run_all_task)."""

from __future__ import annotations

import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from crm import reminders
from crm.models import Tenant


class Command(BaseCommand):
    help = "Send the reminders due now (follow-ups, birthdays…) for one tenant."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="the tenant's slug")
        parser.add_argument(
            "--now", help="pretend it is this time (ISO 8601), e.g. 2026-12-01T09:00+08:00"
        )

    def handle(self, *args, tenant: str, now: str | None = None, **options):
        found = Tenant.objects.filter(slug=tenant).first()
        if found is None:
            raise CommandError(f"No tenant with the slug {tenant!r}.")
        moment: datetime.datetime | None = None
        if now:
            moment = parse_datetime(now)
            if moment is None:
                raise CommandError(f"Cannot read the time {now!r}; use ISO 8601.")
            if timezone.is_naive(moment):
                moment = timezone.make_aware(moment)
        count = reminders.run(found.pk, now=moment)
        self.stdout.write(f"{found.slug}: {count} reminders sent")
