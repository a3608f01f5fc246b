from django.contrib.auth.views import LogoutView
from django.urls import include, path
from django.views import defaults
from django.views.generic import RedirectView

from crm import uploads
from crm.admin import platform_admin
from crm.views import core, imports, recent, reminders
from crm.views import exports as export_views
from crm.views import settings as settings_views

crm_patterns = [
    path("", core.workbench, name="workbench"),
    path("notifications/", core.notification_list, name="notification-list"),
    path("notifications/bell/", core.notification_bell, name="notification-bell"),
    path("notifications/menu/", core.notification_menu, name="notification-menu"),
    path("notifications/read-all/", core.notification_read_all, name="notification-read-all"),
    path("notifications/<int:pk>/read/", core.notification_read, name="notification-read"),
    path("account/password/", core.password_change, name="password-change"),
    path("recent/", recent.recent_list, name="recent"),
    path("exports/", export_views.export_list, name="export-list"),
    path("exports/<int:pk>/download/", export_views.export_download, name="export-download"),
    path("settings/", RedirectView.as_view(pattern_name="crm:department-list"), name="settings"),
    path("settings/departments/", settings_views.department_list, name="department-list"),
    path("settings/departments/<int:pk>/", settings_views.department_edit, name="department-edit"),
    path(
        "settings/departments/<int:pk>/move/",
        settings_views.department_move,
        name="department-move",
    ),
    path(
        "settings/departments/<int:pk>/toggle/",
        settings_views.department_toggle,
        name="department-toggle",
    ),
    path("settings/users/", settings_views.user_list, name="user-list"),
    path("settings/users/add/", settings_views.user_create, name="user-create"),
    path("settings/users/<int:pk>/", settings_views.user_edit, name="user-edit"),
    path("settings/users/<int:pk>/toggle/", settings_views.user_toggle, name="user-toggle"),
    path(
        "settings/users/<int:pk>/reset-password/",
        settings_views.user_reset_password,
        name="user-reset-password",
    ),
    path("settings/roles/", settings_views.role_list, name="role-list"),
    path("settings/roles/add/", settings_views.role_create, name="role-create"),
    path("settings/roles/<int:pk>/", settings_views.role_edit, name="role-edit"),
    path("settings/roles/<int:pk>/delete/", settings_views.role_delete, name="role-delete"),
    path("settings/options/", settings_views.option_list, name="option-list"),
    path("settings/options/<int:pk>/", settings_views.option_edit, name="option-edit"),
    path("settings/options/<int:pk>/move/", settings_views.option_move, name="option-move"),
    path("settings/audit/", settings_views.audit_log, name="audit-log"),
    path("me/reminders/", reminders.reminder_preferences, name="reminder-preferences"),
    path("me/reminders/bot/", reminders.reminder_webhook_save, name="reminder-webhook-save"),
    path(
        "me/reminders/bot/delete/",
        reminders.reminder_webhook_delete,
        name="reminder-webhook-delete",
    ),
    path("me/reminders/bot/test/", reminders.reminder_webhook_test, name="reminder-webhook-test"),
    path("settings/reminders/", reminders.reminder_settings, name="reminder-settings"),
    path(
        "settings/reminders/bots/add/",
        reminders.department_webhook_create,
        name="department-webhook-create",
    ),
    path(
        "settings/reminders/bots/<int:pk>/",
        reminders.department_webhook_edit,
        name="department-webhook-edit",
    ),
    path(
        "settings/reminders/bots/<int:pk>/delete/",
        reminders.department_webhook_delete,
        name="department-webhook-delete",
    ),
    path(
        "settings/reminders/bots/<int:pk>/test/",
        reminders.department_webhook_test,
        name="department-webhook-test",
    ),
    path("settings/reminders/deliveries/", reminders.delivery_list, name="delivery-list"),
    path(
        "settings/reminders/deliveries/<int:pk>/retry/",
        reminders.delivery_retry,
        name="delivery-retry",
    ),
    path("imports/<int:pk>/", imports.import_detail, name="import-detail"),
    path("imports/<int:pk>/progress/", imports.import_progress, name="import-progress"),
    path("imports/<int:pk>/confirm/", imports.import_confirm, name="import-confirm"),
    path("imports/<int:pk>/remap/", imports.import_remap, name="import-remap"),
    path("imports/<int:pk>/cancel/", imports.import_cancel, name="import-cancel"),
    path("imports/<int:pk>/undo/", imports.import_undo, name="import-undo"),
    path("imports/<int:pk>/errors/", imports.import_errors, name="import-errors"),
]

urlpatterns = [
    path("accounts/login/", core.TenantLoginView.as_view(), name="login"),
    path("accounts/logout/", LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", platform_admin.urls),
    path("", include((crm_patterns, "crm"))),
    path("", include("customers.urls")),
    path("", include("pools.urls")),
    path("", include("opportunities.urls")),
    path("", include("leads.urls")),
    path("", include("reports.urls")),
]

# SECURITY: no route serves MEDIA_ROOT, not even with DEBUG on (no ``static(MEDIA_URL, …)``):
# an uploaded file is sent only by the view that checks who may see it (attachments, import
# error files, exports). crm.uploads.check_media_not_served keeps it out of static folders.


def bad_request(request, exception=None):
    """The 400 handler; an upload over the limit gets its own answer (413, translated)."""
    if isinstance(exception, uploads.UploadTooLargeError):
        return uploads.upload_too_large_response(request, exception)
    return defaults.bad_request(request, exception)


handler400 = bad_request
