from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = _("Tidepool core")

    def ready(self) -> None:
        from crm import uploads  # noqa: F401  (registers check_media_not_served)
        from crm.celery import ensure_queue_folders
        from crm.tenancy import close_scope_gaps

        close_scope_gaps()
        ensure_queue_folders()
