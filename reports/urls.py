from django.urls import path

from reports.views import increment

app_name = "reports"

urlpatterns = [
    path("reports/increment/", increment.increment_report, name="increment"),
    path("reports/increment/events/", increment.increment_events, name="increment-events"),
]

from reports.views import followups, visits  # noqa: E402

urlpatterns += [
    path("reports/followups/", followups.followup_report, name="followups"),
    path("reports/followups/list/", followups.followup_report_list, name="followups-list"),
    path("reports/visits/", visits.day_report, {"code": "visit"}, name="visits"),
    path("reports/visits/list/", visits.day_report_list, {"code": "visit"}, name="visits-list"),
    path("reports/calls/", visits.day_report, {"code": "phone"}, name="calls"),
    path("reports/calls/list/", visits.day_report_list, {"code": "phone"}, name="calls-list"),
]

from reports.views import pool as pool_views  # noqa: E402

urlpatterns += [
    path("reports/pool/", pool_views.pool_report, name="pool"),
    path("reports/pool/events/", pool_views.pool_events, name="pool-events"),
]
