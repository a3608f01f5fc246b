from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OpportunitiesConfig(AppConfig):
    name = "opportunities"
    verbose_name = _("Opportunities")

    def ready(self) -> None:
        # Registrations: function rights, activity actions, the opportunity as an owned
        # kind, customer hooks (delete check, related transfer, merge), pool hooks, a new
        # tenant's stages and settings. One module a line; other parts add theirs.
        from opportunities import (  # noqa: F401
            activity_actions,
            customer_links,
            defaults,
            demo,
            exporting,
            importing,
            navigation,
            permissions,
            pooling,
            reminders,
        )
