"""Who a user is at sign-in: the rules for usernames and mobile numbers (DESIGN §4).

Sign-in happens before the company is known, so a username is unique across the
installation (case-insensitively: a unique index on the lower-cased name) and is never a
mobile number, so that a number typed at sign-in can only mean a mobile. A mobile number is
unique within its company only; crm.auth asks for the username when a number belongs to
accounts of several companies.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from crm.exceptions import ServiceError
from crm.models import User
from crm.phones import mobile_digits, normalize_mobile


def clean_identity(
    *, tenant_id: int, username: str, mobile: str | None, exclude_pk: int | None = None
):
    """The username and the normalised mobile of a user of ``tenant_id``, or ServiceError."""
    username = (username or "").strip()
    if not username:
        raise ServiceError(_("Enter a username."), code="required")
    if mobile_digits(username) is not None:
        raise ServiceError(
            _("A username cannot be a mobile number: users sign in with their mobile anyway."),
            code="username_is_mobile",
        )
    mobile_value = None
    if mobile:
        try:
            mobile_value = normalize_mobile(mobile)
        except ValidationError as exc:
            raise ServiceError(exc.messages[0], code="invalid_mobile") from exc
    # SECURITY: the username check looks across tenants (sign-in comes first) but only says
    # "taken", never where; the mobile check stays inside the actor's company.
    others = User.objects.exclude(pk=exclude_pk) if exclude_pk else User.objects.all()
    if others.filter(username__iexact=username).exists():
        raise ServiceError(_("This username is already taken."), code="username_taken")
    if mobile_value and others.filter(tenant_id=tenant_id, mobile=mobile_value).exists():
        raise ServiceError(
            _("This mobile number is already used by another account."), code="mobile_taken"
        )
    return username, mobile_value
