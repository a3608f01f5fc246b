from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = _("Leads")

    def ready(self) -> None:
        # Registrations: activity actions, menu entries (线索, 线索池, settings, statistics),
        # workbench panels, demo data, import/export kinds, conversion's customer tab and
        # merge hook.
        from leads import (  # noqa: F401
            activity_actions,
            conversion,
            demo,
            exporting,
            importing,
            navigation,
            recent,
            reminders,
            subjects,
        )
