from django.urls import path

from reports.views import increment

app_name = "reports"

urlpatterns = [
    path("reports/increment/", increment.increment_report, name="increment"),
    path("reports/increment/events/", increment.increment_events, name="increment-events"),
]
