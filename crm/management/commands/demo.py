from django.conf import settings
from django.core.management.base import BaseCommand

from crm.demo import DEMO_PASSWORD, demo_logins, load_demo


class Command(BaseCommand):
    help = (
        "Load the demo tenants and users once (idempotent: existing tenants are kept). "
        "The platform operator 'platform' is created only with DEBUG on."
    )

    def handle(self, *args, **options):
        # Scopes are disabled explicitly inside load_demo (a cross-tenant operator task).
        done = load_demo()
        for line in done or ["demo data already present: nothing changed"]:
            self.stdout.write(line)
        self.stdout.write(f"Demo logins (password: {DEMO_PASSWORD}):")
        for username, who in demo_logins():
            self.stdout.write(f"  {username:<12} {who}")
        if not settings.DEBUG:
            # SECURITY: no operator with a known password outside development.
            self.stdout.write(
                "No platform operator was created (DEBUG is off). Create one with your own "
                "name and password: python manage.py createsuperuser"
            )
