"""Fire the reminders due now for one tenant (operators, the demo, tests), as the beat job
does every minute (crm.tasks.reminders_run_all_task)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from crm import reminders
from crm.management.tenant_job import add_tenant_arguments, tenant_and_moment


class Command(BaseCommand):
    help = "Send the reminders due now (follow-ups, birthdays…) for one tenant."

    def add_arguments(self, parser):
        add_tenant_arguments(parser)

    def handle(self, *args, tenant: str, now: str | None = None, **options):
        found, moment = tenant_and_moment(tenant, now)
        count = reminders.run(found.pk, now=moment)
        self.stdout.write(f"{found.slug}: {count} reminders sent")
