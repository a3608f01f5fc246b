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
