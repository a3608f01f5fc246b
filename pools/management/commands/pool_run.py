"""Run the pool's recycling or its warnings now, for one tenant (operators, tests)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from crm.management.tenant_job import add_tenant_arguments, tenant_and_moment
from crm.tenancy import tenant_scope
from pools import recycling


class Command(BaseCommand):
    help = "Recycle due customers into the pool (or send the warnings) for one tenant now."

    def add_arguments(self, parser):
        parser.add_argument("job", choices=["recycle", "warn"])
        add_tenant_arguments(parser)

    def handle(self, *args, job: str, tenant: str, now: str | None = None, **options):
        found, moment = tenant_and_moment(tenant, now)
        with tenant_scope(found.pk):
            if job == "recycle":
                count = recycling.recycle_tenant(found.pk, now=moment)
                self.stdout.write(f"{found.slug}: {count} customers recycled into the pool")
            else:
                count = recycling.warn_tenant(found.pk, now=moment)
                self.stdout.write(f"{found.slug}: {count} recycling warnings sent")
