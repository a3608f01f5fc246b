from django.urls import path

from pools.views import settings as views_settings

app_name = "pools"

urlpatterns = [
    path("settings/pools/", views_settings.group_list, name="group-list"),
    path("settings/pools/add/", views_settings.group_create, name="group-create"),
    path("settings/pools/initialize/", views_settings.group_initialize, name="group-initialize"),
    path("settings/pools/<int:pk>/", views_settings.group_edit, name="group-edit"),
    path("settings/pools/<int:pk>/delete/", views_settings.group_delete, name="group-delete"),
]
