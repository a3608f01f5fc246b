from django.urls import path

from pools import views, views_settings

app_name = "pools"

urlpatterns = [
    path("pools/", views.pool_list, name="pool-list"),
    path("pools/claim/", views.pool_claim, name="pool-claim"),
    path("pools/assign/", views.pool_assign, name="pool-assign"),
    path("pools/move/", views.pool_move, name="pool-move"),
    path("pools/return/", views.pool_return, name="pool-return"),
    path("pools/export/", views.pool_export, name="pool-export"),
    path("settings/pools/", views_settings.group_list, name="group-list"),
    path("settings/pools/add/", views_settings.group_create, name="group-create"),
    path("settings/pools/initialize/", views_settings.group_initialize, name="group-initialize"),
    path("settings/pools/<int:pk>/", views_settings.group_edit, name="group-edit"),
    path("settings/pools/<int:pk>/delete/", views_settings.group_delete, name="group-delete"),
]
