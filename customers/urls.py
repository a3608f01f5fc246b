from django.urls import path

from customers.views import customers as views
from customers.views import imports as views_import
from customers.views import pool as views_pool

app_name = "customers"

urlpatterns = [
    path("customers/", views.customer_list, name="customer-list"),
    # The public pool (公海): its list and actions; the group settings are the pool app's.
    path("pools/", views_pool.pool_list, name="pool-list"),
    path("pools/claim/", views_pool.pool_claim, name="pool-claim"),
    path("pools/assign/", views_pool.pool_assign, name="pool-assign"),
    path("pools/move/", views_pool.pool_move, name="pool-move"),
    path("pools/return/", views_pool.pool_return, name="pool-return"),
    path("pools/export/", views_pool.pool_export, name="pool-export"),
    path("customers/add/", views.customer_create, name="customer-create"),
    path("customers/batch/", views.customer_batch, name="customer-batch"),
    path("customers/export/", views.customer_export, name="customer-export"),
    path("customers/import/", views_import.import_start, name="import-start"),
    path("customers/import/template/", views_import.import_template, name="import-template"),
    path("customers/merge/", views.customer_merge, name="customer-merge"),
    path("customers/duplicates/", views.duplicates_page, name="customer-duplicates"),
    path("customers/duplicate-check/", views.duplicate_check, name="customer-duplicate-check"),
    path("customers/searches/", views.saved_search_create, name="saved-search-create"),
    path(
        "customers/searches/<int:pk>/delete/", views.saved_search_delete, name="saved-search-delete"
    ),
    path("customers/<int:pk>/", views.customer_detail, name="customer-detail"),
    path("customers/<int:pk>/edit/", views.customer_edit, name="customer-edit"),
    path("customers/<int:pk>/tab/<slug:tab>/", views.customer_tab, name="customer-tab"),
    path("customers/<int:pk>/lock/", views.customer_lock, name="customer-lock"),
    path("customers/<int:pk>/star/", views.customer_star, name="customer-star"),
    path("customers/<int:pk>/participants/", views.participants_add, name="customer-participants"),
    path(
        "customers/<int:pk>/participants/<int:user_pk>/remove/",
        views.participant_remove,
        name="customer-participant-remove",
    ),
    path("customers/<int:pk>/followups/", views.followup_create, name="followup-create"),
    path("customers/<int:pk>/contacts/", views.contact_create, name="contact-create"),
    path("customers/<int:pk>/attachments/", views.attachment_create, name="attachment-create"),
    path("attachments/<int:pk>/", views.attachment_download, name="attachment-download"),
    path("attachments/<int:pk>/delete/", views.attachment_delete, name="attachment-delete"),
    path("contacts/", views.contact_list, name="contact-list"),
    path("contacts/export/", views.contact_export, name="contact-export"),
    path("contacts/<int:pk>/", views.contact_edit, name="contact-edit"),
    path("contacts/<int:pk>/delete/", views.contact_delete, name="contact-delete"),
    path("followups/", views.followup_feed, name="followup-feed"),
    path("followups/export/", views.followup_export, name="followup-export"),
    path("followups/<int:pk>/comment/", views.followup_comment, name="followup-comment"),
]
