"""The project's URLs with opportunities.urls mounted, for the pages tests until crm/urls.py
mounts it (then this adds nothing)."""

from django.urls import include, path

from crm.urls import urlpatterns as _project

_mounted = any(getattr(p, "namespace", None) == "opportunities" for p in _project)
urlpatterns = [*_project] if _mounted else [*_project, path("", include("opportunities.urls"))]
