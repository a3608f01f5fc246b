from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportsConfig(AppConfig):
    """Reports and dashboards (issue 19), on top of every other app: they read the others'
    tables through their selectors and registries and are imported by none of them."""

    name = "reports"
    verbose_name = _("Reports")

    def ready(self) -> None:
        # Registrations: the summary sources, the menu entries, the workbench block, the
        # demo's figures (after every other app's demo data: reports is the last app).
        from reports import demo, navigation, sources, workbench  # noqa: F401
