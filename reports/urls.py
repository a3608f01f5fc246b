from django.urls import path

from reports import views

app_name = "reports"

urlpatterns = [
    path("reports/increment/", views.increment_report, name="increment"),
    path("reports/increment/events/", views.increment_events, name="increment-events"),
]
