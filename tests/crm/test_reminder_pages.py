"""The reminder pages (issue 18): a user's own reminder settings and group bot, the tenant's
reminder settings with the departments' group bots, and the delivery log with its retry."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.messages import get_messages
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from django_scopes import scopes_disabled

from crm import reminders, services
from crm.exceptions import PermissionRefusedError
from crm.models import (
    ActivityLog,
    Delivery,
    ReminderChannel,
    ReminderPreference,
    Tenant,
    Webhook,
)
from crm.tenancy import tenant_scope

DINGTALK = "https://oapi.dingtalk.com/robot/send?access_token=tok3n5ecret0123456789"
FEISHU = "https://open.feishu.cn/open-apis/bot/v2/hook/feishu5ecret0123456789"


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _every_pair() -> list[str]:
    return [f"{k.key}:{c}" for k in reminders.kinds() for c in ReminderChannel.values]


def _pref(user) -> ReminderPreference | None:
    with scopes_disabled():
        return ReminderPreference.objects.filter(user=user).first()


def _webhook(**owner) -> Webhook | None:
    with scopes_disabled():
        return Webhook.objects.filter(**owner).first()


def _make_webhook(tenant, url=DINGTALK, provider="dingtalk", secret="", **owner) -> Webhook:
    with scopes_disabled():
        return Webhook.objects.create(
            tenant=tenant, provider=provider, url=url, secret=secret, **owner
        )


def _delivery(tenant, recipient, *, status="failed", channel="webhook", webhook=None, **kw):
    with scopes_disabled():
        return Delivery.objects.create(
            tenant=tenant,
            recipient=recipient,
            channel=channel,
            webhook=webhook,
            target=kw.pop("target", webhook.url if webhook else "rep@example.com"),
            subject=kw.pop("subject", "跟进提醒：甲客户"),
            status=status,
            **kw,
        )


def _logs(tenant, action) -> int:
    with scopes_disabled():
        return ActivityLog.objects.filter(tenant=tenant, action=action).count()


# ---------------------------------------------------------------- who sees which page

ADMIN_PAGES = ["crm:reminder-settings", "crm:delivery-list"]


@pytest.mark.parametrize("persona", ["rep_east", "manager_sales", "service_a", "admin_a"])
def test_my_reminders_opens_for_every_signed_in_user(world, login, persona):
    response = login(getattr(world, persona)).get(reverse("crm:reminder-preferences"))
    assert response.status_code == 200
    assert b'data-testid="reminder-grid"' in response.content


def test_the_user_menu_links_to_my_reminders(world, login):
    content = login(world.rep_east).get(reverse("crm:workbench")).content.decode()
    assert f'href="{reverse("crm:reminder-preferences")}"' in content


def test_reminder_pages_send_anonymous_users_to_sign_in(world, client):
    for name in ["crm:reminder-preferences", *ADMIN_PAGES]:
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("name", ADMIN_PAGES)
def test_admin_reminder_pages_open_for_the_admin_and_are_in_the_settings_menu(world, login, name):
    response = login(world.admin_a).get(reverse(name))
    assert response.status_code == 200
    assert f'href="{reverse(name)}"' in response.content.decode()


@pytest.mark.parametrize("persona", ["rep_east", "manager_sales", "service_a"])
@pytest.mark.parametrize("name", ADMIN_PAGES)
def test_admin_reminder_pages_are_forbidden_without_settings_manage(world, login, name, persona):
    client = login(getattr(world, persona))
    assert client.get(reverse(name)).status_code == 403
    assert f'href="{reverse(name)}"' not in client.get(reverse("crm:workbench")).content.decode()


# ---------------------------------------------------------------- my reminders


def test_a_user_without_preferences_sees_the_defaults(world, login):
    content = login(world.rep_east).get(reverse("crm:reminder-preferences")).content.decode()
    assert '<option value="15" selected>' in content
    assert 'value="22:00"' in content and 'value="08:00"' in content
    assert content.count('name="on"') == len(_every_pair())
    assert content.count(" checked>") == len(_every_pair())
    assert _pref(world.rep_east) is None


def test_saving_preferences_stores_what_is_turned_off(world, as_user):
    pairs = _every_pair()
    off = [pairs[0], pairs[-1]]
    response = as_user(world.rep_east).post(
        reverse("crm:reminder-preferences"),
        {
            "minutes_before": "30",
            "quiet_start": "21:30",
            "quiet_end": "07:00",
            "on": [p for p in pairs if p not in off],
        },
        follow=True,
    )
    assert "Your reminder settings were saved." in _messages(response)
    pref = _pref(world.rep_east)
    assert pref.tenant_id == world.tenant_a.pk
    assert pref.minutes_before == 30
    assert (pref.quiet_start, pref.quiet_end) == (datetime.time(21, 30), datetime.time(7, 0))
    assert sorted(pref.off) == sorted(off)
    assert not pref.wants(*off[0].split(":")) and pref.wants(*pairs[1].split(":"))
    with scopes_disabled():
        [entry] = ActivityLog.objects.filter(action="reminder_preference.updated")
    assert entry.changes["minutes_before"] == ["15", "30"]
    assert entry.changes["quiet_start"] == ["22:00", "21:30"]
    assert entry.changes["off"][0] == "" and " · " in entry.changes["off"][1]
    # The page shows the saved choices again.
    content = response.content.decode()
    assert '<option value="30" selected>' in content
    assert content.count(" checked>") == len(pairs) - 2


def test_empty_quiet_hours_mean_none(world, login):
    login(world.rep_east).post(
        reverse("crm:reminder-preferences"),
        {"minutes_before": "15", "quiet_start": "", "quiet_end": "", "on": _every_pair()},
    )
    pref = _pref(world.rep_east)
    assert (pref.quiet_start, pref.quiet_end, pref.off) == (None, None, [])


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (
            {"minutes_before": "15", "quiet_start": "22:00", "quiet_end": ""},
            "Give both the start and the end of the quiet hours, or neither.",
        ),
        (
            {"minutes_before": "15", "quiet_start": "09:00", "quiet_end": "09:00"},
            "The quiet hours must start and end at different times.",
        ),
        ({"minutes_before": "7", "quiet_start": "", "quiet_end": ""}, "Select a valid choice."),
        (
            {"minutes_before": "15", "quiet_start": "25:00", "quiet_end": "08:00"},
            "Enter a valid time.",
        ),
        (
            {"minutes_before": "15", "quiet_start": "", "quiet_end": "", "on": ["nothing:bell"]},
            "Select a valid choice.",
        ),
    ],
)
def test_bad_preferences_are_refused_with_a_message_and_nothing_is_written(
    world, as_user, data, error
):
    response = as_user(world.rep_east).post(reverse("crm:reminder-preferences"), data)
    assert response.status_code == 422
    assert "Nothing was saved: correct the marked fields." in _messages(response)
    assert error in response.content.decode()
    assert _pref(world.rep_east) is None
    assert _logs(world.tenant_a, "reminder_preference.updated") == 0


def test_the_preference_service_refuses_an_unknown_pair_and_bad_minutes(world):
    from crm.exceptions import ServiceError

    with tenant_scope(world.tenant_a.pk):
        for kwargs, code in [
            ({"minutes_before": 15, "off": ["customer_followup:fax"]}, "off"),
            ({"minutes_before": 16, "off": []}, "minutes"),
        ]:
            with pytest.raises(ServiceError) as exc:
                services.reminder_preference_save(
                    actor=world.rep_east, quiet_start=None, quiet_end=None, **kwargs
                )
            assert exc.value.code == code
    assert _pref(world.rep_east) is None


def test_the_email_note_says_when_the_user_has_no_address(world, as_user):
    with scopes_disabled():
        world.rep_east.email = ""
        world.rep_east.save(update_fields=["email"])
        world.rep_east2.email = "rep2@example.com"
        world.rep_east2.save(update_fields=["email"])
    content = as_user(world.rep_east).get(reverse("crm:reminder-preferences")).content.decode()
    assert "No e-mail address" in content
    content = as_user(world.rep_east2).get(reverse("crm:reminder-preferences")).content.decode()
    assert "The daily digest goes to rep2@example.com." in content
    assert "No e-mail address" not in content


# ---------------------------------------------------------------- my group bot


def test_saving_my_group_bot_never_shows_the_secret_and_keeps_it_when_blank(world, as_user):
    client = as_user(world.rep_east)
    url = reverse("crm:reminder-webhook-save")
    response = client.post(
        url, {"provider": "dingtalk", "url": DINGTALK, "secret": "SEC-marker-1"}, follow=True
    )
    assert "Your group bot was saved." in _messages(response)
    webhook = _webhook(user=world.rep_east)
    assert (webhook.provider, webhook.url, webhook.secret) == ("dingtalk", DINGTALK, "SEC-marker-1")
    assert webhook.tenant_id == world.tenant_a.pk and webhook.department_id is None
    assert "SEC-marker-1" not in response.content.decode()
    assert "A secret is saved: leave this blank to keep it." in response.content.decode()

    response = client.post(url, {"provider": "feishu", "url": FEISHU, "secret": ""})
    assert response.status_code == 302
    webhook.refresh_from_db()
    assert (webhook.provider, webhook.url, webhook.secret) == ("feishu", FEISHU, "SEC-marker-1")
    assert _webhook(user=world.rep_east).pk == webhook.pk  # one per user: replaced, not added

    client.post(url, {"provider": "feishu", "url": FEISHU, "secret": "SEC-marker-2"})
    webhook.refresh_from_db()
    assert webhook.secret == "SEC-marker-2"
    with scopes_disabled():
        logged = list(ActivityLog.objects.filter(action="webhook.saved").values_list("changes"))
    assert len(logged) == 3
    assert "SEC-marker" not in str(logged)


@pytest.mark.parametrize(
    ("provider", "address", "error"),
    [
        ("dingtalk", "https://evil.example/robot/send?access_token=x", "This is not a"),
        ("dingtalk", "http://oapi.dingtalk.com/robot/send?access_token=x", "This is not a"),
        ("feishu", DINGTALK, "This is not a"),
        ("wecom", "ftp://qyapi.weixin.qq.com/x", "must start with http:// or https://"),
        ("dingtalk", "http://127.0.0.1:8000/hook", "This is not a"),
    ],
)
def test_a_group_bot_with_a_wrong_address_is_refused_and_not_saved(
    world, as_user, provider, address, error
):
    response = as_user(world.rep_east).post(
        reverse("crm:reminder-webhook-save"), {"provider": provider, "url": address}
    )
    assert response.status_code == 422
    assert "The group bot was not saved: correct the marked fields." in _messages(response)
    assert error in response.content.decode()
    assert _webhook(user=world.rep_east) is None


def test_a_user_sees_and_changes_only_their_own_group_bot(world, login):
    theirs = _make_webhook(world.tenant_a, user=world.rep_east2, secret="S2")
    client = login(world.rep_east)
    content = client.get(reverse("crm:reminder-preferences")).content.decode()
    assert "tok3n" not in content and 'data-testid="my-webhook"' not in content
    client.post(reverse("crm:reminder-webhook-save"), {"provider": "feishu", "url": FEISHU})
    client.post(reverse("crm:reminder-webhook-delete"))
    theirs.refresh_from_db()
    assert (theirs.url, theirs.secret) == (DINGTALK, "S2")
    with tenant_scope(world.tenant_a.pk), pytest.raises(PermissionRefusedError):
        services.webhook_save(
            actor=world.rep_east,
            owner_user=world.rep_east2,
            provider="feishu",
            url=FEISHU,
            secret="",
        )
    with tenant_scope(world.tenant_a.pk), pytest.raises(PermissionRefusedError):
        services.webhook_delete(actor=world.rep_east, webhook=theirs)
    assert _webhook(pk=theirs.pk) is not None


def test_removing_my_group_bot(world, as_user):
    _make_webhook(world.tenant_a, user=world.rep_east)
    response = as_user(world.rep_east).post(reverse("crm:reminder-webhook-delete"), follow=True)
    assert "Your group bot was removed." in _messages(response)
    assert _webhook(user=world.rep_east) is None
    assert _logs(world.tenant_a, "webhook.deleted") == 1


def test_my_department_group_bot_shows_masked_and_read_only(world, login):
    _make_webhook(world.tenant_a, department=world.east)
    content = login(world.rep_east).get(reverse("crm:reminder-preferences")).content.decode()
    assert 'data-testid="department-webhook"' in content
    assert "华东组" in content and "https://oapi.dingtalk.com/robot/send?…" in content
    assert "tok3n" not in content
    other = login(world.service_a).get(reverse("crm:reminder-preferences")).content.decode()
    assert 'data-testid="department-webhook"' not in other


@override_settings(WEBHOOK_ALLOW_LOCAL=True)
def test_the_test_button_posts_to_my_group_bot_and_says_it_worked(world, as_user, webhook_server):
    _make_webhook(
        world.tenant_a, user=world.rep_east, url=webhook_server.url("/robot/send?access_token=t")
    )
    response = as_user(world.rep_east).post(reverse("crm:reminder-webhook-test"), follow=True)
    assert "The test message was sent: look in the group." in _messages(response)
    [request] = webhook_server.requests
    assert request.path == "/robot/send"
    assert "Tidepool test message" in str(request.json)


@override_settings(WEBHOOK_ALLOW_LOCAL=True)
def test_the_test_button_shows_the_group_bots_refusal(world, as_user, webhook_server):
    _make_webhook(
        world.tenant_a, user=world.rep_east, url=webhook_server.url("/robot/send?access_token=t")
    )
    webhook_server.answer(json={"errcode": 310000, "errmsg": "sign not match"})
    response = as_user(world.rep_east).post(reverse("crm:reminder-webhook-test"), follow=True)
    [message] = _messages(response)
    assert message.startswith("The test message failed: ")
    assert len(message) > len("The test message failed: ") + 5
    assert len(webhook_server.requests) == 1


def test_the_test_button_without_a_group_bot_asks_for_one(world, as_user):
    response = as_user(world.rep_east).post(reverse("crm:reminder-webhook-test"), follow=True)
    assert _messages(response) == ["Save a group bot first."]


# ---------------------------------------------------------------- tenant settings


def test_the_admin_saves_escalation_days_and_time_zone(world, as_user):
    client = as_user(world.admin_a)
    content = client.get(reverse("crm:reminder-settings")).content.decode()
    # The common Chinese time zones come first, then every IANA name.
    assert content.index('value="Asia/Shanghai"') < content.index('value="Africa/Abidjan"')
    response = client.post(
        reverse("crm:reminder-settings"),
        {"escalation_days": "0", "time_zone": "Asia/Urumqi"},
        follow=True,
    )
    assert "Reminder settings saved." in _messages(response)
    tenant = Tenant.objects.get(pk=world.tenant_a.pk)
    assert (tenant.followup_overdue_escalation_days, tenant.time_zone) == (0, "Asia/Urumqi")
    assert Tenant.objects.get(pk=world.tenant_b.pk).time_zone == "Asia/Shanghai"
    assert _logs(world.tenant_a, "tenant.reminders_updated") == 1


@pytest.mark.parametrize(
    "data",
    [
        {"escalation_days": "31", "time_zone": "Asia/Shanghai"},
        {"escalation_days": "-1", "time_zone": "Asia/Shanghai"},
        {"escalation_days": "3", "time_zone": "Mars/Olympus"},
        {"escalation_days": "", "time_zone": "Asia/Shanghai"},
    ],
)
def test_bad_tenant_settings_are_refused_and_nothing_changes(world, login, data):
    response = login(world.admin_a).post(reverse("crm:reminder-settings"), data)
    assert response.status_code == 422
    tenant = Tenant.objects.get(pk=world.tenant_a.pk)
    assert (tenant.followup_overdue_escalation_days, tenant.time_zone) == (3, "Asia/Shanghai")
    assert _logs(world.tenant_a, "tenant.reminders_updated") == 0


def test_a_rep_cannot_post_tenant_settings(world, login):
    response = login(world.rep_east).post(
        reverse("crm:reminder-settings"), {"escalation_days": "9", "time_zone": "Asia/Tokyo"}
    )
    assert response.status_code == 403
    assert Tenant.objects.get(pk=world.tenant_a.pk).followup_overdue_escalation_days == 3


# ---------------------------------------------------------------- department group bots


def test_the_admin_adds_edits_and_removes_a_department_group_bot(world, as_user):
    client = as_user(world.admin_a)
    response = client.post(
        reverse("crm:department-webhook-create"),
        {"department": world.east.pk, "provider": "dingtalk", "url": DINGTALK, "secret": "DS1"},
        follow=True,
    )
    assert "The group bot of 华东组 was saved." in _messages(response)
    webhook = _webhook(department=world.east)
    assert webhook.secret == "DS1" and webhook.user_id is None
    content = response.content.decode()
    assert "https://oapi.dingtalk.com/robot/send?…" in content and "tok3n" not in content

    edit = reverse("crm:department-webhook-edit", args=[webhook.pk])
    assert "DS1" not in client.get(edit).content.decode()
    client.post(edit, {"provider": "feishu", "url": FEISHU, "secret": ""})
    webhook.refresh_from_db()
    assert (webhook.provider, webhook.url, webhook.secret, webhook.is_active) == (
        "feishu",
        FEISHU,
        "DS1",
        False,  # the box was not ticked
    )
    response = client.post(edit, {"provider": "feishu", "url": "https://x.example/", "secret": ""})
    assert response.status_code == 422
    webhook.refresh_from_db()
    assert webhook.url == FEISHU

    response = client.post(reverse("crm:department-webhook-delete", args=[webhook.pk]), follow=True)
    assert "The group bot of 华东组 was removed." in _messages(response)
    assert _webhook(pk=webhook.pk) is None


def test_a_department_with_a_group_bot_is_not_offered_again(world, login):
    _make_webhook(world.tenant_a, department=world.east)
    content = login(world.admin_a).get(reverse("crm:reminder-settings")).content.decode()
    form = content[content.index('data-testid="department-webhook-form"') :]
    assert f'<option value="{world.west.pk}">' in form
    assert f'<option value="{world.east.pk}">' not in form


def test_a_users_own_group_bot_is_no_department_page(world, login):
    own = _make_webhook(world.tenant_a, user=world.rep_east)
    client = login(world.admin_a)
    assert client.get(reverse("crm:department-webhook-edit", args=[own.pk])).status_code == 404
    response = client.post(reverse("crm:department-webhook-delete", args=[own.pk]))
    assert response.status_code == 404
    assert _webhook(pk=own.pk) is not None


def test_another_tenants_group_bot_is_a_404(world, login):
    theirs = _make_webhook(world.tenant_b, department=world.admin_b.department)
    client = login(world.admin_a)
    for name in ["crm:department-webhook-edit", "crm:department-webhook-delete"]:
        assert client.post(reverse(name, args=[theirs.pk]), {"url": FEISHU}).status_code == 404
    assert _webhook(pk=theirs.pk).url == DINGTALK


# ---------------------------------------------------------------- delivery log


def _rows(content: str) -> int:
    return content.count("data-delivery=")


def test_the_delivery_log_lists_newest_first_with_masked_targets(world, login):
    hook = _make_webhook(world.tenant_a, department=world.east)
    now = timezone.now()
    _delivery(
        world.tenant_a,
        world.rep_east,
        status="sent",
        channel="email",
        digest_on=now.date(),
        subject="旧的",
        created_at=now,
    )
    _delivery(
        world.tenant_a,
        world.rep_east,
        webhook=hook,
        subject="新的",
        last_error="x" * 300,
        created_at=now + datetime.timedelta(minutes=1),
    )
    _delivery(world.tenant_b, world.rep_b, subject="乙公司的投递")
    content = login(world.admin_a).get(reverse("crm:delivery-list")).content.decode()
    assert _rows(content) == 2
    assert content.index("新的") < content.index("旧的")
    assert "乙公司的投递" not in content
    assert "tok3n" not in content and "https://oapi.dingtalk.com/robot/send?…" in content
    assert "rep@example.com" in content
    assert f'title="{"x" * 300}"' in content  # the full error in the title, cut in the cell


def test_the_delivery_log_filters_by_status_channel_and_recipient(world, login):
    _delivery(world.tenant_a, world.rep_east, status="failed", subject="失败的")
    _delivery(world.tenant_a, world.rep_west, status="sent", subject="成功的")
    _delivery(
        world.tenant_a,
        world.rep_west,
        status="pending",
        channel="email",
        digest_on=datetime.date(2026, 12, 7),
        subject="摘要",
    )
    client = login(world.admin_a)
    url = reverse("crm:delivery-list")
    content = client.get(url, {"status": "failed"}).content.decode()
    assert _rows(content) == 1 and "失败的" in content
    content = client.get(url, {"channel": "email"}).content.decode()
    assert _rows(content) == 1 and "摘要" in content
    content = client.get(url, {"q": "rep_west"}).content.decode()
    assert _rows(content) == 2 and "失败的" not in content
    content = client.get(url, {"status": "sent", "channel": "webhook", "q": "rep_west"})
    assert _rows(content.content.decode()) == 1
    content = client.get(url, {"status": "bogus"}).content.decode()
    assert _rows(content) == 3  # an unknown filter value filters nothing


@pytest.mark.parametrize("rows", [1, 30])
def test_the_delivery_log_costs_a_fixed_number_of_queries(
    world, login, rows, django_assert_num_queries
):
    hook = _make_webhook(world.tenant_a, department=world.east)
    users = [world.rep_east, world.rep_east2, world.rep_west, world.service_a]
    for i in range(rows):
        _delivery(world.tenant_a, users[i % 4], webhook=hook if i % 2 else None)
    client = login(world.admin_a)
    client.get(reverse("crm:delivery-list"))  # warm the session and the caches
    with django_assert_num_queries(DELIVERY_LIST_QUERIES):
        response = client.get(reverse("crm:delivery-list"), {"per": "50"})
    assert _rows(response.content.decode()) == rows


# session, user (with role), the unread count of the bell, the page of deliveries (with
# recipients and webhooks).
DELIVERY_LIST_QUERIES = 4


@pytest.fixture
def scheduled(monkeypatch):
    from crm import deliveries

    calls = []
    monkeypatch.setattr(deliveries, "schedule_send", lambda tenant_id: calls.append(tenant_id))
    return calls


def test_retrying_a_failed_delivery_makes_it_pending_now(world, as_user, scheduled):
    delivery = _delivery(world.tenant_a, world.rep_east, status="failed", attempts=5)
    before = timezone.now()
    response = as_user(world.admin_a).post(
        reverse("crm:delivery-retry", args=[delivery.pk]),
        {"next": reverse("crm:delivery-list") + "?status=failed"},
    )
    assert response.status_code == 302
    assert response.url == reverse("crm:delivery-list") + "?status=failed"
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.attempts == 0
    assert delivery.next_attempt_at >= before
    assert scheduled == [world.tenant_a.pk]
    assert _logs(world.tenant_a, "delivery.retried") == 1


@pytest.mark.parametrize("status", ["sent", "pending"])
def test_retrying_a_delivery_that_did_not_fail_is_refused(world, as_user, scheduled, status):
    delivery = _delivery(world.tenant_a, world.rep_east, status=status)
    response = as_user(world.admin_a).post(
        reverse("crm:delivery-retry", args=[delivery.pk]), follow=True
    )
    assert _messages(response) == ["Only a failed delivery can be sent again."]
    delivery.refresh_from_db()
    assert delivery.status == status and delivery.next_attempt_at is None
    assert scheduled == []


def test_the_retry_button_shows_on_failed_rows_only(world, login):
    failed = _delivery(world.tenant_a, world.rep_east, status="failed")
    sent = _delivery(world.tenant_a, world.rep_east, status="sent")
    content = login(world.admin_a).get(reverse("crm:delivery-list")).content.decode()
    assert reverse("crm:delivery-retry", args=[failed.pk]) in content
    assert reverse("crm:delivery-retry", args=[sent.pk]) not in content


def test_retry_of_another_tenants_delivery_is_a_404_and_a_rep_gets_a_403(world, login, scheduled):
    theirs = _delivery(world.tenant_b, world.rep_b, status="failed")
    ours = _delivery(world.tenant_a, world.rep_east, status="failed")
    assert (
        login(world.admin_a).post(reverse("crm:delivery-retry", args=[theirs.pk])).status_code
        == 404
    )
    assert (
        login(world.rep_east).post(reverse("crm:delivery-retry", args=[ours.pk])).status_code == 403
    )
    for delivery in (theirs, ours):
        delivery.refresh_from_db()
        assert delivery.status == "failed"
    assert scheduled == []


@override_settings(WEBHOOK_ALLOW_LOCAL=True)
def test_the_admin_tests_a_department_group_bot(world, as_user, webhook_server):
    webhook = _make_webhook(
        world.tenant_a,
        department=world.east,
        url=webhook_server.url("/hook/dept"),
        provider="feishu",
    )
    client = as_user(world.admin_a)
    response = client.post(reverse("crm:department-webhook-test", args=[webhook.pk]), follow=True)
    assert "The test message was sent: look in the group." in _messages(response)
    assert [r.path for r in webhook_server.requests] == ["/hook/dept"]
    # A rep may not use the department's bot.
    response = as_user(world.rep_east).post(
        reverse("crm:department-webhook-test", args=[webhook.pk])
    )
    assert response.status_code == 403
    assert len(webhook_server.requests) == 1
