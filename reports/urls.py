from django.urls import path

from reports.views import increment

app_name = "reports"

urlpatterns = [
    path("reports/increment/", increment.increment_report, name="increment"),
    path("reports/increment/events/", increment.increment_events, name="increment-events"),
]

from reports.views import pool as pool_views  # noqa: E402

urlpatterns += [
    path("reports/pool/", pool_views.pool_report, name="pool"),
    path("reports/pool/events/", pool_views.pool_events, name="pool-events"),
]
