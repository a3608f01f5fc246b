from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = _("Leads")

    def ready(self) -> None:
        from leads import activity_actions, exporting, importing  # noqa: F401
        from leads import navigation  # noqa: F401  (线索 menu entry, workbench panel)
        from leads import conversion, navigation_convert  # noqa: F401  (tab, hook, menu)
        from leads import navigation_settings  # noqa: F401  (campaigns, rules)
