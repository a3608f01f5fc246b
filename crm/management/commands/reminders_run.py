"""Fire the reminders due now for one tenant (operators, the demo, tests), as the beat job
does every minute (crm.tasks.reminders_run_all_task), then send what is pending to group bots
and e-mail at once (crm.deliveries) instead of leaving it to the worker."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from crm import deliveries, reminders
from crm.management.tenant_job import add_tenant_arguments, tenant_and_moment
from crm.tenancy import tenant_scope


class Command(BaseCommand):
    help = "Send the reminders due now (follow-ups, birthdays…) for one tenant."

    def add_arguments(self, parser):
        add_tenant_arguments(parser)

    def handle(self, *args, tenant: str, now: str | None = None, **options):
        found, moment = tenant_and_moment(tenant, now)
        count = reminders.run(found.pk, now=moment)
        with tenant_scope(found.pk):
            sent = deliveries.send_pending(found.pk, now=moment)
        self.stdout.write(
            f"{found.slug}: {count} reminders sent; deliveries: {sent['sent']} sent, "
            f"{sent['retry']} to retry, {sent['failed']} failed"
        )
