"""URLs of the leads module. Each area keeps its views in its own module of ``leads.views``:
``leads`` (lists, detail, forms, follow-ups, batch actions), ``pool`` (the lead pool),
``settings`` (campaigns, assignment rules), ``convert`` (conversion, statistics), ``imports``
(import and export)."""

from django.urls import path

app_name = "leads"

urlpatterns: list = []

# ---------------------------------------------------------------- settings: campaigns, rules
from leads.views import settings as views_settings  # noqa: E402

urlpatterns += [
    path("settings/campaigns/", views_settings.campaign_list, name="campaign-list"),
    path("settings/campaigns/add/", views_settings.campaign_create, name="campaign-create"),
    path("settings/campaigns/<int:pk>/", views_settings.campaign_edit, name="campaign-edit"),
    path(
        "settings/campaigns/<int:pk>/delete/",
        views_settings.campaign_delete,
        name="campaign-delete",
    ),
    path("settings/lead-rules/", views_settings.rule_list, name="rule-list"),
    path("settings/lead-rules/add/", views_settings.rule_create, name="rule-create"),
    path("settings/lead-rules/<int:pk>/", views_settings.rule_edit, name="rule-edit"),
    path("settings/lead-rules/<int:pk>/delete/", views_settings.rule_delete, name="rule-delete"),
    path("settings/lead-rules/<int:pk>/move/", views_settings.rule_move, name="rule-move"),
]

# ---------------------------------------------------------------- import and export
from leads.views import imports as views_import  # noqa: E402

urlpatterns += [
    path("leads/import/", views_import.lead_import, name="lead-import"),
    path("leads/import/template/", views_import.lead_import_template, name="lead-import-template"),
    path("leads/export/", views_import.lead_export, name="lead-export"),
]


# ---------------------------------------------------------------- conversion and statistics
from leads.views import convert as views_convert  # noqa: E402

urlpatterns += [
    path("leads/<int:pk>/convert/", views_convert.lead_convert, name="lead-convert"),
    path("leads/convert/", views_convert.lead_convert_batch, name="lead-convert-batch"),
    path("leads/stats/", views_convert.lead_stats, name="lead-stats"),
]

# ---------------------------------------------------------------- leads: lists, page, forms
from leads.views import leads as views  # noqa: E402

urlpatterns += [
    path("leads/", views.lead_list, name="lead-list"),
    path("leads/add/", views.lead_create, name="lead-create"),
    path("leads/batch/", views.lead_batch, name="lead-batch"),
    path("leads/duplicate-check/", views.lead_duplicate_check, name="lead-duplicate-check"),
    path("leads/<int:pk>/", views.lead_detail, name="lead-detail"),
    path("leads/<int:pk>/edit/", views.lead_edit, name="lead-edit"),
    path("leads/<int:pk>/tab/<slug:tab>/", views.lead_tab, name="lead-tab"),
    path("leads/<int:pk>/followups/", views.lead_followup_add, name="lead-followup-add"),
    path("leads/<int:pk>/attachments/", views.lead_attachment_add, name="lead-attachment-add"),
    path(
        "leads/attachments/<int:pk>/",
        views.lead_attachment_download,
        name="lead-attachment-download",
    ),
    path(
        "leads/attachments/<int:pk>/delete/",
        views.lead_attachment_delete,
        name="lead-attachment-delete",
    ),
]

# ---------------------------------------------------------------- the lead pool and its settings
from leads.views import pool as views_pool  # noqa: E402

urlpatterns += [
    path("leads/pool/", views_pool.pool_list, name="pool-list"),
    path("leads/pool/claim/", views_pool.pool_claim, name="pool-claim"),
    path("leads/pool/assign/", views_pool.pool_assign, name="pool-assign"),
    path("leads/pool/move/", views_pool.pool_move, name="pool-move"),
    path("leads/pool/return/", views_pool.pool_return, name="pool-return"),
    path("settings/lead-pools/", views_pool.pool_group_list, name="pool-group-list"),
    path("settings/lead-pools/add/", views_pool.pool_group_create, name="pool-group-create"),
    path("settings/lead-pools/<int:pk>/", views_pool.pool_group_edit, name="pool-group-edit"),
    path(
        "settings/lead-pools/<int:pk>/delete/",
        views_pool.pool_group_delete,
        name="pool-group-delete",
    ),
]
