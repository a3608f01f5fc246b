from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "customers"
    verbose_name = _("Customers")

    def ready(self) -> None:
        # Registrations: activity actions, demo data, import/export kinds, menu entries and
        # workbench panels, the customer as a pool subject (and the default pool of a new
        # tenant).
        from customers import (  # noqa: F401
            activity_actions,
            demo,
            exporting,
            exporting_pool,
            importing,
            navigation,
            pooling,
            recent,
            reminders,
            subjects,
        )
