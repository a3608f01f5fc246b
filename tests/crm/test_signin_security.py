"""Sign-in security: the lock-out per account (every spelling) and per address, the client
address behind trusted proxies, the locked page, usernames vs mobile numbers across companies
(crm.auth, crm.identity)."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import escape

from crm import services
from crm.auth import _warn_untrusted_local_proxy, client_ip, lockout_key
from crm.exceptions import ServiceError
from crm.models import Role, User
from tests.factories import PASSWORD, make_user

LOGIN = "/accounts/login/"
HOME = "198.51.100.10"
ELSEWHERE = "198.51.100.20"

# Every way a new user would type rep_east's account (mobile 13700000003).
ACCOUNT_LOCKED = (
    "This account is locked after too many wrong passwords, on every device and whichever "
    "name or mobile number was typed."
)

SPELLINGS = ["13700000003", "137 0000 0003", "+86 13700000003", "rep_east", "REP_EAST"]


@pytest.fixture(autouse=True)
def axes_on(settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 5
    settings.SIGNIN_ADDRESS_FAILURE_LIMIT = 30
    settings.TRUSTED_PROXIES = []


def post_login(client, username, password=PASSWORD, address=HOME, **extra):
    return client.post(
        LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address, **extra
    )


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def zh(msgid: str, **params) -> str:
    """A message as the page shows it: in the default language (zh-hans), HTML-escaped."""
    with translation.override("zh-hans"):
        text = translation.gettext(msgid)
    return escape(text % params if params else text)


def retry_shown(last_failure) -> str:
    """The retry time the locked page names: 15 minutes after the failure that unlocks,
    rounded up to the minute, in the installation's time zone."""
    until = last_failure + timedelta(minutes=15)
    if until.second or until.microsecond:
        until = until.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return timezone.localtime(until).strftime("%Y-%m-%d %H:%M")


# --- the account, whatever spelling -------------------------------------------------------


@pytest.mark.parametrize("failing", SPELLINGS)
def test_every_spelling_is_locked_after_five_failures_on_one(world, client, failing):
    statuses = [post_login(client, failing, "wrong").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 429]  # the fifth failure locks
    for spelling in SPELLINGS:
        response = post_login(client, spelling)
        assert response.status_code == 429, spelling
        assert not signed_in(client)


def test_four_failures_do_not_lock_the_account(world, client):
    for spelling in SPELLINGS[:4]:
        post_login(client, spelling, "wrong")
    assert post_login(client, "+86 137-0000-0003").status_code == 302
    assert signed_in(client)


def test_the_account_lock_holds_from_another_address(world, client):
    for _ in range(5):
        post_login(client, "rep_east", "wrong", address=HOME)
    response = post_login(client, "13700000003", address=ELSEWHERE)
    assert response.status_code == 429
    assert not signed_in(client)
    # Only that account: another user signs in from the same addresses.
    assert post_login(client, "rep_west", address=HOME).status_code == 302


def test_the_lockout_key_is_the_account_for_every_spelling(world):
    request = RequestFactory().post(LOGIN)
    keys = {lockout_key(request, {"username": spelling}) for spelling in SPELLINGS}
    assert keys == {f"user:{world.rep_east.pk}"}
    # Unknown values are normalised, so that their spellings share one counter too.
    assert lockout_key(request, {"username": "Nobody"}) == "name:nobody"
    assert lockout_key(request, {"username": "+86 139 0000 0000"}) == "mobile:13900000000"


# --- the address, separately ----------------------------------------------------------------


def test_an_address_lock_applies_across_accounts(world, client, settings):
    settings.SIGNIN_ADDRESS_FAILURE_LIMIT = 6
    # Never five on one account: only the address count reaches its limit.
    for name in ["rep_east", "rep_east2", "service_a", "ghost", "nobody", "13600000000"]:
        post_login(client, name, "wrong", address=HOME)
    response = post_login(client, "rep_west", address=HOME)
    assert response.status_code == 429
    assert not signed_in(client)
    assert post_login(client, "rep_west", address=ELSEWHERE).status_code == 302


def test_an_office_address_is_not_locked_at_the_account_limit(world, client):
    """One NAT address for a whole office: five colleagues' typos lock nobody."""
    for name in ["rep_east", "rep_east2", "rep_west", "service_a", "manager_sales"]:
        post_login(client, name, "wrong", address=HOME)
    assert post_login(client, "admin_a", address=HOME).status_code == 302


def test_a_sign_in_forgives_only_that_accounts_failures(world, client, settings):
    settings.SIGNIN_ADDRESS_FAILURE_LIMIT = 6
    for _ in range(4):
        post_login(client, "ghost", "wrong", address=HOME)
    post_login(client, "rep_east", "wrong", address=HOME)
    assert post_login(client, "rep_east", address=HOME).status_code == 302
    client.post(reverse("logout"))
    # The guesser's failures on "ghost" still count for the address: 4 + 2 reach the limit.
    assert AccessAttempt.objects.filter(username="name:ghost").exists()
    assert not AccessAttempt.objects.filter(username=f"user:{world.rep_east.pk}").exists()
    post_login(client, "ghost", "wrong", address=HOME)
    post_login(client, "ghost2", "wrong", address=HOME)
    assert post_login(client, "rep_west", address=HOME).status_code == 429


# --- the client address behind proxies ------------------------------------------------------


def _request(remote, forwarded=None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().post(LOGIN, **extra)


def test_x_forwarded_for_is_ignored_without_trusted_proxies(settings):
    assert client_ip(_request("203.0.113.9", "1.2.3.4")) == "203.0.113.9"


def test_a_local_proxy_that_is_not_trusted_is_reported_in_the_log(settings, caplog):
    _warn_untrusted_local_proxy.cache_clear()  # said once per process
    # The logger's own level, whatever an earlier test left the logging configuration at.
    with caplog.at_level(logging.WARNING, logger="crm.auth"):
        assert client_ip(_request("127.0.0.1", "1.2.3.4")) == "127.0.0.1"
    assert "TRUSTED_PROXIES=127.0.0.1" in caplog.text


def test_x_forwarded_for_is_ignored_from_an_untrusted_peer(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert client_ip(_request("203.0.113.9", "1.2.3.4")) == "203.0.113.9"


def test_x_forwarded_for_is_walked_from_the_right_past_trusted_proxies(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "192.0.2.1"]
    # The client wrote "1.2.3.4" itself; the edge proxy saw 198.51.100.7.
    request = _request("10.0.0.2", "1.2.3.4, 198.51.100.7, 192.0.2.1, 10.0.0.5")
    assert client_ip(request) == "198.51.100.7"
    assert client_ip(_request("10.0.0.2", "198.51.100.7:5123")) == "198.51.100.7"
    assert client_ip(_request("10.0.0.2", "[2001:db8::7]:443")) == "2001:db8::7"
    # A proxy that forwarded nothing (or garbage): the proxy's own address, never a guess.
    assert client_ip(_request("10.0.0.2")) == "10.0.0.2"
    assert client_ip(_request("10.0.0.2", "1.2.3.4, not-an-ip")) == "10.0.0.2"


def test_a_malformed_trusted_proxies_setting_is_a_configuration_error(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "proxy.example.com"]
    with pytest.raises(ImproperlyConfigured, match="TRUSTED_PROXIES"):
        client_ip(_request("10.0.0.2", "1.2.3.4"))


def test_an_untrusted_peer_cannot_dodge_the_address_lock_with_x_forwarded_for(
    world, client, settings
):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    settings.SIGNIN_ADDRESS_FAILURE_LIMIT = 3
    for n, name in enumerate(["ghost", "nobody", "someone"]):
        post_login(client, name, "wrong", address=HOME, HTTP_X_FORWARDED_FOR=f"1.1.1.{n}")
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {HOME}
    response = post_login(client, "rep_west", address=HOME, HTTP_X_FORWARDED_FOR="1.1.1.9")
    assert response.status_code == 429


def test_behind_a_trusted_proxy_each_client_has_its_own_address_count(world, client, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    settings.SIGNIN_ADDRESS_FAILURE_LIMIT = 3
    for name in ["ghost", "nobody", "someone"]:
        post_login(client, name, "wrong", address="10.0.0.2", HTTP_X_FORWARDED_FOR=HOME)
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {HOME}
    locked = post_login(client, "rep_west", address="10.0.0.2", HTTP_X_FORWARDED_FOR=HOME)
    assert locked.status_code == 429
    other = post_login(client, "rep_west", address="10.0.0.2", HTTP_X_FORWARDED_FOR=ELSEWHERE)
    assert other.status_code == 302


# --- the locked page --------------------------------------------------------------------------


def test_the_locked_page_names_the_retry_time_in_chinese(world, client):
    for _ in range(5):
        post_login(client, "rep_east", "wrong")
    response = post_login(client, "rep_east")
    assert response.status_code == 429
    page = response.content.decode()
    assert '<html lang="zh-hans">' in page
    last = AccessAttempt.objects.get(username=f"user:{world.rep_east.pk}").attempt_time
    assert zh("Try again after %(time)s.", time=retry_shown(last)) in page
    assert zh(ACCOUNT_LOCKED) in page


def test_the_locked_page_says_when_the_address_is_locked(world, client, settings):
    settings.SIGNIN_ADDRESS_FAILURE_LIMIT = 2
    post_login(client, "ghost", "wrong")
    post_login(client, "nobody", "wrong")
    page = post_login(client, "rep_west").content.decode()
    assert zh("Sign-in from your network address is paused after too many failed attempts.") in page
    # Two rows of one failure each: the address unlocks when the older one expires.
    first = AccessAttempt.objects.get(username="name:ghost").attempt_time
    assert zh("Try again after %(time)s.", time=retry_shown(first)) in page
    assert zh(ACCOUNT_LOCKED) not in page


def test_attempts_while_locked_do_not_move_the_retry_time(world, client):
    for _ in range(5):
        post_login(client, "rep_east", "wrong")
    before = AccessAttempt.objects.get(username=f"user:{world.rep_east.pk}")
    post_login(client, "rep_east", "wrong")
    post_login(client, "rep_east")
    after = AccessAttempt.objects.get(username=f"user:{world.rep_east.pk}")
    assert (after.attempt_time, after.failures_since_start) == (
        before.attempt_time,
        before.failures_since_start,
    )


# --- usernames and mobiles across companies ---------------------------------------------------


def test_usernames_are_unique_case_insensitively_in_the_database(world):
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(tenant=world.tenant_b, username="REP_EAST")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(tenant=world.tenant_a, username="Rep_East")


FULL_WIDTH = "".join(chr(ord(c) + 0xFEE0) for c in "13800000003")  # １３８…


@pytest.mark.parametrize("username", ["13800000003", "+86 138 0000 0003", FULL_WIDTH])
def test_a_username_cannot_be_a_mobile_number(world, scoped, username):
    with scoped(world.admin_b), pytest.raises(ServiceError) as exc:
        services.user_create(actor=world.admin_b, username=username, name="新人")
    assert exc.value.code == "username_is_mobile"
    assert not User.objects.filter(tenant=world.tenant_b, name="新人").exists()


def test_a_username_cannot_be_renamed_to_a_mobile_number(world, scoped):
    with scoped(world.admin_b), pytest.raises(ServiceError) as exc:
        services.user_update(
            actor=world.admin_b,
            user=world.rep_b,
            username="13700000003",
            name=world.rep_b.name,
            mobile=None,
            email="",
            title="",
            department=world.rep_b.department,
            role=world.rep_b.role,
            manager=world.rep_b.manager,
        )
    assert exc.value.code == "username_is_mobile"


def test_a_username_taken_in_another_company_says_only_taken(world, scoped):
    with scoped(world.admin_b), pytest.raises(ServiceError) as exc:
        services.user_create(actor=world.admin_b, username="REP_EAST", name="新人")
    assert exc.value.code == "username_taken"
    assert str(exc.value.message) == zh("This username is already taken.")


def test_the_same_mobile_may_exist_in_two_companies(world, scoped):
    with scoped(world.admin_b):
        user, _pw = services.user_create(
            actor=world.admin_b, username="newbie_b", name="新人", mobile="+86 137 0000 0003"
        )
    assert user.mobile == world.rep_east.mobile == "13700000003"
    # Still unique within one company, in the service and in the database.
    with scoped(world.admin_b), pytest.raises(ServiceError) as exc:
        services.user_create(
            actor=world.admin_b, username="other_b", name="另一个", mobile="13700000003"
        )
    assert exc.value.code == "mobile_taken"
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(tenant=world.tenant_b, username="raw_b", mobile="13700000003")


def test_a_mobile_of_two_companies_asks_for_the_username(world, client):
    make_user(world.tenant_b, "rep_b2", mobile="13700000003")
    response = post_login(client, "137 0000 0003")
    assert response.status_code == 200
    assert not signed_in(client)
    errors = response.context["form"].non_field_errors()
    assert list(errors) == [
        zh(
            "This mobile number belongs to accounts in several companies: "
            "sign in with your username instead."
        )
    ]
    assert errors[0] in response.content.decode() or escape(errors[0]) in response.content.decode()
    # The usernames still sign in, each into its own company.
    assert post_login(client, "rep_east").status_code == 302
    assert client.get("/").context["request"].user == world.rep_east


def test_a_wrong_password_on_an_ambiguous_mobile_still_counts(world, client, settings):
    settings.SIGNIN_ADDRESS_FAILURE_LIMIT = 3
    make_user(world.tenant_b, "rep_b2", mobile="13700000003")
    for _ in range(3):
        post_login(client, "13700000003", "wrong")
    assert post_login(client, "rep_west").status_code == 429


def test_a_disabled_account_does_not_make_a_mobile_ambiguous(world, client):
    make_user(world.tenant_b, "gone_b", mobile="13700000003", is_active=False)
    assert post_login(client, "13700000003").status_code == 302
    assert client.get("/").context["request"].user == world.rep_east


def test_a_number_is_a_mobile_first_and_an_old_numeric_username_second(world, client):
    """Usernames made before the rule: a number no account has as its mobile still signs
    in as that username; a number that is someone's mobile means the mobile."""
    legacy = make_user(world.tenant_b, "13900009999")
    assert post_login(client, "13900009999").status_code == 302
    assert client.get("/").context["request"].user == legacy
    client.post(reverse("logout"))
    make_user(world.tenant_b, "13700000003", role=Role.Builtin.SALES_REP)
    assert post_login(client, "13700000003").status_code == 302
    assert client.get("/").context["request"].user == world.rep_east
