"""The base layout every module uses: navigation by permission, htmx with CSRF, messages."""

from __future__ import annotations

from django.urls import reverse

from crm import services
from crm.tenancy import tenant_scope


def nav_keys(page: str) -> set[str]:
    import re

    return set(re.findall(r'data-nav="([a-z-]+)"', page))


def test_navigation_shows_only_what_the_user_may_use(world, client, login):
    login(world.rep_east)
    assert nav_keys(client.get("/").content.decode()) == {
        "workbench",
        "customers",
        "pool",
        "contacts",
        "followups",
        "notifications",
        "leads",
        "lead-pool",
        "opportunities",
        "products",  # the catalogue (read only without product.manage)
        # No lead conversion report: it moved into the reports (reports.view), which reps
        # do not hold.
    }
    client.logout()
    login(world.admin_a)
    assert nav_keys(client.get("/").content.decode()) == {
        "workbench",
        "customers",
        "contacts",
        "followups",
        "notifications",
        "departments",
        "users",
        "roles",
        "options",
        "audit",
        "reminders",  # 提醒设置 and 推送记录 (settings.manage)
        "deliveries",
        "pool",
        "pool-groups",
        "leads",
        "lead-pool",
        "lead-pool-groups",
        "report-dashboard",  # reports.view
        "report-increment",  # reports.view
        "report-stock",  # reports.view
        "report-followups",  # reports.view
        "report-visits",  # reports.view
        "report-calls",  # reports.view
        "report-pool",  # reports.view
        "report-leads",  # reports.view
        "report-funnel",  # reports.view
        "report-stage-advance",  # reports.view
        "report-lost-reasons",  # reports.view
        "report-deals",  # reports.view
        "opportunities",
        "products",
        "product-categories",  # product.manage
        "opportunity-stages",  # opportunity.settings
        "campaigns",
        "assignment-rules",
    }


def test_htmx_is_loaded_locally_and_sends_the_csrf_token(world, client, login):
    login(world.rep_east)
    page = client.get("/").content.decode()
    assert "hx-headers" in page and "X-CSRFToken" in page
    assert "/static/django_htmx/htmx" in page
    assert "http://" not in page.split("<body")[0] and "https://" not in page.split("<body")[0]


def test_bell_counts_unread_notifications(world, client, login):
    services.notification_send(tenant_id=world.tenant_a.pk, recipients=[world.rep_east], title="一")
    services.notification_send(tenant_id=world.tenant_a.pk, recipients=[world.rep_east], title="二")
    login(world.rep_east)
    bell = client.get(reverse("crm:notification-bell")).content.decode()
    assert 'data-testid="unread-count">2<' in bell


def test_messages_are_shown_once(world, client, login):
    login(world.admin_a)
    response = client.post(reverse("crm:department-list"), {"name": "新部门"}, follow=True)
    page = response.content.decode()
    assert "新部门" in page and 'class="alert alert-success"' in page
    assert 'class="alert alert-success"' not in client.get("/").content.decode()


def test_workbench_shows_the_users_world(world, client, login):
    login(world.manager_sales)
    response = client.get("/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "manager_sales" in page
    assert "销售部" in page
    # The manager's team table lists the people of their scope (the three reps below).
    for rep in (world.rep_east, world.rep_east2, world.rep_west):
        assert str(rep) in page


def test_deactivated_users_receive_no_new_work(world):
    with tenant_scope(world.tenant_a.pk):
        world.rep_east2.is_active = False
        world.rep_east2.save()
        assert world.rep_east2 not in services.assignable_users(world.tenant_a.pk)
        assert world.rep_east in services.assignable_users(world.tenant_a.pk)
        sent = services.notification_send(
            tenant_id=world.tenant_a.pk, recipients=[world.rep_east, world.rep_east2], title="x"
        )
    assert [n.recipient for n in sent] == [world.rep_east]
