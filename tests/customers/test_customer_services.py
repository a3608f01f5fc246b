"""Customer services: create, update, transfer, participants, star, tags, status, lock and
lifecycle, each for what it does and for every refusal, asserted by its exact code."""

from __future__ import annotations

import pytest
from django.utils import timezone
from django_scopes import scopes_disabled

from crm.exceptions import NotFoundError, PermissionRefusedError, ServiceError
from crm.models import OptionKind
from crm.visibility import visible_to
from customers import activity_actions as actions
from customers import hooks, selectors, services
from customers.models import Contact, Customer, CustomerParticipant, CustomerStar, OwnershipEvent
from customers.services import DuplicateCustomerError, customer_can_edit
from tests.customers.factories import (
    events,
    exists,
    fresh,
    logs,
    make_contact,
    make_customer,
    make_participant,
    make_star,
    make_tag,
    notifications,
    option,
    tag_customer,
)
from tests.factories import make_user

CHANGE = "customers.change_customer"


def _create(actor, name="新客户", **kwargs):
    return services.customer_create(actor=actor, data={"name": name}, **kwargs)


def _customer_count(tenant):
    with scopes_disabled():
        return Customer.objects.filter(tenant=tenant).count()


def _tag_names(customer):
    with scopes_disabled():
        return sorted(customer.tags.values_list("name", flat=True))


@pytest.fixture
def related_transfers():
    """Calls of a temporary hooks.register_related_transfer hook, removed afterwards."""
    calls = []

    def hook(*, actor, customers, to_user):
        calls.append((actor, [c.pk for c in customers], to_user))

    hooks.register_related_transfer(hook)
    try:
        yield calls
    finally:
        hooks._RELATED_TRANSFERS.remove(hook)


# ---------------------------------------------------------------- customer_create


def test_customer_create_owner_defaults_to_actor(world, scoped):
    with scoped(world.rep_east):
        customer = services.customer_create(
            actor=world.rep_east, data={"name": "  华东机械  ", "remark": "老客户介绍"}
        )
    customer = fresh(customer)
    assert customer.tenant_id == world.tenant_a.pk
    assert customer.name == "华东机械"
    assert customer.remark == "老客户介绍"
    assert customer.owner_id == customer.created_by_id == customer.updated_by_id
    assert customer.owner_id == world.rep_east.pk
    assert customer.lifecycle == Customer.Lifecycle.DEVELOPMENT
    assert customer.name_normalized == "华东机械"


def test_customer_create_with_owner_none_leaves_it_unassigned(world, scoped):
    with scoped(world.admin_a):
        customer = _create(world.admin_a, owner=None)
    assert fresh(customer).owner_id is None
    [event] = events(customer)
    assert (event.kind, event.to_user_id) == (OwnershipEvent.Kind.CREATED, None)


def test_customer_create_for_another_owner(world, scoped):
    with scoped(world.manager_sales):
        customer = _create(world.manager_sales, owner=world.rep_west)
    customer = fresh(customer)
    assert customer.owner_id == world.rep_west.pk
    assert customer.created_by_id == world.manager_sales.pk


def test_customer_create_ignores_keys_that_are_not_customer_fields(world, scoped):
    with scoped(world.rep_east):
        customer = services.customer_create(
            actor=world.rep_east,
            data={
                "name": "字段客户",
                "owner": world.rep_west,
                "is_locked": True,
                "lifecycle": Customer.Lifecycle.SIGNED,
                "tenant": world.tenant_b,
            },
        )
    customer = fresh(customer)
    assert customer.owner_id == world.rep_east.pk
    assert customer.tenant_id == world.tenant_a.pk
    assert not customer.is_locked
    assert customer.lifecycle == Customer.Lifecycle.DEVELOPMENT


def test_customer_create_writes_created_ownership_event(world, scoped):
    with scoped(world.manager_sales):
        customer = _create(world.manager_sales, owner=world.rep_east)
    [event] = events(customer)
    assert event.kind == OwnershipEvent.Kind.CREATED
    assert event.from_user_id is None
    assert event.to_user_id == world.rep_east.pk
    assert event.actor_id == world.manager_sales.pk
    assert event.tenant_id == world.tenant_a.pk


def test_customer_create_logs_activity(world, scoped):
    with scoped(world.rep_east):
        customer = _create(world.rep_east)
    [entry] = logs(customer)
    assert entry.action == actions.CUSTOMER_CREATED
    assert entry.actor_id == world.rep_east.pk
    assert entry.object_repr == "新客户"


@pytest.mark.parametrize("typed", ["+86 138-0013-8000", "１３８００１３８０００", "13800138000"])
def test_customer_create_first_contact_with_mobile(world, scoped, typed):
    with scoped(world.rep_east):
        customer = _create(world.rep_east, contact_name=" 张经理 ", contact_phone=typed)
        [contact] = Contact.objects.filter(customer=customer)
    assert (contact.name, contact.mobile, contact.phone) == ("张经理", "13800138000", "")
    assert contact.tenant_id == world.tenant_a.pk
    assert contact.created_by_id == world.rep_east.pk


def test_customer_create_first_contact_with_landline_goes_to_phone(world, scoped):
    with scoped(world.rep_east):
        customer = _create(world.rep_east, contact_name="王会计", contact_phone="010-12345678")
        [contact] = Contact.objects.filter(customer=customer)
    assert (contact.mobile, contact.phone) == ("", "010-12345678")


def test_customer_create_contact_name_alone_creates_contact_without_numbers(world, scoped):
    with scoped(world.rep_east):
        customer = _create(world.rep_east, contact_name="李总")
        [contact] = Contact.objects.filter(customer=customer)
    assert (contact.name, contact.mobile, contact.phone) == ("李总", "", "")


def test_customer_create_without_contact_details_creates_no_contact(world, scoped):
    with scoped(world.rep_east):
        customer = _create(world.rep_east)
        assert not Contact.objects.filter(customer=customer).exists()


def test_customer_create_refused_for_phone_without_contact_name(world, scoped):
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        _create(world.rep_east, contact_name="  ", contact_phone="13800138000")
    assert exc.value.code == "contact_name"
    assert _customer_count(world.tenant_a) == 0


@pytest.mark.parametrize("phone", ["12345", "138001380001", "电话"])
def test_customer_create_refused_for_invalid_phone(world, scoped, phone):
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        _create(world.rep_east, contact_name="张经理", contact_phone=phone)
    assert exc.value.code == "invalid_phone"
    assert _customer_count(world.tenant_a) == 0


@pytest.mark.parametrize("data", [{}, {"name": ""}, {"name": "   "}, {"name": None}])
def test_customer_create_refused_without_name(world, scoped, data):
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.customer_create(actor=world.rep_east, data=data)
    assert exc.value.code == "required"
    assert _customer_count(world.tenant_a) == 0


@pytest.mark.parametrize(
    ("existing", "typed"),
    [
        ("Ａ公司（上海）", "a公司上海"),
        ("a公司上海", "Ａ公司（上海）"),
        ("华东 机械-有限公司", "华东机械有限公司"),
    ],
)
def test_customer_create_refused_for_duplicate_normalised_name(world, scoped, existing, typed):
    other = make_customer(world.tenant_a, world.rep_west, existing)
    with scoped(world.rep_east), pytest.raises(DuplicateCustomerError) as exc:
        _create(world.rep_east, typed)
    assert exc.value.code == "duplicate"
    assert [c.pk for c in exc.value.matches] == [other.pk]
    # SECURITY (issue 15): the message names no match (rep_east may not open rep_west's).
    assert existing not in str(exc.value.message)
    assert _customer_count(world.tenant_a) == 1


@pytest.mark.parametrize(
    ("field", "stored", "typed"),
    [
        ("mobile", "13800138000", "+86 138 0013 8000"),
        ("phone", "13800138000", "13800138000"),
        ("phone", "010-12345678", "010-12345678"),
    ],
)
def test_customer_create_refused_for_duplicate_contact_phone(world, scoped, field, stored, typed):
    other = make_customer(world.tenant_a, None, "完全不同的名字")
    make_contact(other, "老联系人", **{field: stored})
    with scoped(world.rep_east), pytest.raises(DuplicateCustomerError) as exc:
        _create(world.rep_east, "新名字", contact_name="张三", contact_phone=typed)
    assert exc.value.code == "duplicate"
    assert [c.pk for c in exc.value.matches] == [other.pk]
    assert _customer_count(world.tenant_a) == 1


def test_customer_create_duplicates_include_invisible_and_pool_customers(world, scoped):
    invisible = make_customer(world.tenant_a, world.service_a, "售后客户")
    pool = make_customer(world.tenant_a, None, "公海客户")
    make_contact(pool, mobile="13900139000")
    with scoped(world.rep_east):
        with pytest.raises(DuplicateCustomerError) as exc:
            _create(world.rep_east, "售后客户")
        assert exc.value.matches == [invisible]
        with pytest.raises(DuplicateCustomerError) as exc:
            _create(world.rep_east, "别的", contact_name="甲", contact_phone="13900139000")
        assert exc.value.matches == [pool]


def test_customer_create_ignores_other_tenant_and_recycle_bin_as_duplicates(world, scoped):
    make_customer(world.tenant_b, world.rep_b, "同名客户")
    make_customer(world.tenant_a, world.rep_east, "同名客户", deleted_at=timezone.now())
    with scoped(world.rep_east):
        customer = _create(world.rep_east, "同名客户")
    assert fresh(customer).owner_id == world.rep_east.pk


def test_customer_create_with_confirmed_duplicates_saves(world, scoped):
    make_customer(world.tenant_a, world.rep_west, "Ａ公司（上海）")
    with scoped(world.rep_east):
        customer = _create(world.rep_east, "a公司上海", confirm_duplicates=True)
    assert fresh(customer).name == "a公司上海"
    assert _customer_count(world.tenant_a) == 2


@pytest.mark.parametrize(
    ("field", "wrong_kind"),
    [
        ("level", OptionKind.CUSTOMER_SOURCE),
        ("source", OptionKind.CUSTOMER_LEVEL),
        ("status", OptionKind.INDUSTRY),
        ("industry", OptionKind.FOLLOWUP_TYPE),
    ],
)
def test_customer_create_refused_for_option_of_wrong_kind(world, scoped, field, wrong_kind):
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.customer_create(
            actor=world.rep_east,
            data={"name": "选项客户", field: option(world.tenant_a, wrong_kind)},
        )
    assert exc.value.code == "option"
    assert _customer_count(world.tenant_a) == 0


def test_customer_create_with_options_of_right_kind(world, scoped):
    level = option(world.tenant_a, OptionKind.CUSTOMER_LEVEL)
    source = option(world.tenant_a, OptionKind.CUSTOMER_SOURCE)
    with scoped(world.rep_east):
        customer = services.customer_create(
            actor=world.rep_east, data={"name": "选项客户", "level": level, "source": source}
        )
    customer = fresh(customer)
    assert (customer.level_id, customer.source_id) == (level.pk, source.pk)


def test_customer_create_refused_for_option_of_other_tenant(world, scoped):
    foreign = option(world.tenant_b, OptionKind.CUSTOMER_LEVEL)
    with scoped(world.rep_east), pytest.raises(NotFoundError) as exc:
        services.customer_create(actor=world.rep_east, data={"name": "甲", "level": foreign})
    assert exc.value.code == "not_found"
    assert _customer_count(world.tenant_a) == 0


def test_customer_create_refused_for_referrer_of_other_tenant(world, scoped):
    with scoped(world.rep_east), pytest.raises(NotFoundError) as exc:
        services.customer_create(actor=world.rep_east, data={"name": "甲", "referrer": world.rep_b})
    assert exc.value.code == "not_found"


def test_customer_create_refused_for_owner_of_other_tenant(world, scoped):
    with scoped(world.admin_a), pytest.raises(NotFoundError) as exc:
        _create(world.admin_a, owner=world.rep_b)
    assert exc.value.code == "not_found"
    assert _customer_count(world.tenant_a) == 0


def test_customer_create_refused_for_deactivated_owner(world, scoped):
    gone = make_user(world.tenant_a, "rep_gone", department=world.east, is_active=False)
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        _create(world.admin_a, owner=gone)
    assert exc.value.code == "inactive"
    assert _customer_count(world.tenant_a) == 0


def test_customer_create_sets_tags(world, scoped):
    key, big = make_tag(world.tenant_a, "重点"), make_tag(world.tenant_a, "大客户")
    with scoped(world.rep_east):
        customer = _create(world.rep_east, tags=[key, big])
    assert _tag_names(customer) == ["大客户", "重点"]


def test_customer_create_refused_for_tag_of_other_tenant(world, scoped):
    foreign = make_tag(world.tenant_b, "重点")
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        _create(world.rep_east, tags=[foreign])
    assert exc.value.code == "not_found"
    assert _customer_count(world.tenant_a) == 0


# ---------------------------------------------------------------- customer_update


def test_customer_update_changes_fields_and_logs_the_differences(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "旧名", remark="")
    level = option(world.tenant_a, OptionKind.CUSTOMER_LEVEL)
    with scoped(world.rep_east):
        services.customer_update(
            actor=world.rep_east,
            customer=customer,
            data={"name": "新名", "remark": "备注", "level": level, "province": "浙江"},
        )
    customer = fresh(customer)
    assert (customer.name, customer.name_normalized, customer.remark) == ("新名", "新名", "备注")
    assert customer.level_id == level.pk
    assert customer.updated_by_id == world.rep_east.pk
    [entry] = logs(customer, actions.CUSTOMER_UPDATED)
    assert entry.changes == {
        "name": ["旧名", "新名"],
        "remark": ["", "备注"],
        "level": ["", level.label],
        "province": ["", "浙江"],
    }


def test_customer_update_without_changes_writes_no_activity(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "不变", remark="同")
    with scoped(world.rep_east):
        services.customer_update(
            actor=world.rep_east, customer=customer, data={"name": "不变", "remark": "同"}
        )
    assert logs(customer) == []


def test_customer_update_cannot_change_owner_or_lock_through_data(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    with scoped(world.rep_east):
        services.customer_update(
            actor=world.rep_east,
            customer=customer,
            data={"owner": world.rep_west, "is_locked": True, "deleted_at": timezone.now()},
        )
    customer = fresh(customer)
    assert customer.owner_id == world.rep_east.pk
    assert not customer.is_locked
    assert customer.deleted_at is None


def test_customer_update_records_tag_changes(world, scoped):
    old, new = make_tag(world.tenant_a, "老"), make_tag(world.tenant_a, "新")
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    tag_customer(customer, old)
    with scoped(world.rep_east):
        services.customer_update(
            actor=world.rep_east, customer=customer, data={"name": "甲"}, tags=[old, new]
        )
    assert _tag_names(customer) == ["新", "老"]
    [entry] = logs(customer, actions.CUSTOMER_UPDATED)
    assert entry.changes == {"tags": ["老", "新、老"]}


def test_customer_update_leaves_tags_alone_when_not_given(world, scoped):
    tag = make_tag(world.tenant_a, "重点")
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    tag_customer(customer, tag)
    with scoped(world.rep_east):
        services.customer_update(actor=world.rep_east, customer=customer, data={"remark": "x"})
    assert _tag_names(customer) == ["重点"]
    assert "tags" not in logs(customer)[0].changes


def test_customer_update_refused_for_duplicate_name(world, scoped):
    other = make_customer(world.tenant_a, world.service_a, "Ａ公司（上海）")
    customer = make_customer(world.tenant_a, world.rep_east, "乙公司")
    with scoped(world.rep_east), pytest.raises(DuplicateCustomerError) as exc:
        services.customer_update(
            actor=world.rep_east, customer=customer, data={"name": "a公司上海"}
        )
    assert exc.value.code == "duplicate"
    assert exc.value.matches == [other]
    assert fresh(customer).name == "乙公司"


def test_customer_update_renames_to_duplicate_when_confirmed(world, scoped):
    make_customer(world.tenant_a, world.service_a, "Ａ公司（上海）")
    customer = make_customer(world.tenant_a, world.rep_east, "乙公司")
    with scoped(world.rep_east):
        services.customer_update(
            actor=world.rep_east,
            customer=customer,
            data={"name": "a公司上海"},
            confirm_duplicates=True,
        )
    assert fresh(customer).name == "a公司上海"


def test_customer_update_keeping_own_name_is_no_duplicate(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "Ａ公司（上海）")
    with scoped(world.rep_east):
        services.customer_update(
            actor=world.rep_east, customer=customer, data={"name": "a公司 上海", "remark": "r"}
        )
    assert fresh(customer).name == "a公司 上海"


@pytest.mark.parametrize("name", ["", "   "])
def test_customer_update_refused_for_empty_name(world, scoped, name):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.customer_update(actor=world.rep_east, customer=customer, data={"name": name})
    assert exc.value.code == "required"
    assert fresh(customer).name == "甲"


def test_customer_update_refused_for_option_of_wrong_kind(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    wrong = option(world.tenant_a, OptionKind.CUSTOMER_SOURCE)
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.customer_update(actor=world.rep_east, customer=customer, data={"level": wrong})
    assert exc.value.code == "option"
    assert fresh(customer).level_id is None


def test_customer_update_refused_for_customer_of_other_tenant(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    with scoped(world.admin_b), pytest.raises(NotFoundError) as exc:
        services.customer_update(actor=world.admin_b, customer=customer, data={"remark": "x"})
    assert exc.value.code == "not_found"
    assert fresh(customer).remark == ""


def test_customer_update_refused_for_customer_in_recycle_bin(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "甲", deleted_at=timezone.now())
    with scoped(world.rep_east), pytest.raises(PermissionRefusedError) as exc:
        services.customer_update(actor=world.rep_east, customer=customer, data={"remark": "x"})
    assert exc.value.code == "permission"


def _editors(world, customer):
    make_participant(customer, world.rep_east2, can_edit=True)
    make_participant(customer, world.service_a)  # read only


@pytest.mark.parametrize(
    ("persona", "allowed"),
    [
        ("rep_east", True),  # owner
        ("rep_east2", True),  # participant with the edit grant
        ("service_a", False),  # read-only participant
        ("manager_sales", False),  # the owner's manager
        ("admin_a", False),  # scope "all"
        ("rep_west", False),  # peer, does not even see it
    ],
)
def test_customer_update_on_locked_customer(world, scoped, persona, allowed):
    customer = make_customer(world.tenant_a, world.rep_east, "锁定客户", is_locked=True)
    _editors(world, customer)
    actor = getattr(world, persona)
    with scoped(actor):
        assert customer_can_edit(actor, customer) is allowed
        if allowed:
            services.customer_update(actor=actor, customer=customer, data={"remark": persona})
        else:
            with pytest.raises(PermissionRefusedError) as exc:
                services.customer_update(actor=actor, customer=customer, data={"remark": "x"})
            assert exc.value.code == "permission"
    assert fresh(customer).remark == (persona if allowed else "")


@pytest.mark.parametrize(
    ("persona", "allowed"),
    [
        ("rep_east", True),
        ("rep_east2", True),
        ("service_a", False),
        ("manager_sales", True),
        ("admin_a", True),
        ("rep_west", False),
    ],
)
def test_customer_update_on_unlocked_customer(world, scoped, persona, allowed):
    customer = make_customer(world.tenant_a, world.rep_east, "普通客户")
    _editors(world, customer)
    actor = getattr(world, persona)
    with scoped(actor):
        assert customer_can_edit(actor, customer) is allowed
        if allowed:
            services.customer_update(actor=actor, customer=customer, data={"remark": persona})
        else:
            with pytest.raises(PermissionRefusedError):
                services.customer_update(actor=actor, customer=customer, data={"remark": "x"})
    assert fresh(customer).remark == (persona if allowed else "")


def test_customer_update_refused_for_member_who_only_sees_a_public_customer(world, scoped):
    customer = make_customer(
        world.tenant_a, world.rep_east, "公开客户", visibility=Customer.Visibility.PUBLIC
    )
    with scoped(world.rep_west):
        assert selectors.customer_base(actor=world.rep_west).filter(pk=customer.pk).exists()
        with pytest.raises(PermissionRefusedError):
            services.customer_update(actor=world.rep_west, customer=customer, data={"remark": "x"})


def test_customer_can_edit_is_false_for_deactivated_owner(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    world.rep_east.is_active = False
    with scoped(world.rep_east):
        assert not customer_can_edit(world.rep_east, customer)


# ---------------------------------------------------------------- customer_transfer


def test_customer_transfer_moves_owner_with_events_and_activity(world, scoped):
    one = make_customer(world.tenant_a, world.rep_east, "一")
    two = make_customer(world.tenant_a, world.rep_east2, "二")
    with scoped(world.manager_sales):
        found = services.customer_transfer(
            actor=world.manager_sales, customers=[one, two.pk], to_user=world.rep_west, note="调岗"
        )
    assert {c.pk for c in found} == {one.pk, two.pk}
    for customer, previous in ((one, world.rep_east), (two, world.rep_east2)):
        row = fresh(customer)
        assert row.owner_id == world.rep_west.pk
        assert row.updated_by_id == world.manager_sales.pk
        [event] = events(customer, OwnershipEvent.Kind.TRANSFERRED)
        assert (event.from_user_id, event.to_user_id, event.actor_id, event.note) == (
            previous.pk,
            world.rep_west.pk,
            world.manager_sales.pk,
            "调岗",
        )
        [entry] = logs(customer, actions.CUSTOMER_TRANSFERRED)
        assert entry.changes == {"owner": [str(previous), str(world.rep_west)]}
        assert entry.note == "调岗"


def test_customer_transfer_notifies_new_owner_once_per_batch(world, scoped):
    customers = [make_customer(world.tenant_a, world.rep_east, f"客户{i}") for i in range(3)]
    with scoped(world.manager_sales):
        services.customer_transfer(
            actor=world.manager_sales, customers=customers, to_user=world.rep_west
        )
    [note] = notifications(world.rep_west)
    assert "3" in note.title
    assert note.link == "/customers/"
    assert notifications(world.rep_east) == []


def test_customer_transfer_of_one_customer_links_to_it(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "一")
    with scoped(world.manager_sales):
        services.customer_transfer(
            actor=world.manager_sales, customers=[customer], to_user=world.rep_west
        )
    [note] = notifications(world.rep_west)
    assert note.link == f"/customers/{customer.pk}/"


def test_customer_transfer_to_self_sends_no_notification(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "一")
    with scoped(world.admin_a):
        services.customer_transfer(actor=world.admin_a, customers=[customer], to_user=world.admin_a)
    assert fresh(customer).owner_id == world.admin_a.pk
    assert notifications(world.admin_a) == []


def test_customer_transfer_skips_customers_the_new_owner_already_has(world, scoped):
    theirs = make_customer(world.tenant_a, world.rep_west, "已是")
    mine = make_customer(world.tenant_a, world.rep_east, "转移")
    with scoped(world.manager_sales):
        services.customer_transfer(
            actor=world.manager_sales, customers=[theirs, mine], to_user=world.rep_west
        )
    assert events(theirs, OwnershipEvent.Kind.TRANSFERRED) == []
    assert logs(theirs, actions.CUSTOMER_TRANSFERRED) == []
    assert len(events(mine, OwnershipEvent.Kind.TRANSFERRED)) == 1
    [note] = notifications(world.rep_west)
    assert "1" in note.title


@pytest.mark.parametrize("persona", ["rep_east", "service_a"])
def test_customer_transfer_refused_without_transfer_permission(world, scoped, persona):
    actor = getattr(world, persona)
    customer = make_customer(world.tenant_a, actor, "自己的")
    with scoped(actor), pytest.raises(PermissionRefusedError) as exc:
        services.customer_transfer(actor=actor, customers=[customer], to_user=world.rep_west)
    assert exc.value.code == "permission"
    assert fresh(customer).owner_id == actor.pk


def test_customer_transfer_refused_as_a_whole_for_one_invisible_customer(world, scoped):
    visible = make_customer(world.tenant_a, world.rep_east, "看得见")
    invisible = make_customer(world.tenant_a, world.service_a, "看不见")
    with scoped(world.manager_sales), pytest.raises(ServiceError) as exc:
        services.customer_transfer(
            actor=world.manager_sales, customers=[visible, invisible], to_user=world.rep_west
        )
    assert exc.value.code == "not_visible"
    assert fresh(visible).owner_id == world.rep_east.pk
    assert fresh(invisible).owner_id == world.service_a.pk
    assert events(visible, OwnershipEvent.Kind.TRANSFERRED) == []
    assert notifications(world.rep_west) == []


@pytest.mark.parametrize("missing", [0, -1])
def test_customer_transfer_refused_for_missing_id(world, scoped, missing):
    customer = make_customer(world.tenant_a, world.rep_east, "一")
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.customer_transfer(
            actor=world.admin_a, customers=[customer.pk, missing], to_user=world.rep_west
        )
    assert exc.value.code == "not_visible"
    assert fresh(customer).owner_id == world.rep_east.pk


def test_customer_transfer_refused_for_customer_of_other_tenant(world, scoped):
    foreign = make_customer(world.tenant_b, world.rep_b, "乙的")
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.customer_transfer(actor=world.admin_a, customers=[foreign], to_user=world.rep_west)
    assert exc.value.code == "not_visible"
    assert fresh(foreign).owner_id == world.rep_b.pk


def test_customer_transfer_refused_for_trashed_customer(world, scoped):
    trashed = make_customer(world.tenant_a, world.rep_east, "回收", deleted_at=timezone.now())
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.customer_transfer(actor=world.admin_a, customers=[trashed], to_user=world.rep_west)
    assert exc.value.code == "not_visible"


def test_customer_transfer_refused_for_empty_selection(world, scoped):
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.customer_transfer(actor=world.admin_a, customers=[], to_user=world.rep_west)
    assert exc.value.code == "empty"


@pytest.mark.parametrize("persona", ["manager_sales", "admin_a"])
def test_customer_transfer_refused_for_locked_customer_of_someone_else(world, scoped, persona):
    actor = getattr(world, persona)
    free = make_customer(world.tenant_a, world.rep_east, "未锁")
    locked = make_customer(world.tenant_a, world.rep_east, "已锁", is_locked=True)
    with scoped(actor), pytest.raises(ServiceError) as exc:
        services.customer_transfer(actor=actor, customers=[free, locked], to_user=world.rep_west)
    assert exc.value.code == "not_editable"
    assert "已锁" in str(exc.value.message)
    assert fresh(free).owner_id == world.rep_east.pk
    assert fresh(locked).owner_id == world.rep_east.pk


def test_customer_transfer_refused_to_deactivated_user(world, scoped):
    gone = make_user(world.tenant_a, "rep_gone", department=world.east, is_active=False)
    customer = make_customer(world.tenant_a, world.rep_east, "一")
    with scoped(world.manager_sales), pytest.raises(ServiceError) as exc:
        services.customer_transfer(actor=world.manager_sales, customers=[customer], to_user=gone)
    assert exc.value.code == "inactive"
    assert fresh(customer).owner_id == world.rep_east.pk
    assert events(customer) == []


def test_customer_transfer_refused_to_user_of_other_tenant(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "一")
    with scoped(world.admin_a), pytest.raises(NotFoundError) as exc:
        services.customer_transfer(actor=world.admin_a, customers=[customer], to_user=world.rep_b)
    assert exc.value.code == "not_found"
    assert fresh(customer).owner_id == world.rep_east.pk


def test_customer_transfer_with_related_calls_the_registered_hooks(
    world, scoped, related_transfers
):
    one = make_customer(world.tenant_a, world.rep_east, "一")
    two = make_customer(world.tenant_a, world.rep_east, "二")
    with scoped(world.manager_sales):
        services.customer_transfer(
            actor=world.manager_sales,
            customers=[one, two],
            to_user=world.rep_west,
            with_related=True,
        )
    assert related_transfers == [(world.manager_sales, [one.pk, two.pk], world.rep_west)]


def test_customer_transfer_without_related_leaves_hooks_uncalled(world, scoped, related_transfers):
    customer = make_customer(world.tenant_a, world.rep_east, "一")
    with scoped(world.manager_sales):
        services.customer_transfer(
            actor=world.manager_sales, customers=[customer], to_user=world.rep_west
        )
    assert related_transfers == []
    assert fresh(customer).owner_id == world.rep_west.pk


def test_customer_transfer_with_related_skips_hooks_when_nothing_moves(
    world, scoped, related_transfers
):
    customer = make_customer(world.tenant_a, world.rep_west, "已是")
    with scoped(world.manager_sales):
        services.customer_transfer(
            actor=world.manager_sales,
            customers=[customer],
            to_user=world.rep_west,
            with_related=True,
        )
    assert related_transfers == []


# ---------------------------------------------------------------- participants


def _participated(user):
    return set(
        selectors.customer_base(actor=user, view="participated").values_list("pk", flat=True)
    )


def test_customer_participants_add_read_only_participant_sees_but_may_not_edit(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "团队客户")
    with scoped(world.rep_east):
        services.customer_participants_add(
            actor=world.rep_east, customers=[customer], users=[world.rep_west]
        )
    with scoped(world.rep_west):
        assert _participated(world.rep_west) == {customer.pk}
        assert visible_to(world.rep_west, Customer.objects.filter(pk=customer.pk)).exists()
        assert not world.rep_west.has_perm(CHANGE, customer)
        assert not customer_can_edit(world.rep_west, customer)
        row = CustomerParticipant.objects.get(customer=customer, user=world.rep_west)
    assert row.added_by_id == world.rep_east.pk
    assert row.tenant_id == world.tenant_a.pk


def test_customer_participants_add_with_edit_grants_object_permission(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "团队客户", is_locked=True)
    with scoped(world.rep_east):
        services.customer_participants_add(
            actor=world.rep_east, customers=[customer], users=[world.rep_west], can_edit=True
        )
    with scoped(world.rep_west):
        assert _participated(world.rep_west) == {customer.pk}
        assert world.rep_west.has_perm(CHANGE, customer)
        assert customer_can_edit(world.rep_west, customer)
        services.customer_update(actor=world.rep_west, customer=customer, data={"remark": "改"})
    assert fresh(customer).remark == "改"


def test_customer_participants_add_grant_is_per_customer(world, scoped):
    granted = make_customer(world.tenant_a, world.rep_east, "授权")
    other = make_customer(world.tenant_a, world.rep_east, "未授权")
    make_participant(other, world.rep_west)
    with scoped(world.rep_east):
        services.customer_participants_add(
            actor=world.rep_east, customers=[granted], users=[world.rep_west], can_edit=True
        )
    with scoped(world.rep_west):
        assert world.rep_west.has_perm(CHANGE, granted)
        assert not world.rep_west.has_perm(CHANGE, other)


def test_customer_participants_add_again_without_edit_revokes_the_grant(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "团队客户")
    make_participant(customer, world.rep_west, can_edit=True)
    with scoped(world.rep_east):
        services.customer_participants_add(
            actor=world.rep_east, customers=[customer], users=[world.rep_west]
        )
    with scoped(world.rep_west):
        assert not world.rep_west.has_perm(CHANGE, customer)
        assert CustomerParticipant.objects.filter(customer=customer).count() == 1


def test_customer_participants_add_in_batch_and_logs_each_customer(world, scoped):
    one = make_customer(world.tenant_a, world.rep_east, "一")
    two = make_customer(world.tenant_a, world.rep_east2, "二")
    with scoped(world.manager_sales):
        services.customer_participants_add(
            actor=world.manager_sales,
            customers=[one, two],
            users=[world.rep_west, world.service_a],
            can_edit=True,
        )
    for customer in (one, two):
        [entry] = logs(customer, actions.CUSTOMER_PARTICIPANTS)
        assert entry.changes == {"participants": ["", "rep_west、service_a"]}
    with scoped(world.service_a):
        assert _participated(world.service_a) == {one.pk, two.pk}


def test_customer_participants_add_skips_the_owner(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "一")
    with scoped(world.manager_sales):
        services.customer_participants_add(
            actor=world.manager_sales, customers=[customer], users=[world.rep_east], can_edit=True
        )
        assert not CustomerParticipant.objects.filter(customer=customer).exists()
        assert not world.rep_east.has_perm(CHANGE, customer)


def test_customer_participants_add_refused_for_deactivated_user(world, scoped):
    gone = make_user(world.tenant_a, "rep_gone", department=world.east, is_active=False)
    customer = make_customer(world.tenant_a, world.rep_east, "一")
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.customer_participants_add(
            actor=world.rep_east, customers=[customer], users=[world.rep_west, gone]
        )
    assert exc.value.code == "inactive"
    with scoped(world.rep_east):
        assert not CustomerParticipant.objects.filter(customer=customer).exists()


def test_customer_participants_add_refused_for_user_of_other_tenant(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "一")
    with scoped(world.rep_east), pytest.raises(NotFoundError) as exc:
        services.customer_participants_add(
            actor=world.rep_east, customers=[customer], users=[world.rep_b]
        )
    assert exc.value.code == "not_found"


def test_customer_participants_add_refused_without_users(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "一")
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.customer_participants_add(actor=world.rep_east, customers=[customer], users=[])
    assert exc.value.code == "empty"


def test_customer_participants_add_refused_for_read_only_participant(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "一")
    make_participant(customer, world.rep_west)
    with scoped(world.rep_west), pytest.raises(ServiceError) as exc:
        services.customer_participants_add(
            actor=world.rep_west, customers=[customer], users=[world.service_a]
        )
    assert exc.value.code == "not_editable"


def test_customer_participants_add_refused_for_invisible_customer(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "一")
    with scoped(world.rep_west), pytest.raises(ServiceError) as exc:
        services.customer_participants_add(
            actor=world.rep_west, customers=[customer], users=[world.rep_west]
        )
    assert exc.value.code == "not_visible"
    with scoped(world.rep_west):
        assert _participated(world.rep_west) == set()


def test_customer_participant_remove_revokes_visibility_and_grant(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "一")
    make_participant(customer, world.rep_west, can_edit=True)
    with scoped(world.rep_east):
        services.customer_participant_remove(
            actor=world.rep_east, customer=customer, user=world.rep_west
        )
    with scoped(world.rep_west):
        assert _participated(world.rep_west) == set()
        assert not selectors.customer_base(actor=world.rep_west).filter(pk=customer.pk).exists()
        assert not world.rep_west.has_perm(CHANGE, customer)
    [entry] = logs(customer, actions.CUSTOMER_PARTICIPANTS)
    assert entry.changes == {"participants": ["rep_west", ""]}


def test_customer_participant_remove_refused_for_read_only_participant(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "一")
    make_participant(customer, world.rep_west)
    make_participant(customer, world.service_a)
    with scoped(world.rep_west), pytest.raises(ServiceError) as exc:
        services.customer_participant_remove(
            actor=world.rep_west, customer=customer, user=world.service_a
        )
    assert exc.value.code == "not_editable"


# ---------------------------------------------------------------- star


def test_customer_star_is_personal_and_needs_only_visibility(world, scoped):
    public = make_customer(
        world.tenant_a, world.rep_east, "公开", visibility=Customer.Visibility.PUBLIC
    )
    make_star(public, world.rep_east)
    with scoped(world.rep_west):
        services.customer_star(actor=world.rep_west, customers=[public], starred=True)
        services.customer_star(actor=world.rep_west, customers=[public.pk], starred=True)
        starred = selectors.customer_base(actor=world.rep_west, view="starred")
        assert list(starred.values_list("pk", flat=True)) == [public.pk]
        assert CustomerStar.objects.filter(customer=public).count() == 2
        services.customer_star(actor=world.rep_west, customers=[public], starred=False)
        assert not selectors.customer_base(actor=world.rep_west, view="starred").exists()
        assert CustomerStar.objects.filter(customer=public, user=world.rep_east).exists()


def test_customer_star_refused_for_invisible_customer(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "私有")
    with scoped(world.rep_west), pytest.raises(ServiceError) as exc:
        services.customer_star(actor=world.rep_west, customers=[customer], starred=True)
    assert exc.value.code == "not_visible"
    with scoped(world.rep_west):
        assert not CustomerStar.objects.exists()


# ---------------------------------------------------------------- tags


def test_customer_tags_change_adds_and_removes_and_logs(world, scoped):
    keep, drop, add = (make_tag(world.tenant_a, n) for n in ("保留", "去掉", "新增"))
    one = make_customer(world.tenant_a, world.rep_east, "一")
    two = make_customer(world.tenant_a, world.rep_east, "二")
    tag_customer(one, keep, drop)
    with scoped(world.rep_east):
        services.customer_tags_change(
            actor=world.rep_east, customers=[one, two], add=[add], remove=[drop]
        )
    assert _tag_names(one) == ["保留", "新增"]
    assert _tag_names(two) == ["新增"]
    [entry] = logs(one, actions.CUSTOMER_TAGGED)
    assert entry.changes == {"tags": ["保留、去掉", "保留、新增"]}
    assert logs(two, actions.CUSTOMER_TAGGED)[0].changes == {"tags": ["", "新增"]}


def test_customer_tags_change_without_effect_writes_no_activity(world, scoped):
    tag = make_tag(world.tenant_a, "已有")
    customer = make_customer(world.tenant_a, world.rep_east, "一")
    tag_customer(customer, tag)
    with scoped(world.rep_east):
        services.customer_tags_change(actor=world.rep_east, customers=[customer], add=[tag])
    assert logs(customer) == []
    assert _tag_names(customer) == ["已有"]


def test_customer_tags_change_refused_for_tag_of_other_tenant(world, scoped):
    foreign = make_tag(world.tenant_b, "重点")
    customer = make_customer(world.tenant_a, world.rep_east, "一")
    with scoped(world.rep_east), pytest.raises(NotFoundError) as exc:
        services.customer_tags_change(actor=world.rep_east, customers=[customer], add=[foreign])
    assert exc.value.code == "not_found"
    assert _tag_names(customer) == []


def test_customer_tags_change_refused_for_read_only_customer(world, scoped):
    tag = make_tag(world.tenant_a, "重点")
    public = make_customer(
        world.tenant_a, world.rep_east, "公开", visibility=Customer.Visibility.PUBLIC
    )
    with scoped(world.rep_west), pytest.raises(ServiceError) as exc:
        services.customer_tags_change(actor=world.rep_west, customers=[public], add=[tag])
    assert exc.value.code == "not_editable"
    assert _tag_names(public) == []


def test_tag_get_or_create_creates_once_per_tenant(world, scoped):
    with scoped(world.rep_east):
        first = services.tag_get_or_create(actor=world.rep_east, name=" 重点 ")
        again = services.tag_get_or_create(actor=world.rep_west, name="重点")
    with scoped(world.rep_b):
        other = services.tag_get_or_create(actor=world.rep_b, name="重点")
    assert first.pk == again.pk
    assert first.name == "重点"
    assert first.tenant_id == world.tenant_a.pk
    assert other.pk != first.pk
    assert other.tenant_id == world.tenant_b.pk


def test_tag_get_or_create_truncates_to_thirty_characters(world, scoped):
    with scoped(world.rep_east):
        tag = services.tag_get_or_create(actor=world.rep_east, name="长" * 40)
    assert tag.name == "长" * 30


@pytest.mark.parametrize("name", ["", "   ", None])
def test_tag_get_or_create_refused_without_name(world, scoped, name):
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.tag_get_or_create(actor=world.rep_east, name=name)
    assert exc.value.code == "required"


# ---------------------------------------------------------------- status


def test_customer_status_set_changes_and_logs(world, scoped):
    status = option(world.tenant_a, OptionKind.CUSTOMER_STATUS)
    customer = make_customer(world.tenant_a, world.rep_east, "一")
    with scoped(world.manager_sales):
        services.customer_status_set(actor=world.manager_sales, customers=[customer], status=status)
    row = fresh(customer)
    assert row.status_id == status.pk
    assert row.updated_by_id == world.manager_sales.pk
    [entry] = logs(customer, actions.CUSTOMER_UPDATED)
    assert entry.changes == {"status": ["", status.label]}


def test_customer_status_set_none_clears_and_same_status_is_no_change(world, scoped):
    status = option(world.tenant_a, OptionKind.CUSTOMER_STATUS)
    same = make_customer(world.tenant_a, world.rep_east, "同", status=status)
    with scoped(world.rep_east):
        services.customer_status_set(actor=world.rep_east, customers=[same], status=status)
        assert logs(same) == []
        services.customer_status_set(actor=world.rep_east, customers=[same], status=None)
    assert fresh(same).status_id is None
    assert logs(same)[0].changes == {"status": [status.label, ""]}


def test_customer_status_set_refused_for_option_of_wrong_kind(world, scoped):
    wrong = option(world.tenant_a, OptionKind.CUSTOMER_LEVEL)
    customer = make_customer(world.tenant_a, world.rep_east, "一")
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.customer_status_set(actor=world.rep_east, customers=[customer], status=wrong)
    assert exc.value.code == "option"


def test_customer_status_set_refused_for_option_of_other_tenant(world, scoped):
    foreign = option(world.tenant_b, OptionKind.CUSTOMER_STATUS)
    customer = make_customer(world.tenant_a, world.rep_east, "一")
    with scoped(world.rep_east), pytest.raises(NotFoundError) as exc:
        services.customer_status_set(actor=world.rep_east, customers=[customer], status=foreign)
    assert exc.value.code == "not_found"
    assert fresh(customer).status_id is None


def test_customer_status_set_refused_for_locked_customer_of_someone_else(world, scoped):
    status = option(world.tenant_a, OptionKind.CUSTOMER_STATUS)
    customer = make_customer(world.tenant_a, world.rep_east, "一", is_locked=True)
    with scoped(world.manager_sales), pytest.raises(ServiceError) as exc:
        services.customer_status_set(actor=world.manager_sales, customers=[customer], status=status)
    assert exc.value.code == "not_editable"


# ---------------------------------------------------------------- lock


def test_customer_lock_by_owner_then_manager_may_not_unlock(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "一")
    with scoped(world.rep_east):
        services.customer_lock(actor=world.rep_east, customer=customer, locked=True)
    assert fresh(customer).is_locked
    assert [e.action for e in logs(customer)] == [actions.CUSTOMER_LOCKED]
    with scoped(world.manager_sales), pytest.raises(ServiceError) as exc:
        services.customer_lock(actor=world.manager_sales, customer=customer, locked=False)
    assert exc.value.code == "not_editable"
    assert fresh(customer).is_locked


def test_customer_lock_edit_participant_may_unlock(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "一", is_locked=True)
    make_participant(customer, world.rep_west, can_edit=True)
    with scoped(world.rep_west):
        services.customer_lock(actor=world.rep_west, customer=customer, locked=False)
    assert not fresh(customer).is_locked
    assert [e.action for e in logs(customer)] == [actions.CUSTOMER_UNLOCKED]


def test_customer_lock_manager_may_lock_unlocked_customer(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "一")
    with scoped(world.manager_sales):
        services.customer_lock(actor=world.manager_sales, customer=customer, locked=True)
    assert fresh(customer).is_locked


def test_customer_lock_unchanged_writes_no_activity(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "一", is_locked=True)
    with scoped(world.rep_east):
        services.customer_lock(actor=world.rep_east, customer=customer, locked=True)
    assert logs(customer) == []


def test_customer_lock_refused_for_read_only_participant(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "一")
    make_participant(customer, world.rep_west)
    with scoped(world.rep_west), pytest.raises(ServiceError) as exc:
        services.customer_lock(actor=world.rep_west, customer=customer, locked=True)
    assert exc.value.code == "not_editable"
    assert not fresh(customer).is_locked


# ---------------------------------------------------------------- lifecycle


def test_customer_mark_signed_sets_lifecycle_deal_and_time_once(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "一")
    with scoped(world.rep_east):
        services.customer_mark_signed(actor=None, customer=customer)
        signed_at = fresh(customer).signed_at
        services.customer_mark_signed(actor=world.rep_east, customer=fresh(customer))
    row = fresh(customer)
    assert row.lifecycle == Customer.Lifecycle.SIGNED
    assert row.deal_status == Customer.DealStatus.DEAL
    assert signed_at is not None
    assert row.signed_at == signed_at
    assert [e.action for e in logs(customer)] == [actions.CUSTOMER_SIGNED]


def test_customer_back_to_development_writes_signed_back_event(world, scoped):
    customer = make_customer(
        world.tenant_a,
        world.rep_east,
        "一",
        lifecycle=Customer.Lifecycle.SIGNED,
        deal_status=Customer.DealStatus.DEAL,
    )
    with scoped(world.admin_a):
        services.customer_back_to_development(actor=world.admin_a, customer=customer)
    assert fresh(customer).lifecycle == Customer.Lifecycle.DEVELOPMENT
    [event] = events(customer)
    assert event.kind == OwnershipEvent.Kind.SIGNED_BACK
    assert (event.from_user_id, event.to_user_id) == (world.rep_east.pk, world.rep_east.pk)
    assert event.actor_id == world.admin_a.pk
    assert [e.action for e in logs(customer)] == [actions.CUSTOMER_BACK_TO_DEVELOPMENT]


def test_customer_back_to_development_of_development_customer_changes_nothing(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "一")
    with scoped(world.admin_a):
        services.customer_back_to_development(actor=world.admin_a, customer=customer)
    assert events(customer) == []
    assert logs(customer) == []
    assert exists(customer)
