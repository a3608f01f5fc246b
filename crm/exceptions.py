"""Domain errors raised by services; views turn them into messages in the user's language."""

from __future__ import annotations


class ServiceError(Exception):
    """A refused state change. ``message`` is a (lazy) translated sentence for the user."""

    def __init__(self, message, *, code: str = "refused"):
        super().__init__(str(message))
        self.message = message
        self.code = code


class PermissionRefusedError(ServiceError):
    """The actor lacks the function permission for this action (a 403 in views)."""

    def __init__(self, message=None, *, code: str = "permission"):
        from django.utils.translation import gettext_lazy as _

        super().__init__(message or _("You do not have permission to do this."), code=code)


class NotVisibleError(ServiceError):
    """A record the actor may not see was named (a 404 in views, never a 403)."""
