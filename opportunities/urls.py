"""URLs of the opportunities module: opportunities at /opportunities/ (views in
``opportunities.views.opportunities`` and ``.kanban``), products at /products/ (views in
``opportunities.views.products``, the products part's block). Mounted by crm/urls.py."""

from django.urls import path

app_name = "opportunities"

urlpatterns: list = []

# ---------------------------------------------------------------- opportunities (pages helper)
from opportunities.views import kanban as views_kanban  # noqa: E402
from opportunities.views import opportunities as views  # noqa: E402

urlpatterns += [
    path("opportunities/", views.opportunity_list, name="opportunity-list"),
    path("opportunities/new/", views.opportunity_create, name="opportunity-create"),
    path("opportunities/export/", views.opportunity_export, name="opportunity-export"),
    path("opportunities/batch/transfer/", views.opportunity_transfer, name="opportunity-transfer"),
    path("opportunities/kanban/", views_kanban.kanban, name="opportunity-kanban"),
    path("opportunities/kanban/lose/", views_kanban.kanban_lose, name="kanban-lose"),
    path("opportunities/settings/stages/", views.stage_settings, name="stage-settings"),
    path("opportunities/settings/stages/add/", views.stage_create, name="stage-create"),
    path("opportunities/settings/stages/<int:pk>/", views.stage_edit, name="stage-edit"),
    path("opportunities/settings/stages/<int:pk>/delete/", views.stage_delete, name="stage-delete"),
    path("opportunities/settings/stages/<int:pk>/move/", views.stage_move, name="stage-move"),
    path("opportunities/<int:pk>/", views.opportunity_detail, name="opportunity-detail"),
    path("opportunities/<int:pk>/edit/", views.opportunity_edit, name="opportunity-edit"),
    path("opportunities/<int:pk>/delete/", views.opportunity_delete, name="opportunity-delete"),
    path("opportunities/<int:pk>/tab/<slug:tab>/", views.opportunity_tab, name="opportunity-tab"),
    path("opportunities/<int:pk>/lines/", views.opportunity_lines, name="opportunity-lines"),
    path("opportunities/<int:pk>/stage/", views.opportunity_stage, name="opportunity-stage"),
    path("opportunities/<int:pk>/win/", views.opportunity_win, name="opportunity-win"),
    path("opportunities/<int:pk>/lose/", views.opportunity_lose, name="opportunity-lose"),
    path("opportunities/<int:pk>/reopen/", views.opportunity_reopen, name="opportunity-reopen"),
    path("opportunities/<int:pk>/contacts/", views.contact_add, name="opportunity-contact-add"),
    path(
        "opportunities/<int:pk>/contacts/<int:row>/remove/",
        views.contact_remove,
        name="opportunity-contact-remove",
    ),
    path(
        "opportunities/<int:pk>/contacts/<int:row>/primary/",
        views.contact_primary,
        name="opportunity-contact-primary",
    ),
    path(
        "opportunities/<int:pk>/team/", views.participants_add, name="opportunity-participants-add"
    ),
    path(
        "opportunities/<int:pk>/team/<int:user_pk>/remove/",
        views.participant_remove,
        name="opportunity-participant-remove",
    ),
    path(
        "opportunities/<int:pk>/followups/",
        views.followup_add,
        name="opportunity-followup-add",
    ),
    path(
        "opportunities/<int:pk>/attachments/",
        views.attachment_add,
        name="opportunity-attachment-add",
    ),
    path(
        "opportunities/attachments/<int:pk>/",
        views.attachment_download,
        name="opportunity-attachment-download",
    ),
    path(
        "opportunities/attachments/<int:pk>/delete/",
        views.attachment_delete,
        name="opportunity-attachment-delete",
    ),
]

# --- products (products helper) ---
from opportunities.views import products as views_products  # noqa: E402

urlpatterns += [
    path("products/", views_products.product_list, name="product-list"),
    path("products/new/", views_products.product_create, name="product-create"),
    path("products/batch/", views_products.product_batch, name="product-batch"),
    path("products/export/", views_products.product_export, name="product-export"),
    path("products/picker/", views_products.product_picker, name="product-picker"),
    path("products/import/", views_products.product_import, name="product-import"),
    path(
        "products/import/template/",
        views_products.product_import_template,
        name="product-import-template",
    ),
    path(
        "products/import/<str:key>/",
        views_products.product_import_preview,
        name="product-import-preview",
    ),
    path(
        "products/import/<str:key>/confirm/",
        views_products.product_import_confirm,
        name="product-import-confirm",
    ),
    path(
        "products/import/<str:key>/errors/",
        views_products.product_import_errors,
        name="product-import-errors",
    ),
    path("products/categories/", views_products.category_list, name="category-list"),
    path(
        "products/categories/<int:pk>/rename/",
        views_products.category_rename,
        name="category-rename",
    ),
    path("products/categories/<int:pk>/move/", views_products.category_move, name="category-move"),
    path(
        "products/categories/<int:pk>/delete/",
        views_products.category_delete,
        name="category-delete",
    ),
    path("products/images/<int:pk>/", views_products.product_image, name="product-image"),
    path(
        "products/images/<int:pk>/delete/",
        views_products.product_image_delete,
        name="product-image-delete",
    ),
    path("products/<int:pk>/", views_products.product_detail, name="product-detail"),
    path("products/<int:pk>/edit/", views_products.product_edit, name="product-edit"),
    path("products/<int:pk>/stock/", views_products.product_stock, name="product-stock"),
    path("products/<int:pk>/delete/", views_products.product_delete, name="product-delete"),
]
# --- end products ---
