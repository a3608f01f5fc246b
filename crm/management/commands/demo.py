from django.core.management.base import BaseCommand

from crm.demo import DEMO_LOGINS, DEMO_PASSWORD, load_demo


class Command(BaseCommand):
    help = "Load the demo tenants and users once (idempotent: existing tenants are kept)."

    def handle(self, *args, **options):
        # Scopes are disabled explicitly inside load_demo (a cross-tenant operator task).
        done = load_demo()
        for line in done or ["demo data already present: nothing changed"]:
            self.stdout.write(line)
        self.stdout.write(f"Demo logins (password: {DEMO_PASSWORD}):")
        for username, who in DEMO_LOGINS:
            self.stdout.write(f"  {username:<12} {who}")
