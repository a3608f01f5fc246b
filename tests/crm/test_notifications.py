"""Notifications: sending (only to active users of the tenant), marking read (only one's own),
and the pages: the list, the bell, htmx mark-read with the bell out of band."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from crm import services
from crm.models import Notification
from crm.tenancy import tenant_scope


def _send(world, recipients, title="客户已分配给你", **kwargs):
    with tenant_scope(world.tenant_a.pk):
        return services.notification_send(
            tenant_id=world.tenant_a.pk, recipients=recipients, title=title, **kwargs
        )


def _unread_ids(world, user):
    with tenant_scope(user.tenant_id):
        return set(
            Notification.objects.filter(recipient=user, read_at__isnull=True).values_list(
                "pk", flat=True
            )
        )


def _bell_count(html: str) -> int | None:
    match = re.search(r'data-testid="unread-count">(\d+)<', html)
    return int(match.group(1)) if match else None


# ---------------------------------------------------------------- notification_send


def test_notification_send_creates_one_unread_notification_per_recipient(world, scoped):
    rows = _send(world, [world.rep_east, world.rep_west], body="华东重工", link="/customers/1/")
    assert len(rows) == 2
    with scoped(world.admin_a):
        notes = list(Notification.objects.order_by("recipient_id"))
    assert [n.recipient_id for n in notes] == sorted([world.rep_east.pk, world.rep_west.pk])
    for n in notes:
        assert n.tenant_id == world.tenant_a.pk
        assert (n.title, n.body, n.link) == ("客户已分配给你", "华东重工", "/customers/1/")
        assert n.read_at is None


def test_notification_send_skips_deactivated_users(world, scoped):
    world.rep_west.is_active = False
    world.rep_west.save(update_fields=["is_active"])
    rows = _send(world, [world.rep_east, world.rep_west])
    assert [r.recipient_id for r in rows] == [world.rep_east.pk]
    with scoped(world.admin_a):
        assert not Notification.objects.filter(recipient=world.rep_west).exists()


def test_notification_send_skips_users_of_other_tenants(world, scoped):
    rows = _send(world, [world.rep_east, world.rep_b, world.admin_b])
    assert [r.recipient_id for r in rows] == [world.rep_east.pk]
    with scoped(world.admin_b):
        assert not Notification.objects.exists()


def test_notification_send_with_nobody_left_creates_nothing(world, scoped):
    assert _send(world, [world.rep_b]) == []
    with scoped(world.admin_a):
        assert Notification.objects.count() == 0


def test_notification_send_cuts_long_titles_to_200_characters(world, scoped):
    [row] = _send(world, [world.rep_east], title="长" * 250)
    with scoped(world.admin_a):
        assert Notification.objects.get(pk=row.pk).title == "长" * 200


# ---------------------------------------------------------------- notification_mark_read


def test_notification_mark_read_marks_only_the_given_own_notifications(world, scoped):
    first, second = _send(world, [world.rep_east, world.rep_east])
    with scoped(world.rep_east):
        count = services.notification_mark_read(actor=world.rep_east, ids=[first.pk])
    assert count == 1
    assert _unread_ids(world, world.rep_east) == {second.pk}


def test_notification_mark_read_ignores_other_users_notifications(world, scoped):
    [theirs] = _send(world, [world.rep_west])
    with scoped(world.rep_east):
        count = services.notification_mark_read(actor=world.rep_east, ids=[theirs.pk])
    assert count == 0
    assert _unread_ids(world, world.rep_west) == {theirs.pk}


def test_notification_mark_read_ignores_other_tenants_notifications(world, scoped):
    with scoped(world.admin_b):
        [theirs] = services.notification_send(
            tenant_id=world.tenant_b.pk, recipients=[world.rep_b], title="乙方通知"
        )
    with scoped(world.admin_a):
        count = services.notification_mark_read(actor=world.admin_a, ids=[theirs.pk])
    assert count == 0
    assert _unread_ids(world, world.rep_b) == {theirs.pk}


def test_notification_mark_read_all_marks_only_own_unread(world, scoped):
    mine = _send(world, [world.rep_east, world.rep_east, world.rep_east])
    [theirs] = _send(world, [world.rep_west])
    earlier = timezone.now() - timezone.timedelta(days=3)
    with scoped(world.rep_east):
        Notification.objects.filter(pk=mine[0].pk).update(read_at=earlier)
        count = services.notification_mark_read(actor=world.rep_east)
        # An already-read notification keeps the time it was read.
        assert Notification.objects.get(pk=mine[0].pk).read_at == earlier
    assert count == 2
    assert _unread_ids(world, world.rep_east) == set()
    assert _unread_ids(world, world.rep_west) == {theirs.pk}


# ---------------------------------------------------------------- pages


def test_notification_list_shows_only_own_notifications(world, login):
    _send(world, [world.rep_east], title="给华东的通知")
    _send(world, [world.rep_west], title="给华西的通知")
    response = login(world.rep_east).get(reverse("crm:notification-list"))
    assert response.status_code == 200
    content = response.content.decode()
    assert "给华东的通知" in content
    assert "给华西的通知" not in content
    assert _bell_count(content) == 1


def test_notification_list_unread_filter_hides_read_ones(world, login, scoped):
    [read] = _send(world, [world.rep_east], title="已读通知")
    _send(world, [world.rep_east], title="未读通知")
    with scoped(world.rep_east):
        services.notification_mark_read(actor=world.rep_east, ids=[read.pk])
    content = (
        login(world.rep_east)
        .get(reverse("crm:notification-list"), {"unread": "1"})
        .content.decode()
    )
    assert "未读通知" in content
    assert "已读通知" not in content


def test_notification_list_redirects_anonymous_to_login(world, client):
    response = client.get(reverse("crm:notification-list"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_notification_bell_shows_unread_count(world, login):
    _send(world, [world.rep_east, world.rep_east, world.rep_west])
    response = login(world.rep_east).get(reverse("crm:notification-bell"))
    assert response.status_code == 200
    content = response.content.decode()
    assert 'id="bell"' in content
    assert _bell_count(content) == 2
    assert "<html" not in content


def test_notification_read_via_htmx_returns_item_and_bell_out_of_band(world, login):
    first, second = _send(world, [world.rep_east, world.rep_east])
    client = login(world.rep_east)
    response = client.post(
        reverse("crm:notification-read", args=[first.pk]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert "<html" not in content
    assert f'id="notification-{first.pk}"' in content
    assert f'id="notification-{second.pk}"' not in content
    # The item is re-rendered as read: no "unread" class and no mark-read button.
    item = re.search(rf'<li id="notification-{first.pk}" class="([^"]*)"', content)
    assert item and "unread" not in item.group(1)
    assert reverse("crm:notification-read", args=[first.pk]) not in content
    # The bell travels out of band with the new count.
    bell = re.search(r'<a id="bell"[^>]*>', content)
    assert bell and 'hx-swap-oob="true"' in bell.group(0)
    assert _bell_count(content) == 1
    assert _unread_ids(world, world.rep_east) == {second.pk}


def test_notification_read_via_htmx_of_last_unread_clears_bell_count(world, login):
    [only] = _send(world, [world.rep_east])
    content = (
        login(world.rep_east)
        .post(reverse("crm:notification-read", args=[only.pk]), HTTP_HX_REQUEST="true")
        .content.decode()
    )
    assert 'id="bell"' in content
    assert _bell_count(content) is None


def test_notification_read_without_htmx_follows_the_link(world, login):
    [note] = _send(world, [world.rep_east], link="/notifications/?from=bell")
    response = login(world.rep_east).post(reverse("crm:notification-read", args=[note.pk]))
    assert response.status_code == 302
    assert response.url == "/notifications/?from=bell"
    assert _unread_ids(world, world.rep_east) == set()


def test_notification_read_without_link_goes_back_to_list(world, login):
    [note] = _send(world, [world.rep_east])
    response = login(world.rep_east).post(reverse("crm:notification-read", args=[note.pk]))
    assert response.status_code == 302
    assert response.url == reverse("crm:notification-list")


@pytest.mark.parametrize(
    "link", ["https://evil.example.com/", "//evil.example.com/", "/\\evil.example.com/"]
)
def test_notification_read_never_redirects_off_site(world, login, link):
    [note] = _send(world, [world.rep_east], link=link)
    response = login(world.rep_east).post(reverse("crm:notification-read", args=[note.pk]))
    assert response.status_code == 302
    assert response.url == reverse("crm:notification-list")


def test_notification_read_of_other_users_notification_is_404(world, login):
    [theirs] = _send(world, [world.rep_west])
    response = login(world.rep_east).post(
        reverse("crm:notification-read", args=[theirs.pk]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 404
    assert _unread_ids(world, world.rep_west) == {theirs.pk}


def test_notification_read_of_other_tenants_notification_is_404(world, login, scoped):
    with scoped(world.admin_b):
        [theirs] = services.notification_send(
            tenant_id=world.tenant_b.pk, recipients=[world.rep_b], title="乙方通知"
        )
    response = login(world.admin_a).post(reverse("crm:notification-read", args=[theirs.pk]))
    assert response.status_code == 404
    assert _unread_ids(world, world.rep_b) == {theirs.pk}


def test_notification_read_refuses_get(world, login):
    [note] = _send(world, [world.rep_east])
    response = login(world.rep_east).get(reverse("crm:notification-read", args=[note.pk]))
    assert response.status_code == 405
    assert _unread_ids(world, world.rep_east) == {note.pk}


def test_notification_read_all_marks_own_and_reports_count(world, login):
    _send(world, [world.rep_east, world.rep_east])
    [theirs] = _send(world, [world.rep_west])
    client = login(world.rep_east)
    response = client.post(reverse("crm:notification-read-all"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("crm:notification-list")
    content = response.content.decode()
    assert "2" in re.search(r'class="alert[^"]*"[^>]*>([^<]*)<', content).group(1)
    assert _bell_count(content) is None
    assert _unread_ids(world, world.rep_east) == set()
    assert _unread_ids(world, world.rep_west) == {theirs.pk}


def test_workbench_lists_unread_notifications(world, login):
    _send(world, [world.rep_east], title="新客户待跟进")
    content = login(world.rep_east).get(reverse("crm:workbench")).content.decode()
    assert "新客户待跟进" in content
    assert _bell_count(content) == 1


@pytest.mark.parametrize(
    "link,shown",
    [
        ("/settings/users/", "/settings/users/"),
        ("javascript:alert(1)", ""),
        ("https://evil.example.com/", ""),
        ("//evil.example.com/", ""),
        ("/\\evil.example.com/", ""),
    ],
)
def test_only_local_links_are_rendered(world, login, link, shown):
    from django.urls import reverse

    services.notification_send(
        tenant_id=world.tenant_a.pk, recipients=[world.rep_east], title="链接", link=link
    )
    page = login(world.rep_east).get(reverse("crm:notification-list")).content.decode()
    if shown:
        assert f'href="{shown}"' in page
    else:
        assert "evil" not in page and "javascript:" not in page


# ---------------------------------------------------------------- the bell's dropdown


def _menu(client) -> str:
    response = client.get(reverse("crm:notification-menu"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    return response.content.decode()


def _menu_items(html: str) -> list[tuple[int, bool]]:
    """(notification id, unread) of each dropdown item, in order."""
    return [
        (int(pk), "unread" in classes.split())
        for classes, pk in re.findall(
            r'<li class="([^"]*)" data-testid="bell-item" data-notification="(\d+)"', html
        )
    ]


def _send_at(world, user, title, minutes_ago):
    [row] = _send(world, [user], title=title)
    with tenant_scope(world.tenant_a.pk):
        Notification.objects.filter(pk=row.pk).update(
            created_at=timezone.now() - timezone.timedelta(minutes=minutes_ago)
        )
    return row


def test_bell_links_to_the_list_and_owns_an_empty_dropdown(world, login):
    html = login(world.rep_east).get(reverse("crm:workbench")).content.decode()
    bell = re.search(r'<a id="bell"[^>]*>', html).group(0)
    # Without JavaScript the bell is a link to the notifications page.
    assert f'href="{reverse("crm:notification-list")}"' in bell
    assert 'aria-controls="bell-dropdown"' in bell and "data-bell-toggle" in bell
    # It keeps polling its own count, and only its own.
    assert 'hx-trigger="every 60s"' in bell and 'hx-swap="outerHTML"' in bell
    dropdown = re.search(r'<div id="bell-dropdown"[^>]*>', html).group(0)
    assert f'data-url="{reverse("crm:notification-menu")}"' in dropdown
    assert " hidden" in dropdown
    # The dropdown lies outside the polled bell, so a poll never closes it.
    assert html.index('id="bell-dropdown"') > html.index("</a>", html.index('<a id="bell"'))


def test_notification_menu_shows_the_latest_five_newest_first(world, login):
    rows = [_send_at(world, world.rep_east, f"通知{i}", minutes_ago=10 * i) for i in range(7)]
    html = _menu(login(world.rep_east))
    assert [pk for pk, _ in _menu_items(html)] == [r.pk for r in rows[:5]]
    assert "通知4" in html and "通知5" not in html and "通知6" not in html
    assert "<html" not in html
    assert f'href="{reverse("crm:notification-list")}"' in html  # 查看全部
    assert f'action="{reverse("crm:notification-read-all")}"' in html  # 全部标为已读


def test_notification_menu_marks_the_unread_ones(world, login, scoped):
    old, new = _send_at(world, world.rep_east, "旧", 30), _send_at(world, world.rep_east, "新", 5)
    with scoped(world.rep_east):
        services.notification_mark_read(actor=world.rep_east, ids=[old.pk])
    html = _menu(login(world.rep_east))
    assert _menu_items(html) == [(new.pk, True), (old.pk, False)]
    assert html.count('class="unread-dot"') == 1


def test_notification_menu_items_mark_read_and_follow_the_link(world, login):
    [note] = _send(world, [world.rep_east], link="/customers/?from=bell")
    client = login(world.rep_east)
    html = _menu(client)
    action = reverse("crm:notification-read", args=[note.pk])
    assert f'<form method="post" action="{action}">' in html
    response = client.post(action)
    assert response.url == "/customers/?from=bell"
    assert _unread_ids(world, world.rep_east) == set()
    assert _menu_items(_menu(client)) == [(note.pk, False)]


def test_notification_menu_never_shows_other_users_or_tenants_notifications(world, login, scoped):
    _send(world, [world.rep_west], title="华西的通知")
    with scoped(world.admin_b):
        services.notification_send(
            tenant_id=world.tenant_b.pk, recipients=[world.rep_b], title="乙方通知"
        )
    mine = _send_at(world, world.rep_east, "华东的通知", 1)
    html = _menu(login(world.rep_east))
    assert _menu_items(html) == [(mine.pk, True)]
    assert "华西的通知" not in html and "乙方通知" not in html
    theirs = _menu(login(world.rep_b))
    assert "乙方通知" in theirs and "华东的通知" not in theirs and "华西的通知" not in theirs


def test_notification_menu_when_there_is_nothing(world, login):
    html = _menu(login(world.rep_east))
    assert _menu_items(html) == []
    assert 'class="empty"' in html
    assert reverse("crm:notification-read-all") not in html


def test_notification_menu_query_count_does_not_grow(world, login, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = login(world.rep_east)
    _send(world, [world.rep_east])
    _menu(client)  # warm the session and the caches
    with CaptureQueriesContext(connection) as one:
        _menu(client)
    _send(world, [world.rep_east] * 8, link="/customers/")
    with django_assert_num_queries(len(one)):
        html = _menu(client)
    assert len(_menu_items(html)) == 5


def test_notification_menu_without_htmx_still_answers(world, login):
    _send(world, [world.rep_east], title="直接打开")
    response = login(world.rep_east).get(reverse("crm:notification-menu"))
    assert response.status_code == 200
    assert "直接打开" in response.content.decode()


def test_notification_menu_redirects_anonymous_to_login(world, client):
    response = client.get(reverse("crm:notification-menu"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


# ---------------------------------------------------------------- the dropdown's times


@pytest.mark.parametrize(
    "ago,expected",
    [
        ({"seconds": 20}, "Just now"),
        ({"minutes": 1}, "1 min ago"),
        ({"minutes": 59}, "59 min ago"),
        ({"hours": 2}, "Today 08:30"),
        ({"hours": 12}, "Yesterday 22:30"),
        ({"days": 3}, "11-17 10:30"),
        ({"days": 400}, "2025-10-16"),
    ],
)
def test_notification_time_reads_as_minutes_today_yesterday_then_a_date(ago, expected):
    import datetime
    import zoneinfo

    from django.utils import translation

    from crm.templatetags.notification_tags import notification_time

    shanghai = zoneinfo.ZoneInfo("Asia/Shanghai")
    now = datetime.datetime(2026, 11, 20, 10, 30, tzinfo=shanghai)
    with timezone.override(shanghai), translation.override("en"):
        assert notification_time(now - datetime.timedelta(**ago), now) == expected
