"""URLs of the leads module. Each area keeps its views in its own module: views.py (lists,
detail, forms, follow-ups, batch actions), views_pool.py (the lead pool), views_settings.py
(campaigns, assignment rules), views_convert.py (conversion, statistics), views_import.py
(import and export)."""

from django.urls import path

app_name = "leads"

urlpatterns: list = []

# ---------------------------------------------------------------- import and export
from leads import views_import  # noqa: E402

urlpatterns += [
    path("leads/import/", views_import.lead_import, name="lead-import"),
    path("leads/import/template/", views_import.lead_import_template, name="lead-import-template"),
    path("leads/export/", views_import.lead_export, name="lead-export"),
]
