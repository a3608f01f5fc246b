"""Django admin for platform operators only (no tenant): create tenants, look at data.

SECURITY: django-scopes does not support the admin (research/pretix.md §1.5), so this site
disables scopes explicitly and visibly for every admin view, and only lets in staff users
that belong to no tenant: a tenant admin never reaches it.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from django_scopes import scopes_disabled

from crm import services
from crm.models import ActivityLog, Department, Notification, Option, Role, Tenant, User


class PlatformAdminSite(admin.AdminSite):
    site_header = _("Tidepool platform administration")
    site_title = _("Tidepool platform")

    def has_permission(self, request):
        user = request.user
        return user.is_active and user.is_staff and user.tenant_id is None

    def admin_view(self, view, cacheable=False):
        inner = super().admin_view(view, cacheable)

        def wrapped(request, *args, **kwargs):
            with scopes_disabled():
                response = inner(request, *args, **kwargs)
                if hasattr(response, "render") and not getattr(response, "is_rendered", True):
                    response.render()
                return response

        wrapped.__dict__.update(getattr(inner, "__dict__", {}))
        return wrapped


platform_admin = PlatformAdminSite(name="admin")


@admin.register(Tenant, site=platform_admin)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "is_active", "created_at"]
    search_fields = ["name", "slug"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        with transaction.atomic():
            created = services.tenant_create(name=obj.name, slug=obj.slug)
            obj.pk = created.pk
            obj.created_at = created.created_at


@admin.register(User, site=platform_admin)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "name", "tenant", "department", "role", "is_active", "is_staff"]
    list_filter = ["tenant", "is_active", "is_staff"]
    search_fields = ["username", "name", "mobile", "email"]
    fieldsets = (
        *BaseUserAdmin.fieldsets,
        (
            _("Tenant"),
            {"fields": ("tenant", "name", "mobile", "title", "department", "role", "manager")},
        ),
    )
    raw_id_fields = ["department", "role", "manager"]


class TenantDataAdmin(admin.ModelAdmin):
    list_filter = ["tenant"]


@admin.register(Department, site=platform_admin)
class DepartmentAdmin(TenantDataAdmin):
    list_display = ["name", "tenant", "path", "is_active"]
    readonly_fields = ["path"]
    raw_id_fields = ["parent", "leader"]


@admin.register(Role, site=platform_admin)
class RoleAdmin(TenantDataAdmin):
    list_display = ["name", "tenant", "builtin", "data_scope"]


@admin.register(Option, site=platform_admin)
class OptionAdmin(TenantDataAdmin):
    list_display = ["label", "kind", "tenant", "sort_order", "is_active"]


@admin.register(Notification, site=platform_admin)
class NotificationAdmin(TenantDataAdmin):
    list_display = ["title", "recipient", "tenant", "created_at", "read_at"]
    raw_id_fields = ["recipient"]


@admin.register(ActivityLog, site=platform_admin)
class ActivityLogAdmin(TenantDataAdmin):
    """Read-only: the audit trail cannot be edited, not even by operators."""

    list_display = ["created_at", "tenant", "actor", "action", "object_repr"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
