"""Run the periodic lead assignment now, for one tenant (operators, tests)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from crm.models import Tenant
from crm.tenancy import tenant_scope
from leads import assignment


class Command(BaseCommand):
    help = "Hand one tenant's leads lying in lead pools to the assignment rules now."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="the tenant's slug")

    def handle(self, *args, tenant: str, **options):
        found = Tenant.objects.filter(slug=tenant).first()
        if found is None:
            raise CommandError(f"No tenant with the slug {tenant!r}.")
        with tenant_scope(found.pk):
            count = assignment.assign_pooled(found.pk)
        self.stdout.write(f"{found.slug}: {count} leads assigned by the rules")
