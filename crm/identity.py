"""Who a user is at sign-in: the rules for usernames and mobile numbers (DESIGN §4).

Sign-in happens before the company is known, so a username is unique across the
installation; a mobile number only within its company (crm.auth asks for the username when
a number belongs to accounts of several companies).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from crm.exceptions import ServiceError
from crm.models import User
from crm.phones import normalize_mobile


def clean_identity(*, username: str, mobile: str | None, exclude_pk: int | None = None):
    username = (username or "").strip()
    if not username:
        raise ServiceError(_("Enter a username."), code="required")
    mobile_value = None
    if mobile:
        try:
            mobile_value = normalize_mobile(mobile)
        except ValidationError as exc:
            raise ServiceError(exc.messages[0], code="invalid_mobile") from exc
    # SECURITY: usernames and mobiles are unique across the installation (login comes first),
    # so this check looks across tenants but only says "taken".
    others = User.objects.exclude(pk=exclude_pk) if exclude_pk else User.objects.all()
    if others.filter(username__iexact=username).exists():
        raise ServiceError(_("This username is already taken."), code="username_taken")
    if mobile_value and others.filter(mobile=mobile_value).exists():
        raise ServiceError(
            _("This mobile number is already used by another account."), code="mobile_taken"
        )
    return username, mobile_value
