"""URLs of the leads module. Each area keeps its views in its own module: views.py (lists,
detail, forms, follow-ups, batch actions), views_pool.py (the lead pool), views_settings.py
(campaigns, assignment rules), views_convert.py (conversion, statistics), views_import.py
(import and export)."""

from django.urls import path  # noqa: F401

app_name = "leads"

urlpatterns: list = []
