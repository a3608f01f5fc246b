"""Run the pool's recycling or its warnings now, for one tenant (operators, tests)."""

from __future__ import annotations

import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from crm.models import Tenant
from crm.tenancy import tenant_scope
from pools import recycling


class Command(BaseCommand):
    help = "Recycle due customers into the pool (or send the warnings) for one tenant now."

    def add_arguments(self, parser):
        parser.add_argument("job", choices=["recycle", "warn"])
        parser.add_argument("--tenant", required=True, help="the tenant's slug")
        parser.add_argument(
            "--now", help="pretend it is this time (ISO 8601), e.g. 2026-12-01T09:00+08:00"
        )

    def handle(self, *args, job: str, tenant: str, now: str | None = None, **options):
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
        with tenant_scope(found.pk):
            if job == "recycle":
                count = recycling.recycle_tenant(found.pk, now=moment)
                self.stdout.write(f"{found.slug}: {count} customers recycled into the pool")
            else:
                count = recycling.warn_tenant(found.pk, now=moment)
                self.stdout.write(f"{found.slug}: {count} recycling warnings sent")
