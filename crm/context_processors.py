from __future__ import annotations

from crm import navigation
from crm.models import Notification


def crm(request) -> dict:
    """Navigation and the bell's unread count for tenant users (one query)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or user.tenant_id is None:
        return {}
    return {
        "nav_main": navigation.items_for(user, "main"),
        "nav_settings": navigation.items_for(user, "settings"),
        "unread_count": lambda: Notification.objects.filter(
            tenant_id=user.tenant_id, recipient=user, read_at__isnull=True
        ).count(),
        "current_tenant": user.tenant,
    }
