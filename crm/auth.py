"""Login by username or mobile number (both unique across the installation)."""

from __future__ import annotations

import contextlib

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import ValidationError
from django.db.models import Q

from crm.models import User
from crm.phones import normalize_mobile


class UsernameOrMobileBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None or password is None:
            return None
        query = Q(username__iexact=username.strip())
        with contextlib.suppress(ValidationError):
            query |= Q(mobile=normalize_mobile(username))
        # SECURITY: the global manager on purpose: the tenant is unknown before login.
        users = list(User.objects.filter(query).select_related("tenant")[:2])
        if len(users) != 1:
            # Run the hasher anyway so that timing does not reveal which names exist.
            User().set_password(password)
            return None
        user = users[0]
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None

    def user_can_authenticate(self, user):
        if not super().user_can_authenticate(user):
            return False
        # A disabled tenant locks out all of its users; operators have no tenant.
        return user.tenant_id is None or user.tenant.is_active

    def get_user(self, user_id):
        try:
            user = User.objects.select_related("tenant", "role", "department").get(pk=user_id)
        except User.DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None
