"""Recompute a tenant's report figures from the base tables (reports/summary.py): after data
was loaded with old dates (the demo, an import of history) or a source's definition changed."""

from __future__ import annotations

import datetime

from django.core.management.base import BaseCommand

from crm.management.tenant_job import add_tenant_arguments, tenant_and_moment
from crm.tenancy import tenant_scope
from reports import summary


class Command(BaseCommand):
    help = "Recompute the report figures of one tenant for the last days (default 400)."

    def add_arguments(self, parser):
        add_tenant_arguments(parser)
        parser.add_argument("--days", type=int, default=400)

    def handle(self, *args, tenant: str, now: str | None = None, days: int = 400, **options):
        found, moment = tenant_and_moment(tenant, now)
        today = found.today(moment)
        with tenant_scope(found.pk):
            stored = summary.refresh(found.pk, today - datetime.timedelta(days=days), today)
        self.stdout.write(f"{found.slug}: {stored} figures stored for {days + 1} days")
