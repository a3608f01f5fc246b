from django.urls import path

from reports.views import (
    dashboard,
    followups,
    funnel,
    increment,
    leads,
    opportunities,
    pool,
    stock,
    visits,
)

app_name = "reports"

urlpatterns = [
    # The manager's dashboard.
    path("reports/", dashboard.dashboard_page, name="dashboard"),
    # 客户增量统计 (R1/R2) and 增量/存量对比 (R3).
    path("reports/increment/", increment.increment_report, name="increment"),
    path("reports/increment/events/", increment.increment_events, name="increment-events"),
    path("reports/stock/", stock.stock_page, name="stock"),
    path("reports/stock/rows/", stock.stock_rows, name="stock-rows"),
    # 跟进动态统计 (R4), 客户拜访统计 (R5), 电话统计 (R6).
    path("reports/followups/", followups.followup_report, name="followups"),
    path("reports/followups/list/", followups.followup_report_list, name="followups-list"),
    path("reports/visits/", visits.day_report, {"code": "visit"}, name="visits"),
    path("reports/visits/list/", visits.day_report_list, {"code": "visit"}, name="visits-list"),
    path("reports/calls/", visits.day_report, {"code": "phone"}, name="calls"),
    path("reports/calls/list/", visits.day_report_list, {"code": "phone"}, name="calls-list"),
    # 线索转换率 (the old leads:lead-stats redirects here).
    path("reports/leads/", leads.lead_report, name="leads"),
    path("reports/leads/list/", leads.lead_report_list, name="leads-list"),
    # 公海分析.
    path("reports/pool/", pool.pool_report, name="pool"),
    path("reports/pool/events/", pool.pool_events, name="pool-events"),
    # 销售漏斗 and the opportunity analyses (issue 20); one drill-down page for all of them.
    path("reports/funnel/", funnel.funnel_report, name="funnel"),
    path("reports/stage-advance/", opportunities.stage_advance_report, name="stage-advance"),
    path("reports/lost-reasons/", opportunities.lost_reason_report, name="lost-reasons"),
    path("reports/deals/", opportunities.deal_report, name="deals"),
    path(
        "reports/opportunities/list/",
        opportunities.opportunity_report_list,
        name="opportunities-list",
    ),
]
