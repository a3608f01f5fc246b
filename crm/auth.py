"""Sign-in: by username or mobile number, the lock-out key, and the client address.

A username is unique across the installation (case-insensitively, in the database); a mobile
number only within its company. What the sign-in field means:

- a mobile number (any spelling ``crm.phones.mobile_digits`` accepts) is looked up among the
  mobiles of active accounts; when it belongs to accounts of two or more companies, sign-in is
  refused and the form asks for the username (:func:`mobile_is_ambiguous`);
- anything else, or a mobile number no active account has, is a username (case-insensitive).

django-axes counts failures under :func:`lockout_key`, the same key for every spelling that
reaches one account, and separately per client address (:func:`client_ip`, which believes
X-Forwarded-For only from ``settings.TRUSTED_PROXIES``). :class:`AccountAndAddressHandler` gives
the address its own, higher limit (``settings.SIGNIN_ADDRESS_FAILURE_LIMIT``: an office behind
one NAT address must not be locked by a few typos) and :func:`lockout_response` tells the user
when to try again.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from datetime import datetime, timedelta

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import (
    get_client_username,
    get_cool_off,
    get_failure_limit,
    get_lockout_parameters,
)
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q
from django.shortcuts import render

from crm.models import User
from crm.phones import mobile_digits

log = logging.getLogger(__name__)

# The column axes stores the key in (AccessAttempt.username).
_KEY_MAX_LENGTH = 255


def sign_in_candidates(value: str | None) -> list[User]:
    """The accounts the sign-in field may mean (at most 3; exactly one to sign in)."""
    value = (value or "").strip()
    if not value:
        return []
    # SECURITY: the global manager on purpose: the tenant is unknown before login.
    users = User.objects.select_related("tenant")
    digits = mobile_digits(value)
    if digits is not None:
        # Only accounts that could sign in make a number ambiguous: a disabled account (or
        # one of a disabled company) must not lock another company's user out of mobile
        # sign-in.
        holders = list(
            users.filter(mobile=digits, is_active=True)
            .filter(Q(tenant__isnull=True) | Q(tenant__is_active=True))
            .order_by("pk")[:3]
        )
        if holders:
            return holders
    # A name; or a number no active account has as its mobile (a username made before
    # crm.identity refused numbers as usernames still signs in).
    return list(users.filter(username__iexact=value)[:2])


def mobile_is_ambiguous(value: str | None) -> bool:
    """True when ``value`` is a mobile number of active accounts in several companies."""
    return mobile_digits(value or "") is not None and len(sign_in_candidates(value)) > 1


class UsernameOrMobileBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None or password is None:
            return None
        users = sign_in_candidates(username)
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


# --- the lock-out key (settings.AXES_USERNAME_CALLABLE) -------------------------------------


def lockout_key(request, credentials: dict | None) -> str | None:
    """One key per account, whatever spelling reached it: ``user:<pk>`` when the value means
    exactly one account; otherwise the value normalised (``mobile:<11 digits>`` or
    ``name:<lower-cased>``), so that spellings of an unknown or ambiguous value share one
    counter too."""
    field = settings.AXES_USERNAME_FORM_FIELD
    if credentials is not None:
        value = credentials.get(field)
    else:
        value = getattr(request, "POST", {}).get(field)
    if value is None:
        return None
    value = str(value).strip()
    # axes asks several times per request: resolve once.
    memo = request.__dict__.setdefault("_tidepool_lockout_keys", {}) if request else {}
    if value not in memo:
        users = sign_in_candidates(value)
        if len(users) == 1:
            key = f"user:{users[0].pk}"
        elif (digits := mobile_digits(value)) is not None:
            key = f"mobile:{digits}"
        else:
            key = f"name:{value.lower()}"
        memo[value] = key[:_KEY_MAX_LENGTH]
    return memo[value]


# --- the client address (settings.AXES_CLIENT_IP_CALLABLE) ----------------------------------


def _parse_ip(value: str):
    """An address from REMOTE_ADDR or one X-Forwarded-For hop ("1.2.3.4", "1.2.3.4:5678",
    "[2001:db8::1]:443", "2001:db8::1"), or None."""
    value = value.strip()
    if value.startswith("[") and "]" in value:
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def trusted_proxies() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """``settings.TRUSTED_PROXIES``: addresses or networks (CIDR) of the reverse proxies."""
    return _networks(tuple(settings.TRUSTED_PROXIES))


@functools.lru_cache(maxsize=8)
def _networks(items: tuple[str, ...]):
    try:
        return tuple(ipaddress.ip_network(item, strict=False) for item in items)
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"TRUSTED_PROXIES: {exc} (give addresses or CIDR networks, comma-separated)"
        ) from exc


@functools.cache
def _warn_untrusted_local_proxy(remote) -> None:
    """Once per process: a local reverse proxy forwards for clients, but TRUSTED_PROXIES is
    empty, so every client shares the proxy's address (and its sign-in lock-out)."""
    log.warning(
        "Sign-in: requests come from %s with X-Forwarded-For but TRUSTED_PROXIES is empty: "
        "all clients share one address for the lock-out. Set TRUSTED_PROXIES=%s.",
        remote,
        remote,
    )


def client_ip(request) -> str | None:
    """The client's address: REMOTE_ADDR, unless that is a trusted proxy; then the right-most
    X-Forwarded-For hop that is not a trusted proxy (hops to its left were written by the
    client and can be anything)."""
    remote = _parse_ip(request.META.get("REMOTE_ADDR", ""))
    if remote is None:
        return None
    proxies = trusted_proxies()

    def trusted(address) -> bool:
        return any(address in network for network in proxies)

    if not proxies or not trusted(remote):
        if not proxies and "HTTP_X_FORWARDED_FOR" in request.META and remote.is_loopback:
            _warn_untrusted_local_proxy(remote)
        return str(remote)
    hops = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    client = remote
    for hop in reversed(hops):
        address = _parse_ip(hop)
        if address is None:
            # Not written by a proxy we trust: stop at the last address we can believe.
            break
        client = address
        if not trusted(address):
            break
    return str(client)


# --- limits: the account and, separately, the address (settings.AXES_HANDLER) ---------------


def _unlocked_at(rows: list[tuple[datetime, int]], limit: int, cool_off: timedelta):
    """When the failures in ``rows`` (last failure time, count) fall below ``limit``, each
    row expiring ``cool_off`` after its last failure; None when they are below already."""
    total = sum(count for _time, count in rows)
    until = None
    for time, count in sorted(rows):
        if total < limit:
            break
        total -= count
        until = time + cool_off
    return until


class AccountAndAddressHandler(AxesDatabaseHandler):
    """axes' database handler with a limit per lock-out parameter: the account
    (``AXES_FAILURE_LIMIT``) and the client address (``SIGNIN_ADDRESS_FAILURE_LIMIT``).
    axes itself compares the largest count of all parameters with one limit."""

    def _limit(self, parameter, request, credentials) -> int:
        if parameter == "ip_address":
            return settings.SIGNIN_ADDRESS_FAILURE_LIMIT
        return get_failure_limit(request, credentials)

    def lock_state(self, request, credentials=None) -> dict:
        """``{parameter: (failures, limit, unlocked_at or None)}`` for each lock-out parameter
        (``"username"``, ``"ip_address"``)."""
        cool_off = get_cool_off(request)
        state = {}
        parameters = get_lockout_parameters(request, credentials)
        for parameter, attempts in zip(
            parameters, self.get_user_attempts(request, credentials), strict=True
        ):
            name = parameter if isinstance(parameter, str) else "+".join(parameter)
            rows = list(attempts.values_list("attempt_time", "failures_since_start"))
            failures = sum(count for _time, count in rows)
            limit = self._limit(name, request, credentials)
            until = _unlocked_at(rows, limit, cool_off) if cool_off else None
            state[name] = (failures, limit, until)
        return state

    def get_failures(self, request, credentials=None) -> int:
        # axes locks when this reaches get_failure_limit(): report the account's count, or
        # the limit itself when any parameter (the address) has reached its own limit.
        state = self.lock_state(request, credentials)
        account = max(
            (failures for name, (failures, _l, _u) in state.items() if name != "ip_address"),
            default=0,
        )
        if any(failures >= limit for failures, limit, _until in state.values()):
            return max(account, get_failure_limit(request, credentials))
        return account

    def reset_user_attempts(self, request, credentials=None) -> int:
        # A successful sign-in forgives the failures of that account only: axes would also
        # clear the whole address, so one valid login would reset a guesser's address count.
        username = get_client_username(request, credentials)
        if not username:
            return 0
        count, _ = AccessAttempt.objects.filter(username=username).delete()
        return count


# --- the locked page (settings.AXES_LOCKOUT_CALLABLE) ---------------------------------------


def lockout_response(request, original_response=None, credentials=None):
    state = AccountAndAddressHandler().lock_state(request, credentials)
    locked = {name: until for name, (failures, limit, until) in state.items() if failures >= limit}
    # Rounded up to the minute: the page shows hours and minutes.
    times = [
        until.replace(second=0, microsecond=0) + timedelta(minutes=1)
        if until.second or until.microsecond
        else until
        for until in locked.values()
        if until is not None
    ]
    context = {
        "retry_at": max(times) if times else None,
        "account_locked": any(name != "ip_address" for name in locked),
        "address_locked": "ip_address" in locked,
    }
    return render(
        request,
        "registration/locked_out.html",
        context,
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )
