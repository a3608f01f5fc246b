"""The pool group settings pages end to end (pool.manage): list, create, edit, delete and
初始化公海分组; 403 without the permission, 404 for another tenant's group (and nothing
changed), 422 with the reason on invalid input, and a fixed number of queries on the list."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation
from django.utils.html import escape
from django_scopes import scopes_disabled

from crm.models import ActivityLog, Option, OptionKind
from crm.tenancy import tenant_scope
from customers.models import Customer, OwnershipEvent, PoolReason
from pools.models import PoolGroup, PoolGroupDepartment, PoolGroupUser, PoolLevelRule
from tests.customers.factories import make_customer


def in_page(msgid: str) -> str:
    """A message as the page shows it: in the default language (zh-hans), HTML-escaped."""
    with translation.override("zh-hans"):
        return escape(translation.gettext(msgid))


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _group(tenant, name: str, **fields) -> PoolGroup:
    with scopes_disabled():
        return PoolGroup.objects.create(tenant=tenant, name=name, **fields)


def _default(tenant) -> PoolGroup:
    with scopes_disabled():
        return PoolGroup.objects.get(tenant=tenant, is_default=True)


def _levels(tenant) -> list[Option]:
    with scopes_disabled():
        return list(
            Option.objects.filter(tenant=tenant, kind=OptionKind.CUSTOMER_LEVEL).order_by(
                "sort_order", "id"
            )
        )


def _reload(group: PoolGroup) -> PoolGroup:
    with scopes_disabled():
        return PoolGroup.objects.get(pk=group.pk)


def _log_count(tenant_id: int) -> int:
    with tenant_scope(tenant_id):
        return ActivityLog.objects.count()


def form_data(tenant, **overrides) -> dict:
    """A complete POST of the group form: the model defaults, one row per level (unticked)."""
    levels = _levels(tenant)
    data = {
        "name": "华东公海",
        "is_enabled": "on",
        "sort_order": "0",
        "claim_mode": "self",
        "daily_claim_limit": "0",
        "holding_limit": "0",
        "cooldown_days": "0",
        "recycle_no_followup_days": "",
        "recycle_no_deal_days": "",
        "exempt_signed": "on",
        "exempt_with_opportunity": "on",
        "exempt_locked": "on",
        "warn_days": "3",
        "hidden_fields": ["contact_phones", "contact_emails"],
        "levels-TOTAL_FORMS": str(len(levels)),
        "levels-INITIAL_FORMS": str(len(levels)),
        "levels-MIN_NUM_FORMS": "0",
        "levels-MAX_NUM_FORMS": str(len(levels)),
    }
    for i, level in enumerate(levels):
        data[f"levels-{i}-level"] = str(level.pk)
        data[f"levels-{i}-no_followup_days"] = ""
        data[f"levels-{i}-no_deal_days"] = ""
    for key, value in overrides.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


# ---------------------------------------------------------------- access


PAGES = {
    "pools:group-list": lambda w: [],
    "pools:group-create": lambda w: [],
    "pools:group-edit": lambda w: [_default(w.tenant_a).pk],
}
ACTIONS = {
    "pools:group-delete": lambda w: [_group(w.tenant_a, "待删公海").pk],
    "pools:group-initialize": lambda w: [],
}


@pytest.mark.parametrize("name", PAGES)
def test_group_page_answers_200_for_admin(world, login, name):
    response = login(world.admin_a).get(reverse(name, args=PAGES[name](world)))
    assert response.status_code == 200
    assert b"<html" in response.content


@pytest.mark.parametrize("persona", ["rep_east", "service_a"])
@pytest.mark.parametrize("name", PAGES)
def test_group_page_forbidden_without_pool_manage(world, login, name, persona):
    response = login(getattr(world, persona)).get(reverse(name, args=PAGES[name](world)))
    assert response.status_code == 403


@pytest.mark.parametrize("name", PAGES)
def test_group_page_redirects_anonymous_to_login(world, client, name):
    response = client.get(reverse(name, args=PAGES[name](world)))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("name", ACTIONS)
def test_group_action_forbidden_without_pool_manage_and_changes_nothing(world, login, name):
    args = ACTIONS[name](world)
    orphan = make_customer(world.tenant_a, None, name="无主客户")
    groups = _group_count(world.tenant_a)
    logs = _log_count(world.tenant_a.pk)
    response = login(world.rep_east).post(
        reverse(name, args=args), {"group": _default(world.tenant_a).pk}
    )
    assert response.status_code == 403
    assert _group_count(world.tenant_a) == groups
    assert _log_count(world.tenant_a.pk) == logs
    with scopes_disabled():
        assert Customer.objects.get(pk=orphan.pk).pool_group_id is None


@pytest.mark.parametrize("name", ACTIONS)
def test_group_action_refuses_get(world, login, name):
    response = login(world.admin_a).get(reverse(name, args=ACTIONS[name](world)))
    assert response.status_code == 405


def test_group_create_and_edit_forbidden_by_post_without_pool_manage(world, login):
    client = login(world.rep_east)
    default = _default(world.tenant_a)
    response = client.post(reverse("pools:group-create"), form_data(world.tenant_a))
    assert response.status_code == 403
    response = client.post(
        reverse("pools:group-edit", args=[default.pk]),
        form_data(world.tenant_a, name="被改了"),
    )
    assert response.status_code == 403
    assert _reload(default).name == default.name
    assert not _group_exists(world.tenant_a, "华东公海")


def test_settings_navigation_shows_pool_groups_only_to_pool_managers(world, login, client):
    admin_page = login(world.admin_a).get(reverse("crm:workbench")).content.decode()
    client.logout()
    rep_page = login(world.rep_east).get(reverse("crm:workbench")).content.decode()
    assert 'data-nav="pool-groups"' in admin_page
    assert 'data-nav="pool-groups"' not in rep_page


def _group_count(tenant) -> int:
    with scopes_disabled():
        return PoolGroup.objects.filter(tenant=tenant).count()


def _group_exists(tenant, name) -> bool:
    with scopes_disabled():
        return PoolGroup.objects.filter(tenant=tenant, name=name).exists()


# ---------------------------------------------------------------- another tenant


def test_other_tenants_group_is_404_for_edit_get_and_post_and_unchanged(world, login):
    foreign = _default(world.tenant_b)
    client = login(world.admin_a)
    url = reverse("pools:group-edit", args=[foreign.pk])
    assert client.get(url).status_code == 404
    response = client.post(url, form_data(world.tenant_a, name="偷改", is_enabled=None))
    assert response.status_code == 404
    after = _reload(foreign)
    assert (after.name, after.is_enabled) == (foreign.name, True)


def test_other_tenants_group_is_404_for_delete_and_survives(world, login):
    foreign = _group(world.tenant_b, "乙方公海")
    client = login(world.admin_a)
    url = reverse("pools:group-delete", args=[foreign.pk])
    # POST only: a GET answers 405 whatever the id, like for a missing group.
    missing = reverse("pools:group-delete", args=[999_999_999])
    assert client.get(url).status_code == client.get(missing).status_code == 405
    assert client.post(url).status_code == 404
    assert client.post(url, HTTP_HX_REQUEST="true").status_code == 404
    assert _group_exists(world.tenant_b, "乙方公海")


def test_initialize_refuses_another_tenants_group(world, login):
    orphan = make_customer(world.tenant_a, None, name="无主客户")
    foreign = _default(world.tenant_b)
    response = login(world.admin_a).post(reverse("pools:group-initialize"), {"group": foreign.pk})
    assert response.status_code == 302
    assert _messages(response) == [in_page("Choose a valid pool group.")]
    with scopes_disabled():
        assert Customer.objects.get(pk=orphan.pk).pool_group_id is None
        assert not Customer.objects.filter(tenant=world.tenant_b).exists()


def test_create_refuses_members_of_another_tenant_with_422(world, login):
    response = login(world.admin_a).post(
        reverse("pools:group-create"),
        form_data(
            world.tenant_a,
            users=[str(world.rep_b.pk)],
            departments=[str(world.rep_b.department_id)],
        ),
    )
    assert response.status_code == 422
    assert not _group_exists(world.tenant_a, "华东公海")


def test_form_offers_only_own_tenants_users_departments_and_levels(world, login):
    page = login(world.admin_a).get(reverse("pools:group-create")).content.decode()
    assert world.rep_east.get_full_name() in page
    assert "华东组" in page
    for level in _levels(world.tenant_a):
        assert level.label in page
    assert world.rep_b.get_full_name() not in page
    assert world.admin_b.get_full_name() not in page


# ---------------------------------------------------------------- list


def test_list_shows_groups_of_own_tenant_with_rules_and_members(world, login):
    levels = _levels(world.tenant_a)
    group = _group(
        world.tenant_a,
        "华东公海",
        recycle_no_followup_days=30,
        recycle_no_deal_days=90,
        daily_claim_limit=5,
        holding_limit=50,
        claim_mode=PoolGroup.ClaimMode.ADMIN,
    )
    with scopes_disabled():
        PoolGroupDepartment.objects.create(
            tenant=world.tenant_a, group=group, department=world.east
        )
        PoolGroupUser.objects.create(
            tenant=world.tenant_a, group=group, user=world.manager_sales, is_admin=True
        )
        PoolLevelRule.objects.create(
            tenant=world.tenant_a, group=group, level=levels[0], no_followup_days=7
        )
    _group(world.tenant_b, "乙方秘密公海")
    response = login(world.admin_a).get(reverse("pools:group-list"))
    page = response.content.decode()
    assert response.status_code == 200
    assert "华东公海" in page
    assert _default(world.tenant_a).name in page
    assert "乙方秘密公海" not in page
    assert reverse("pools:group-edit", args=[group.pk]) in page
    assert reverse("pools:group-create") in page
    assert reverse("pools:group-initialize") in page
    assert world.manager_sales.get_full_name() in page
    assert f'data-level="{levels[0].pk}"' in page
    assert escape(levels[0].label) in page
    assert in_page("Only pool admins assign customers") in page


def test_list_runs_a_fixed_number_of_queries(world, login):
    client = login(world.admin_a)
    client.get(reverse("pools:group-list"))  # warm the session and caches

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("pools:group-list")).status_code == 200
        return len(ctx.captured_queries)

    before = count()
    levels = _levels(world.tenant_a)
    for i in range(5):
        group = _group(world.tenant_a, f"公海{i}", recycle_no_followup_days=10 + i)
        with scopes_disabled():
            PoolGroupUser.objects.create(
                tenant=world.tenant_a, group=group, user=world.rep_east, is_admin=True
            )
            PoolGroupDepartment.objects.create(
                tenant=world.tenant_a, group=group, department=world.sales
            )
            PoolLevelRule.objects.create(
                tenant=world.tenant_a, group=group, level=levels[i % len(levels)], no_deal_days=9
            )
        make_customer(world.tenant_a, None, pool_group=group)
    assert count() == before


# ---------------------------------------------------------------- create / edit


def test_create_saves_every_rule_members_admins_and_level_rules(world, login):
    levels = _levels(world.tenant_a)
    data = form_data(
        world.tenant_a,
        name="  华东公海  ",
        open_to_all=None,
        sort_order="3",
        claim_mode="admin",
        daily_claim_limit="5",
        holding_limit="80",
        holding_counts_signed="on",
        cooldown_days="7",
        recycle_no_followup_days="30",
        recycle_no_deal_days="90",
        exempt_signed=None,
        exempt_with_opportunity="on",
        exempt_locked=None,
        warn_days="2",
        hidden_fields=["contact_phones", "address"],
        allow_return_elsewhere="on",
        departments=[str(world.east.pk)],
        users=[str(world.rep_west.pk)],
        admins=[str(world.manager_sales.pk)],
        **{
            "levels-0-use_own": "on",
            "levels-0-no_followup_days": "60",
            "levels-0-no_deal_days": "",
            "levels-2-use_own": "on",
            "levels-2-no_followup_days": "10",
            "levels-2-no_deal_days": "20",
        },
    )
    logs = _log_count(world.tenant_a.pk)
    response = login(world.admin_a).post(reverse("pools:group-create"), data)
    assert response.status_code == 302
    assert response.url == reverse("pools:group-list")
    assert _messages(response) == [in_page("Pool group %(name)s was saved.") % {"name": "华东公海"}]
    with scopes_disabled():
        group = PoolGroup.objects.get(tenant=world.tenant_a, name="华东公海")
        assert not group.is_default and group.is_enabled and not group.open_to_all
        assert group.sort_order == 3
        assert group.claim_mode == PoolGroup.ClaimMode.ADMIN
        assert (group.daily_claim_limit, group.holding_limit, group.cooldown_days) == (5, 80, 7)
        assert group.holding_counts_signed
        assert (group.recycle_no_followup_days, group.recycle_no_deal_days) == (30, 90)
        assert (group.exempt_signed, group.exempt_with_opportunity, group.exempt_locked) == (
            False,
            True,
            False,
        )
        assert group.warn_days == 2
        assert sorted(group.hidden_fields) == ["address", "contact_phones"]
        assert group.allow_return_elsewhere
        assert list(group.member_departments.values_list("department_id", flat=True)) == [
            world.east.pk
        ]
        members = dict(group.member_users.values_list("user_id", "is_admin"))
        assert members == {world.rep_west.pk: False, world.manager_sales.pk: True}
        rules = {r.level_id: (r.no_followup_days, r.no_deal_days) for r in group.level_rules.all()}
        assert rules == {levels[0].pk: (60, None), levels[2].pk: (10, 20)}
        assert all(r.tenant_id == world.tenant_a.pk for r in group.level_rules.all())
    assert _log_count(world.tenant_a.pk) == logs + 1


def test_edit_page_shows_current_rules_members_and_level_rules(world, login):
    levels = _levels(world.tenant_a)
    group = _group(world.tenant_a, "华东公海", recycle_no_followup_days=30)
    with scopes_disabled():
        PoolGroupUser.objects.create(
            tenant=world.tenant_a, group=group, user=world.manager_sales, is_admin=True
        )
        PoolGroupUser.objects.create(tenant=world.tenant_a, group=group, user=world.rep_east)
        PoolLevelRule.objects.create(
            tenant=world.tenant_a, group=group, level=levels[1], no_deal_days=45
        )
    response = login(world.admin_a).get(reverse("pools:group-edit", args=[group.pk]))
    form = response.context["form"]
    assert form.initial["name"] == "华东公海"
    assert form.initial["recycle_no_followup_days"] == 30
    assert sorted(form.initial["users"]) == sorted([world.manager_sales.pk, world.rep_east.pk])
    assert form.initial["admins"] == [world.manager_sales.pk]
    rows = {f.initial["level"]: f.initial for f in response.context["levels"]}
    assert rows[levels[1].pk]["use_own"] is True
    assert rows[levels[1].pk]["no_deal_days"] == 45
    assert rows[levels[0].pk]["use_own"] is False
    page = response.content.decode()
    assert 'name="levels-1-no_deal_days" value="45"' in page
    assert reverse("pools:group-delete", args=[group.pk]) in page
    with translation.override("zh-hans"):
        headings = [
            escape(translation.pgettext("pool group form", heading))
            for heading in ("Members", "Claim rules", "Recycling rules", "Hidden fields")
        ]
    for heading in headings:
        assert f"<legend>{heading}</legend>" in page


def test_edit_replaces_members_admins_and_level_rules(world, login):
    levels = _levels(world.tenant_a)
    group = _group(world.tenant_a, "华东公海")
    with scopes_disabled():
        PoolGroupUser.objects.create(
            tenant=world.tenant_a, group=group, user=world.rep_east, is_admin=True
        )
        PoolGroupDepartment.objects.create(
            tenant=world.tenant_a, group=group, department=world.east
        )
        PoolLevelRule.objects.create(
            tenant=world.tenant_a, group=group, level=levels[0], no_followup_days=5
        )
    data = form_data(
        world.tenant_a,
        name="销售部公海",
        departments=[str(world.sales.pk)],
        users=[str(world.rep_east.pk)],
        admins=[str(world.rep_west.pk)],
        **{"levels-3-use_own": "on", "levels-3-no_followup_days": "15"},
    )
    response = login(world.admin_a).post(reverse("pools:group-edit", args=[group.pk]), data)
    assert response.status_code == 302
    with scopes_disabled():
        group = PoolGroup.objects.get(pk=group.pk)
        assert group.name == "销售部公海"
        assert list(group.member_departments.values_list("department_id", flat=True)) == [
            world.sales.pk
        ]
        members = dict(group.member_users.values_list("user_id", "is_admin"))
        assert members == {world.rep_east.pk: False, world.rep_west.pk: True}
        rules = {r.level_id: (r.no_followup_days, r.no_deal_days) for r in group.level_rules.all()}
        assert rules == {levels[3].pk: (15, None)}


def test_level_row_ticked_without_days_means_never_recycled_for_that_level(world, login):
    levels = _levels(world.tenant_a)
    data = form_data(world.tenant_a, recycle_no_followup_days="30", **{"levels-0-use_own": "on"})
    response = login(world.admin_a).post(reverse("pools:group-create"), data)
    assert response.status_code == 302
    with scopes_disabled():
        group = PoolGroup.objects.get(tenant=world.tenant_a, name="华东公海")
        rules = [(r.level_id, r.no_followup_days, r.no_deal_days) for r in group.level_rules.all()]
    assert rules == [(levels[0].pk, None, None)]


def test_level_days_without_the_tick_are_refused_with_422(world, login):
    data = form_data(world.tenant_a, **{"levels-1-no_followup_days": "12"})
    response = login(world.admin_a).post(reverse("pools:group-create"), data)
    assert response.status_code == 422
    message = in_page("Tick “use own days” to apply these days to the level, or clear them.")
    assert message in response.content.decode()
    assert not _group_exists(world.tenant_a, "华东公海")


def test_level_of_another_tenant_is_refused_with_422(world, login):
    foreign = _levels(world.tenant_b)[0]
    data = form_data(
        world.tenant_a, **{"levels-0-level": str(foreign.pk), "levels-0-use_own": "on"}
    )
    response = login(world.admin_a).post(reverse("pools:group-create"), data)
    assert response.status_code == 422
    assert not _group_exists(world.tenant_a, "华东公海")


def test_create_refused_with_duplicate_name_answers_422_with_reason(world, login):
    _group(world.tenant_a, "华东公海")
    groups, logs = _group_count(world.tenant_a), _log_count(world.tenant_a.pk)
    response = login(world.admin_a).post(reverse("pools:group-create"), form_data(world.tenant_a))
    assert response.status_code == 422
    assert in_page("A pool group with this name exists already.") in response.content.decode()
    assert _group_count(world.tenant_a) == groups
    assert _log_count(world.tenant_a.pk) == logs


def test_same_name_as_another_tenants_group_is_fine(world, login):
    _group(world.tenant_b, "华东公海")
    response = login(world.admin_a).post(reverse("pools:group-create"), form_data(world.tenant_a))
    assert response.status_code == 302
    assert _group_exists(world.tenant_a, "华东公海")


def test_create_refused_without_name_answers_422(world, login):
    groups = _group_count(world.tenant_a)
    response = login(world.admin_a).post(
        reverse("pools:group-create"), form_data(world.tenant_a, name="")
    )
    assert response.status_code == 422
    assert in_page("This field is required.") in response.content.decode()
    assert _group_count(world.tenant_a) == groups


def test_negative_limit_is_refused_with_422(world, login):
    response = login(world.admin_a).post(
        reverse("pools:group-create"), form_data(world.tenant_a, daily_claim_limit="-1")
    )
    assert response.status_code == 422
    assert not _group_exists(world.tenant_a, "华东公海")


def test_disabling_the_default_group_is_refused_with_422(world, login):
    default = _default(world.tenant_a)
    logs = _log_count(world.tenant_a.pk)
    response = login(world.admin_a).post(
        reverse("pools:group-edit", args=[default.pk]),
        form_data(world.tenant_a, name=default.name, is_enabled=None, warn_days="9"),
    )
    assert response.status_code == 422
    assert in_page("The default pool group cannot be disabled.") in response.content.decode()
    after = _reload(default)
    assert after.is_enabled and after.warn_days == default.warn_days
    assert _log_count(world.tenant_a.pk) == logs


def test_default_group_edit_page_has_no_delete_button(world, login):
    default = _default(world.tenant_a)
    page = login(world.admin_a).get(reverse("pools:group-edit", args=[default.pk]))
    assert reverse("pools:group-delete", args=[default.pk]) not in page.content.decode()


def test_deactivated_member_stays_a_member_after_saving(world, login):
    group = _group(world.tenant_a, "华东公海")
    with scopes_disabled():
        PoolGroupUser.objects.create(tenant=world.tenant_a, group=group, user=world.rep_east2)
        world.rep_east2.is_active = False
        world.rep_east2.save(update_fields=["is_active"])
    client = login(world.admin_a)
    users = (
        client.get(reverse("pools:group-edit", args=[group.pk])).context["form"].initial["users"]
    )
    response = client.post(
        reverse("pools:group-edit", args=[group.pk]),
        form_data(world.tenant_a, users=[str(pk) for pk in users]),
    )
    assert response.status_code == 302
    with scopes_disabled():
        assert list(group.member_users.values_list("user_id", flat=True)) == [world.rep_east2.pk]


# ---------------------------------------------------------------- delete


def test_delete_removes_an_empty_group(world, login):
    group = _group(world.tenant_a, "待删公海")
    response = login(world.admin_a).post(reverse("pools:group-delete", args=[group.pk]))
    assert response.status_code == 302
    assert response.url == reverse("pools:group-list")
    assert _messages(response) == [
        in_page("Pool group %(name)s was deleted.") % {"name": "待删公海"}
    ]
    assert not _group_exists(world.tenant_a, "待删公海")


def test_delete_refused_for_the_default_group_with_message_on_the_list(world, login):
    default = _default(world.tenant_a)
    client = login(world.admin_a)
    response = client.post(reverse("pools:group-delete", args=[default.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("pools:group-list")
    assert in_page("The default pool group cannot be deleted.") in response.content.decode()
    assert _group_exists(world.tenant_a, default.name)


def test_delete_refused_while_customers_belong_to_the_group(world, login):
    group = _group(world.tenant_a, "有客户的公海")
    make_customer(world.tenant_a, world.rep_east, pool_group=group)
    response = login(world.admin_a).post(
        reverse("pools:group-delete", args=[group.pk]), follow=True
    )
    assert response.status_code == 200
    assert (
        in_page("%(count)d customer belongs to this group; move it to another group first.")
        % {"count": 1}
        in response.content.decode()
    )
    assert _group_exists(world.tenant_a, "有客户的公海")


# ---------------------------------------------------------------- initialise


def test_initialize_puts_groupless_customers_into_the_default_group(world, login):
    default = _default(world.tenant_a)
    other = _group(world.tenant_a, "另一个公海")
    orphan1 = make_customer(world.tenant_a, None, name="无主一")
    orphan2 = make_customer(world.tenant_a, None, name="无主二")
    owned = make_customer(world.tenant_a, world.rep_east, name="有主")
    grouped = make_customer(world.tenant_a, None, name="已有分组", pool_group=other)
    b_orphan = make_customer(world.tenant_b, None, name="乙方无主")
    client = login(world.admin_a)
    page = client.get(reverse("pools:group-list"))
    assert page.context["initialize_form"]["group"].value() == default.pk
    response = client.post(reverse("pools:group-initialize"), {"group": default.pk})
    assert response.status_code == 302
    assert response.url == reverse("pools:group-list")
    assert _messages(response) == [
        in_page(
            "Pool groups initialised into %(group)s: %(owned)d owned customers got the "
            "group, %(pooled)d ownerless customers went into its pool."
        )
        % {"group": default.name, "owned": 1, "pooled": 2}
    ]
    with scopes_disabled():
        rows = {c.pk: c for c in Customer.objects.filter(tenant=world.tenant_a)}
        for orphan in (orphan1, orphan2):
            c = rows[orphan.pk]
            assert c.pool_group_id == default.pk
            assert c.pooled_at is not None
            assert c.pool_reason == PoolReason.INITIALIZED
            assert c.owner_id is None
        assert rows[owned.pk].pool_group_id == default.pk
        assert rows[owned.pk].pooled_at is None
        assert rows[owned.pk].owner_id == world.rep_east.pk
        assert rows[grouped.pk].pool_group_id == other.pk
        assert rows[grouped.pk].pooled_at is None
        assert OwnershipEvent.objects.filter(customer_id__in=[orphan1.pk, orphan2.pk]).count() == 2
        assert Customer.objects.get(pk=b_orphan.pk).pool_group_id is None


def test_initialize_into_a_chosen_group(world, login):
    target = _group(world.tenant_a, "华东公海")
    orphan = make_customer(world.tenant_a, None, name="无主")
    response = login(world.admin_a).post(reverse("pools:group-initialize"), {"group": target.pk})
    assert response.status_code == 302
    with scopes_disabled():
        customer = Customer.objects.get(pk=orphan.pk)
    assert customer.pool_group_id == target.pk
    assert customer.pooled_at is not None


def test_initialized_customers_show_in_the_list_counts(world, login):
    default = _default(world.tenant_a)
    make_customer(world.tenant_a, None)
    make_customer(world.tenant_a, world.rep_east)
    client = login(world.admin_a)
    client.post(reverse("pools:group-initialize"), {"group": default.pk})
    groups = {g.pk: g for g in client.get(reverse("pools:group-list")).context["groups"]}
    assert (groups[default.pk].pooled_count, groups[default.pk].customer_count) == (1, 2)
