"""Option list services: add, rename/(de)activate and reorder, with every refusal asserted by
its exact code."""

from __future__ import annotations

import pytest
from django.utils.translation import gettext
from django_scopes import scopes_disabled

from crm import activity, selectors, services
from crm.exceptions import NotFoundError, PermissionRefusedError, ServiceError
from crm.models import ActivityLog, Option, OptionKind

SOURCE = OptionKind.CUSTOMER_SOURCE
DEFAULT_SOURCES = ["电话营销", "网络推广", "展会", "客户介绍", "主动来访", "广告", "其他"]


def _labels(actor, kind=SOURCE):
    return [o.label for o in selectors.option_list(actor=actor, kind=kind)]


def _option(actor, label, kind=SOURCE):
    return Option.objects.get(tenant_id=actor.tenant_id, kind=kind, label=label)


def _logs(obj, action=None):
    qs = ActivityLog.objects.for_object(obj)
    return list(qs.filter(action=action) if action else qs)


# ---------------------------------------------------------------- create


def test_new_tenant_has_default_option_lists_in_order(world, scoped):
    with scoped(world.admin_a):
        assert _labels(world.admin_a) == DEFAULT_SOURCES
        for kind in OptionKind.values:
            assert _labels(world.admin_a, kind), kind


def test_option_create_appends_at_end_of_its_list(world, scoped):
    with scoped(world.admin_a):
        option = services.option_create(actor=world.admin_a, kind=SOURCE, label="  抖音  ")
        labels = _labels(world.admin_a)
        industry = _labels(world.admin_a, OptionKind.INDUSTRY)
    assert option.label == "抖音"
    assert option.tenant_id == world.tenant_a.pk
    assert option.is_active
    assert option.sort_order == len(DEFAULT_SOURCES)
    assert labels == [*DEFAULT_SOURCES, "抖音"]
    assert "抖音" not in industry


def test_option_create_in_empty_list_starts_at_zero(world, scoped):
    with scoped(world.admin_a):
        Option.objects.filter(tenant_id=world.tenant_a.pk, kind=OptionKind.ORDER_TYPE).delete()
        option = services.option_create(
            actor=world.admin_a, kind=OptionKind.ORDER_TYPE, label="整车"
        )
    assert option.sort_order == 0


def test_option_create_writes_activity(world, scoped):
    with scoped(world.admin_a):
        option = services.option_create(actor=world.admin_a, kind=SOURCE, label="抖音")
        [entry] = _logs(option)
    assert entry.action == activity.OPTION_CREATED
    assert entry.actor_id == world.admin_a.pk
    assert entry.object_repr == "抖音"


def test_option_create_does_not_touch_other_tenant(world, scoped):
    with scoped(world.admin_a):
        services.option_create(actor=world.admin_a, kind=SOURCE, label="抖音")
    with scoped(world.admin_b):
        assert _labels(world.admin_b) == DEFAULT_SOURCES


def test_option_create_allows_label_used_in_another_list(world, scoped):
    # "其他" is in the source list already; uniqueness is per list.
    with scoped(world.admin_a):
        option = services.option_create(
            actor=world.admin_a, kind=OptionKind.CUSTOMER_LEVEL, label="其他"
        )
    assert option.kind == OptionKind.CUSTOMER_LEVEL


def test_option_create_allows_label_used_in_other_tenant(world, scoped):
    with scoped(world.admin_b):
        services.option_create(actor=world.admin_b, kind=SOURCE, label="抖音")
    with scoped(world.admin_a):
        option = services.option_create(actor=world.admin_a, kind=SOURCE, label="抖音")
    assert option.tenant_id == world.tenant_a.pk


def test_option_create_refused_for_duplicate_label(world, scoped):
    with scoped(world.admin_a):
        with pytest.raises(ServiceError) as exc:
            services.option_create(actor=world.admin_a, kind=SOURCE, label=" 展会 ")
        assert _labels(world.admin_a) == DEFAULT_SOURCES
        assert not ActivityLog.objects.filter(action=activity.OPTION_CREATED).exists()
    assert exc.value.code == "duplicate"


@pytest.mark.parametrize("label", ["", "   ", None])
def test_option_create_refused_for_empty_label(world, scoped, label):
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.option_create(actor=world.admin_a, kind=SOURCE, label=label)
    assert exc.value.code == "required"


def test_option_create_refused_for_label_over_50_characters(world, scoped):
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.option_create(actor=world.admin_a, kind=SOURCE, label="长" * 51)
    assert exc.value.code == "too_long"


@pytest.mark.parametrize("kind", ["planet", "", "CUSTOMER_SOURCE"])
def test_option_create_refused_for_unknown_kind(world, scoped, kind):
    with scoped(world.admin_a):
        before = Option.objects.count()
        with pytest.raises(ServiceError) as exc:
            services.option_create(actor=world.admin_a, kind=kind, label="抖音")
        assert Option.objects.count() == before
    assert exc.value.code == "kind"


@pytest.mark.parametrize("persona", ["rep_east", "manager_sales"])
def test_option_create_refused_without_settings_manage(world, scoped, persona):
    actor = getattr(world, persona)
    with scoped(actor):
        with pytest.raises(PermissionRefusedError) as exc:
            services.option_create(actor=actor, kind=SOURCE, label="抖音")
        assert _labels(actor) == DEFAULT_SOURCES
    assert exc.value.code == "permission"


# ---------------------------------------------------------------- update


def test_option_update_renames_and_logs(world, scoped):
    with scoped(world.admin_a):
        option = _option(world.admin_a, "广告")
        services.option_update(actor=world.admin_a, option=option, label="户外广告", is_active=True)
        option = Option.objects.get(pk=option.pk)
        [entry] = _logs(option)
    assert option.label == "户外广告"
    assert entry.action == activity.OPTION_UPDATED
    assert entry.actor_id == world.admin_a.pk
    assert entry.changes == {"label": ["广告", "户外广告"]}


def test_option_update_deactivates_and_logs(world, scoped):
    with scoped(world.admin_a):
        option = _option(world.admin_a, "广告")
        services.option_update(actor=world.admin_a, option=option, label="广告", is_active=False)
        option = Option.objects.get(pk=option.pk)
        [entry] = _logs(option)
        offered = [o.label for o in selectors.options_for(tenant_id=world.tenant_a.pk, kind=SOURCE)]
        with_current = [
            o.label
            for o in selectors.options_for(tenant_id=world.tenant_a.pk, kind=SOURCE, include=option)
        ]
    assert not option.is_active
    assert entry.changes == {"is_active": [gettext("Yes"), gettext("No")]}
    # A deactivated option is no longer offered, except to a record that already has it.
    assert "广告" not in offered
    assert "广告" in with_current
    assert option.sort_order == DEFAULT_SOURCES.index("广告")  # kept its place


def test_option_update_without_changes_writes_no_activity(world, scoped):
    with scoped(world.admin_a):
        option = _option(world.admin_a, "广告")
        services.option_update(actor=world.admin_a, option=option, label=" 广告 ", is_active=True)
        assert _logs(option) == []


def test_option_update_refused_for_label_of_sibling(world, scoped):
    with scoped(world.admin_a):
        option = _option(world.admin_a, "广告")
        with pytest.raises(ServiceError) as exc:
            services.option_update(actor=world.admin_a, option=option, label="展会", is_active=True)
        assert Option.objects.get(pk=option.pk).label == "广告"
    assert exc.value.code == "duplicate"


def test_option_update_refused_for_empty_label(world, scoped):
    with scoped(world.admin_a):
        option = _option(world.admin_a, "广告")
        with pytest.raises(ServiceError) as exc:
            services.option_update(actor=world.admin_a, option=option, label="  ", is_active=False)
        fresh = Option.objects.get(pk=option.pk)
    assert exc.value.code == "required"
    assert (fresh.label, fresh.is_active) == ("广告", True)


def test_option_update_refused_for_other_tenants_option(world, scoped):
    with scoped(world.admin_b):
        b_option = _option(world.admin_b, "广告")
    with scoped(world.admin_a), pytest.raises(NotFoundError) as exc:
        services.option_update(
            actor=world.admin_a, option=b_option, label="被改了", is_active=False
        )
    assert exc.value.code == "not_found"
    b_option.refresh_from_db()
    assert (b_option.label, b_option.is_active) == ("广告", True)


def test_option_update_refused_without_settings_manage(world, scoped):
    with scoped(world.rep_east):
        option = _option(world.rep_east, "广告")
        with pytest.raises(PermissionRefusedError) as exc:
            services.option_update(
                actor=world.rep_east, option=option, label="户外广告", is_active=True
            )
    assert exc.value.code == "permission"


# ---------------------------------------------------------------- move


def test_option_move_up_swaps_with_previous(world, scoped):
    with scoped(world.admin_a):
        services.option_move(actor=world.admin_a, option=_option(world.admin_a, "展会"), offset=-1)
        labels = _labels(world.admin_a)
        orders = [o.sort_order for o in selectors.option_list(actor=world.admin_a, kind=SOURCE)]
    assert labels == ["电话营销", "展会", "网络推广", "客户介绍", "主动来访", "广告", "其他"]
    assert orders == list(range(len(DEFAULT_SOURCES)))


def test_option_move_down_swaps_with_next(world, scoped):
    with scoped(world.admin_a):
        services.option_move(
            actor=world.admin_a, option=_option(world.admin_a, "电话营销"), offset=1
        )
        labels = _labels(world.admin_a)
    assert labels == ["网络推广", "电话营销", "展会", "客户介绍", "主动来访", "广告", "其他"]


def test_option_move_logs_old_and_new_position(world, scoped):
    with scoped(world.admin_a):
        option = _option(world.admin_a, "展会")
        services.option_move(actor=world.admin_a, option=option, offset=-1)
        [entry] = _logs(option)
    assert entry.action == activity.OPTION_UPDATED
    assert entry.actor_id == world.admin_a.pk
    assert entry.changes == {"sort_order": ["3", "2"]}


def test_option_move_up_of_first_changes_nothing(world, scoped):
    with scoped(world.admin_a):
        option = _option(world.admin_a, "电话营销")
        services.option_move(actor=world.admin_a, option=option, offset=-1)
        assert _labels(world.admin_a) == DEFAULT_SOURCES
        assert _logs(option) == []


def test_option_move_down_of_last_changes_nothing(world, scoped):
    with scoped(world.admin_a):
        option = _option(world.admin_a, "其他")
        services.option_move(actor=world.admin_a, option=option, offset=1)
        assert _labels(world.admin_a) == DEFAULT_SOURCES
        assert _logs(option) == []


def test_option_move_repairs_gaps_and_ties_in_sort_order(world, scoped):
    with scoped(world.admin_a):
        Option.objects.filter(tenant_id=world.tenant_a.pk, kind=SOURCE).update(sort_order=5)
        # Ties are broken by id, so the list still reads in creation order.
        assert _labels(world.admin_a) == DEFAULT_SOURCES
        services.option_move(actor=world.admin_a, option=_option(world.admin_a, "广告"), offset=1)
        options = list(selectors.option_list(actor=world.admin_a, kind=SOURCE))
    assert [o.label for o in options] == [
        "电话营销",
        "网络推广",
        "展会",
        "客户介绍",
        "主动来访",
        "其他",
        "广告",
    ]
    assert [o.sort_order for o in options] == list(range(len(DEFAULT_SOURCES)))


def test_option_move_leaves_other_lists_and_tenants_alone(world, scoped):
    with scoped(world.admin_a):
        industry_before = _labels(world.admin_a, OptionKind.INDUSTRY)
        services.option_move(actor=world.admin_a, option=_option(world.admin_a, "其他"), offset=-1)
        assert _labels(world.admin_a, OptionKind.INDUSTRY) == industry_before
    with scoped(world.admin_b):
        assert _labels(world.admin_b) == DEFAULT_SOURCES


def test_option_create_after_move_goes_to_the_end(world, scoped):
    with scoped(world.admin_a):
        services.option_move(actor=world.admin_a, option=_option(world.admin_a, "其他"), offset=-1)
        services.option_create(actor=world.admin_a, kind=SOURCE, label="抖音")
        assert _labels(world.admin_a)[-1] == "抖音"


def test_option_move_refused_for_other_tenants_option(world, scoped):
    with scoped(world.admin_b):
        b_option = _option(world.admin_b, "展会")
    with scoped(world.admin_a), pytest.raises(NotFoundError) as exc:
        services.option_move(actor=world.admin_a, option=b_option, offset=-1)
    assert exc.value.code == "not_found"
    with scoped(world.admin_b):
        assert _labels(world.admin_b) == DEFAULT_SOURCES


def test_option_move_refused_without_settings_manage(world, scoped):
    with scoped(world.rep_east):
        with pytest.raises(PermissionRefusedError) as exc:
            services.option_move(
                actor=world.rep_east, option=_option(world.rep_east, "展会"), offset=-1
            )
        assert _labels(world.rep_east) == DEFAULT_SOURCES
    assert exc.value.code == "permission"


def test_option_page_refuses_an_unknown_list(world, login):
    from django.urls import reverse

    client = login(world.admin_a)
    url = reverse("crm:option-list")
    assert client.get(url + "?kind=nope").status_code == 404
    with scopes_disabled():
        before = Option.objects.filter(tenant=world.tenant_a).count()
    assert client.post(url, {"kind": "nope", "label": "x"}).status_code == 404
    with scopes_disabled():
        assert Option.objects.filter(tenant=world.tenant_a).count() == before


def test_failed_option_edit_under_htmx_shows_the_error_with_422(world, login):
    from django.urls import reverse

    client = login(world.admin_a)
    with scopes_disabled():
        first, second = Option.objects.filter(tenant=world.tenant_a, kind="industry").order_by(
            "sort_order"
        )[:2]
    response = client.post(
        reverse("crm:option-edit", args=[second.pk]),
        {"label": first.label, "is_active": "on"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    page = response.content.decode()
    assert 'id="options"' in page and 'class="alert alert-error"' in page
    with scopes_disabled():
        second.refresh_from_db()
    assert second.label != first.label


def test_the_follow_up_types_the_reports_rely_on_keep_their_code_when_renamed(world):
    """拜访 and 电话 (the visit and phone statistics) are known by code, not by label."""
    from crm.tenancy import tenant_scope

    with scopes_disabled():
        codes = dict(
            Option.objects.filter(tenant=world.tenant_a, kind="followup_type")
            .exclude(code="")
            .values_list("code", "label")
        )
        assert codes == {"phone": "电话", "visit": "拜访"}
        visit = Option.objects.get(tenant=world.tenant_a, kind="followup_type", code="visit")
    with tenant_scope(world.tenant_a.pk):
        services.option_update(actor=world.admin_a, option=visit, label="上门拜访", is_active=True)
    visit.refresh_from_db()
    assert (visit.label, visit.code) == ("上门拜访", "visit")
