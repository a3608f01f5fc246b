"""Contacts, follow-ups and managers' comments on follow-ups: what the services do and every
refusal, asserted by its exact code."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from django_scopes import scopes_disabled

from crm.exceptions import NotFoundError, NotVisibleError, PermissionRefusedError, ServiceError
from crm.models import OptionKind
from customers import activity_actions as actions
from customers import services
from customers.models import Contact, Customer, FollowUp, FollowUpComment
from tests.customers.factories import (
    exists,
    fresh,
    logs,
    make_contact,
    make_customer,
    make_followup,
    make_participant,
    notifications,
    option,
)

HOUR = datetime.timedelta(hours=1)
DAY = datetime.timedelta(days=1)


def _contact_data(**overrides):
    data = {"name": "张经理", "mobile": "", "phone": "", "title": "采购"}
    data.update(overrides)
    return data


def _followup_count(customer):
    with scopes_disabled():
        return FollowUp.objects.filter(customer_id=customer.pk).count()


def _contact_count(customer):
    with scopes_disabled():
        return Contact.objects.filter(customer_id=customer.pk).count()


# ---------------------------------------------------------------- contact_create


def test_contact_create_on_own_customer_logs_it(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    with scoped(world.rep_east):
        contact = services.contact_create(
            actor=world.rep_east,
            customer=customer,
            data=_contact_data(name="  张经理 ", is_decision_maker=True, email="z@example.com"),
        )
    contact = fresh(contact)
    assert (contact.name, contact.title, contact.email) == ("张经理", "采购", "z@example.com")
    assert contact.is_decision_maker
    assert contact.customer_id == customer.pk
    assert contact.tenant_id == world.tenant_a.pk
    assert contact.created_by_id == world.rep_east.pk
    [entry] = logs(customer, actions.CONTACT_CREATED)
    assert entry.changes == {"contact": ["", "张经理"]}


@pytest.mark.parametrize(
    "typed", ["+86 138-0013-8000", "１３８００１３８０００", "0086 13800138000", "138 0013 8000"]
)
def test_contact_create_normalises_mobile(world, scoped, typed):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    with scoped(world.rep_east):
        contact = services.contact_create(
            actor=world.rep_east, customer=customer, data=_contact_data(mobile=typed)
        )
    assert fresh(contact).mobile == "13800138000"


def test_contact_create_normalises_landline_phone(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    with scoped(world.rep_east):
        contact = services.contact_create(
            actor=world.rep_east, customer=customer, data=_contact_data(phone="（010）12345678")
        )
    assert fresh(contact).phone == "01012345678"


def test_contact_create_ignores_keys_that_are_not_contact_fields(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    other = make_customer(world.tenant_a, world.rep_east, "乙")
    with scoped(world.rep_east):
        contact = services.contact_create(
            actor=world.rep_east,
            customer=customer,
            data=_contact_data(customer=other, tenant=world.tenant_b, created_by=world.rep_west),
        )
    contact = fresh(contact)
    assert contact.customer_id == customer.pk
    assert contact.tenant_id == world.tenant_a.pk
    assert contact.created_by_id == world.rep_east.pk


@pytest.mark.parametrize("mobile", ["12345678901", "1380013800", "010-12345678", "手机"])
def test_contact_create_refused_for_invalid_mobile(world, scoped, mobile):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.contact_create(
            actor=world.rep_east, customer=customer, data=_contact_data(mobile=mobile)
        )
    assert exc.value.code == "invalid_mobile"
    assert _contact_count(customer) == 0


def test_contact_create_refused_for_invalid_phone(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.contact_create(
            actor=world.rep_east, customer=customer, data=_contact_data(phone="12-34")
        )
    assert exc.value.code == "invalid_phone"


@pytest.mark.parametrize("name", ["", "   ", None])
def test_contact_create_refused_without_name(world, scoped, name):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.contact_create(
            actor=world.rep_east, customer=customer, data=_contact_data(name=name)
        )
    assert exc.value.code == "required"
    assert _contact_count(customer) == 0


def test_contact_create_refused_for_read_only_participant(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    make_participant(customer, world.rep_west)
    with scoped(world.rep_west), pytest.raises(ServiceError) as exc:
        services.contact_create(actor=world.rep_west, customer=customer, data=_contact_data())
    assert exc.value.code == "not_editable"
    assert _contact_count(customer) == 0


def test_contact_create_by_edit_participant(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "甲", is_locked=True)
    make_participant(customer, world.rep_west, can_edit=True)
    with scoped(world.rep_west):
        services.contact_create(actor=world.rep_west, customer=customer, data=_contact_data())
    assert _contact_count(customer) == 1


@pytest.mark.parametrize(
    ("customer_kwargs", "code"),
    [
        ({"owner_key": "service_a"}, "not_visible"),  # outside the manager's scope
        ({"owner_key": "rep_east", "is_locked": True}, "not_editable"),
        ({"owner_key": "rep_east", "deleted_at": "now"}, "not_visible"),
    ],
)
def test_contact_create_refused_for_manager(world, scoped, customer_kwargs, code):
    kwargs = dict(customer_kwargs)
    owner = getattr(world, kwargs.pop("owner_key"))
    if kwargs.get("deleted_at") == "now":
        kwargs["deleted_at"] = timezone.now()
    customer = make_customer(world.tenant_a, owner, "甲", **kwargs)
    with scoped(world.manager_sales), pytest.raises(ServiceError) as exc:
        services.contact_create(actor=world.manager_sales, customer=customer, data=_contact_data())
    assert exc.value.code == code
    assert _contact_count(customer) == 0


def test_contact_create_refused_for_customer_of_other_tenant(world, scoped):
    foreign = make_customer(world.tenant_b, world.rep_b, "乙方")
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.contact_create(actor=world.admin_a, customer=foreign, data=_contact_data())
    assert exc.value.code == "not_visible"
    assert _contact_count(foreign) == 0


# ---------------------------------------------------------------- contact_update / delete


def test_contact_update_changes_fields_and_logs_with_contact_name(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    contact = make_contact(customer, "张经理", title="采购")
    with scoped(world.manager_sales):
        services.contact_update(
            actor=world.manager_sales,
            contact=contact,
            data=_contact_data(mobile="+86 139-0013-9000", title="总监"),
        )
    contact = fresh(contact)
    assert (contact.mobile, contact.title) == ("13900139000", "总监")
    [entry] = logs(customer, actions.CONTACT_UPDATED)
    assert entry.changes == {"mobile": ["", "13900139000"], "title": ["采购", "总监"]}
    assert entry.note == "张经理"


def test_contact_update_without_changes_writes_no_activity(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    contact = make_contact(customer, "张经理", title="采购")
    with scoped(world.rep_east):
        services.contact_update(actor=world.rep_east, contact=contact, data=_contact_data())
    assert logs(customer) == []


def test_contact_update_refused_for_invalid_mobile_leaves_contact(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    contact = make_contact(customer, "张经理", mobile="13800138000")
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.contact_update(
            actor=world.rep_east, contact=contact, data=_contact_data(mobile="123")
        )
    assert exc.value.code == "invalid_mobile"
    assert fresh(contact).mobile == "13800138000"


def test_contact_update_refused_without_name(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    contact = make_contact(customer, "张经理")
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.contact_update(actor=world.rep_east, contact=contact, data=_contact_data(name=""))
    assert exc.value.code == "required"
    assert fresh(contact).name == "张经理"


def test_contact_update_refused_for_read_only_participant(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    contact = make_contact(customer, "张经理")
    make_participant(customer, world.rep_west)
    with scoped(world.rep_west), pytest.raises(ServiceError) as exc:
        services.contact_update(
            actor=world.rep_west, contact=contact, data=_contact_data(name="改名")
        )
    assert exc.value.code == "not_editable"
    assert fresh(contact).name == "张经理"


def test_contact_update_refused_for_contact_of_other_tenant(world, scoped):
    foreign = make_contact(make_customer(world.tenant_b, world.rep_b, "乙方"), "外人")
    with scoped(world.admin_a), pytest.raises(NotFoundError) as exc:
        services.contact_update(actor=world.admin_a, contact=foreign, data=_contact_data())
    assert exc.value.code == "not_found"
    assert fresh(foreign).name == "外人"


def test_contact_delete_removes_and_logs(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    contact = make_contact(customer, "张经理")
    with scoped(world.rep_east):
        services.contact_delete(actor=world.rep_east, contact=contact)
    assert not exists(contact)
    [entry] = logs(customer, actions.CONTACT_DELETED)
    assert entry.changes == {"contact": ["张经理", ""]}


def test_contact_delete_refused_for_peer_rep(world, scoped):
    customer = make_customer(
        world.tenant_a, world.rep_east, "甲", visibility=Customer.Visibility.PUBLIC
    )
    contact = make_contact(customer, "张经理")
    with scoped(world.rep_east2), pytest.raises(ServiceError) as exc:
        services.contact_delete(actor=world.rep_east2, contact=contact)
    assert exc.value.code == "not_editable"
    assert exists(contact)


def test_contact_delete_refused_for_contact_of_other_tenant(world, scoped):
    foreign = make_contact(make_customer(world.tenant_b, world.rep_b, "乙方"), "外人")
    with scoped(world.admin_a), pytest.raises(NotFoundError) as exc:
        services.contact_delete(actor=world.admin_a, contact=foreign)
    assert exc.value.code == "not_found"
    assert exists(foreign)


# ---------------------------------------------------------------- followup_create


def test_followup_create_records_and_moves_customer_times(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    contact = make_contact(customer, "张经理")
    kind = option(world.tenant_a, OptionKind.FOLLOWUP_TYPE)
    when = timezone.now() - HOUR
    later = timezone.now() + 2 * DAY
    with scoped(world.rep_east):
        followup = services.followup_create(
            actor=world.rep_east,
            record=customer,
            content="  电话沟通报价  ",
            kind=kind,
            contact=contact,
            followed_at=when,
            next_followup_at=later,
        )
    followup = fresh(followup)
    assert followup.content == "电话沟通报价"
    assert (followup.kind_id, followup.contact_id) == (kind.pk, contact.pk)
    assert (followup.followed_at, followup.next_followup_at) == (when, later)
    assert followup.created_by_id == world.rep_east.pk
    assert followup.tenant_id == world.tenant_a.pk
    row = fresh(customer)
    assert (row.last_followup_at, row.next_followup_at) == (when, later)
    [entry] = logs(customer, actions.FOLLOWUP_CREATED)
    assert entry.note == "电话沟通报价"
    assert entry.actor_id == world.rep_east.pk


def test_followup_create_defaults_time_to_now(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    before = timezone.now()
    with scoped(world.rep_east):
        followup = services.followup_create(actor=world.rep_east, record=customer, content="到访")
    assert before <= fresh(followup).followed_at <= timezone.now()
    assert fresh(customer).last_followup_at == fresh(followup).followed_at


def test_followup_create_latest_without_next_clears_customer_next(world, scoped):
    customer = make_customer(
        world.tenant_a,
        world.rep_east,
        "甲",
        last_followup_at=timezone.now() - 3 * DAY,
        next_followup_at=timezone.now() + DAY,
    )
    with scoped(world.rep_east):
        services.followup_create(actor=world.rep_east, record=customer, content="已谈妥")
    row = fresh(customer)
    assert row.next_followup_at is None
    assert row.last_followup_at > timezone.now() - HOUR


def test_followup_create_older_record_keeps_customer_times(world, scoped):
    last = timezone.now() - DAY
    upcoming = timezone.now() + DAY
    customer = make_customer(
        world.tenant_a, world.rep_east, "甲", last_followup_at=last, next_followup_at=upcoming
    )
    with scoped(world.rep_east):
        services.followup_create(
            actor=world.rep_east,
            record=customer,
            content="补录上周拜访",
            followed_at=timezone.now() - 7 * DAY,
        )
    row = fresh(customer)
    assert (row.last_followup_at, row.next_followup_at) == (last, upcoming)


def test_followup_create_allows_a_few_minutes_of_clock_skew(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    with scoped(world.rep_east):
        services.followup_create(
            actor=world.rep_east,
            record=customer,
            content="刚刚",
            followed_at=timezone.now() + datetime.timedelta(minutes=2),
        )
    assert _followup_count(customer) == 1


@pytest.mark.parametrize("content", ["", "   ", None])
def test_followup_create_refused_without_content(world, scoped, content):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.followup_create(actor=world.rep_east, record=customer, content=content)
    assert exc.value.code == "required"
    assert _followup_count(customer) == 0


def test_followup_create_refused_in_the_future(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.followup_create(
            actor=world.rep_east,
            record=customer,
            content="明天拜访",
            followed_at=timezone.now() + DAY,
        )
    assert exc.value.code == "future"
    assert _followup_count(customer) == 0
    assert fresh(customer).last_followup_at is None


@pytest.mark.parametrize("offset", [datetime.timedelta(0), -HOUR])
def test_followup_create_refused_when_next_is_not_after_this(world, scoped, offset):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    when = timezone.now() - DAY
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.followup_create(
            actor=world.rep_east,
            record=customer,
            content="沟通",
            followed_at=when,
            next_followup_at=when + offset,
        )
    assert exc.value.code == "next_before"
    assert _followup_count(customer) == 0


def test_followup_create_refused_for_contact_of_another_customer(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    elsewhere = make_contact(make_customer(world.tenant_a, world.rep_east, "乙"), "别家")
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.followup_create(
            actor=world.rep_east, record=customer, content="沟通", contact=elsewhere
        )
    assert exc.value.code == "contact"
    assert _followup_count(customer) == 0


def test_followup_create_refused_for_option_of_wrong_kind(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    wrong = option(world.tenant_a, OptionKind.CUSTOMER_SOURCE)
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.followup_create(actor=world.rep_east, record=customer, content="x", kind=wrong)
    assert exc.value.code == "option"


def test_followup_create_refused_for_option_of_other_tenant(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    foreign = option(world.tenant_b, OptionKind.FOLLOWUP_TYPE)
    with scoped(world.rep_east), pytest.raises(NotFoundError) as exc:
        services.followup_create(actor=world.rep_east, record=customer, content="x", kind=foreign)
    assert exc.value.code == "not_found"


def test_followup_create_refused_for_member_who_only_sees_a_public_customer(world, scoped):
    customer = make_customer(
        world.tenant_a, world.rep_east, "公开", visibility=Customer.Visibility.PUBLIC
    )
    with scoped(world.rep_west), pytest.raises(PermissionRefusedError) as exc:
        services.followup_create(actor=world.rep_west, record=customer, content="顺路拜访")
    assert exc.value.code == "permission"
    assert _followup_count(customer) == 0


def test_followup_create_refused_for_manager_on_locked_customer(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "甲", is_locked=True)
    with scoped(world.manager_sales), pytest.raises(PermissionRefusedError):
        services.followup_create(actor=world.manager_sales, record=customer, content="x")
    assert _followup_count(customer) == 0


@pytest.mark.parametrize(
    ("actor_key", "owner_key", "deleted"),
    [
        ("rep_west", "rep_east", False),  # peer rep, private customer
        ("manager_sales", "service_a", False),  # outside the manager's scope
        ("rep_east", "rep_east", True),  # own customer in the recycle bin
    ],
)
def test_followup_create_refused_for_invisible_customer(
    world, scoped, actor_key, owner_key, deleted
):
    actor = getattr(world, actor_key)
    customer = make_customer(
        world.tenant_a,
        getattr(world, owner_key),
        "甲",
        deleted_at=timezone.now() if deleted else None,
    )
    with scoped(actor), pytest.raises(ServiceError) as exc:
        services.followup_create(actor=actor, record=customer, content="x")
    assert exc.value.code == "not_visible"
    assert _followup_count(customer) == 0


def test_followup_create_refused_for_customer_of_other_tenant(world, scoped):
    foreign = make_customer(world.tenant_b, world.rep_b, "乙方")
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.followup_create(actor=world.admin_a, record=foreign, content="x")
    assert exc.value.code == "not_visible"


@pytest.mark.parametrize("can_edit", [False, True])
def test_followup_create_by_participant(world, scoped, can_edit):
    customer = make_customer(world.tenant_a, world.rep_east, "甲", is_locked=True)
    make_participant(customer, world.rep_west, can_edit=can_edit)
    with scoped(world.rep_west):
        followup = services.followup_create(
            actor=world.rep_west, record=customer, content="协同拜访"
        )
    assert fresh(followup).created_by_id == world.rep_west.pk
    assert fresh(customer).last_followup_at is not None


@pytest.mark.parametrize("persona", ["manager_sales", "admin_a"])
def test_followup_create_by_owners_managers(world, scoped, persona):
    actor = getattr(world, persona)
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    with scoped(actor):
        services.followup_create(actor=actor, record=customer, content="陪访")
    assert _followup_count(customer) == 1


# ---------------------------------------------------------------- followup_comment


@pytest.mark.parametrize("persona", ["manager_sales", "admin_a"])
def test_followup_comment_by_manager_notifies_the_author(world, scoped, persona):
    actor = getattr(world, persona)
    customer = make_customer(world.tenant_a, world.rep_east, "华东机械")
    followup = make_followup(customer, world.rep_east, "电话沟通")
    with scoped(actor):
        comment = services.followup_comment(actor=actor, followup=followup, content=" 跟紧一点 ")
    comment = fresh(comment)
    assert (comment.content, comment.author_id) == ("跟紧一点", actor.pk)
    assert comment.followup_id == followup.pk
    assert comment.tenant_id == world.tenant_a.pk
    [note] = notifications(world.rep_east)
    assert str(actor) in note.title
    assert "华东机械" in note.title
    assert note.body == "跟紧一点"
    assert note.link == f"/customers/{customer.pk}/"
    [entry] = logs(customer, actions.FOLLOWUP_COMMENTED)
    assert entry.note == "跟紧一点"


def test_followup_comment_on_participant_follow_up_of_other_owner(world, scoped):
    """The manager comments on what a subordinate wrote, whoever owns the customer."""
    customer = make_customer(world.tenant_a, world.rep_east2, "甲")
    make_participant(customer, world.rep_west)
    followup = make_followup(customer, world.rep_west, "协同")
    with scoped(world.manager_sales):
        services.followup_comment(actor=world.manager_sales, followup=followup, content="好")
    assert len(notifications(world.rep_west)) == 1


def test_followup_comment_refused_for_the_author(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    followup = make_followup(customer, world.rep_east)
    with scoped(world.rep_east), pytest.raises(PermissionRefusedError) as exc:
        services.followup_comment(actor=world.rep_east, followup=followup, content="自评")
    assert exc.value.code == "permission"
    with scoped(world.rep_east):
        assert not FollowUpComment.objects.exists()


def test_followup_comment_refused_for_the_author_even_with_scope_all(world, scoped):
    customer = make_customer(world.tenant_a, world.admin_a, "甲")
    followup = make_followup(customer, world.admin_a)
    with scoped(world.admin_a), pytest.raises(PermissionRefusedError):
        services.followup_comment(actor=world.admin_a, followup=followup, content="自评")


def test_followup_comment_refused_for_peer_rep_who_sees_the_customer(world, scoped):
    customer = make_customer(
        world.tenant_a, world.rep_east, "甲", visibility=Customer.Visibility.PUBLIC
    )
    followup = make_followup(customer, world.rep_east)
    with scoped(world.rep_east2), pytest.raises(PermissionRefusedError) as exc:
        services.followup_comment(actor=world.rep_east2, followup=followup, content="点评")
    assert exc.value.code == "permission"
    assert notifications(world.rep_east) == []


def test_followup_comment_refused_for_peer_rep_who_does_not_see_the_customer(world, scoped):
    """One follow-up the actor may not see is not found (a 404), like a missing one."""
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    followup = make_followup(customer, world.rep_east)
    with scoped(world.rep_east2), pytest.raises(NotVisibleError) as exc:
        services.followup_comment(actor=world.rep_east2, followup=followup, content="点评")
    assert exc.value.code == "not_visible"
    with scoped(world.rep_east2):
        assert not FollowUpComment.objects.exists()
    assert notifications(world.rep_east) == []


def test_followup_comment_refused_when_author_is_outside_the_managers_scope(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    followup = make_followup(customer, world.admin_a, "总经理批示")
    with scoped(world.manager_sales), pytest.raises(PermissionRefusedError):
        services.followup_comment(actor=world.manager_sales, followup=followup, content="收到")


@pytest.mark.parametrize("content", ["", "  ", None])
def test_followup_comment_refused_without_content(world, scoped, content):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    followup = make_followup(customer, world.rep_east)
    with scoped(world.manager_sales), pytest.raises(ServiceError) as exc:
        services.followup_comment(actor=world.manager_sales, followup=followup, content=content)
    assert exc.value.code == "required"
    assert notifications(world.rep_east) == []


def test_followup_comment_refused_for_follow_up_of_other_tenant(world, scoped):
    foreign = make_followup(make_customer(world.tenant_b, world.rep_b, "乙方"), world.rep_b)
    with scoped(world.admin_a), pytest.raises(NotFoundError) as exc:
        services.followup_comment(actor=world.admin_a, followup=foreign, content="越界")
    assert exc.value.code == "not_found"
    assert notifications(world.rep_b) == []


def test_followup_comment_on_deactivated_author_sends_no_notification(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    followup = make_followup(customer, world.rep_east)
    with scopes_disabled():
        world.rep_east.is_active = False
        world.rep_east.save(update_fields=["is_active"])
    with scoped(world.admin_a):
        followup = FollowUp.objects.select_related("created_by").get(pk=followup.pk)
        services.followup_comment(actor=world.admin_a, followup=followup, content="离职前")
        assert FollowUpComment.objects.filter(followup=followup).count() == 1
    assert notifications(world.rep_east) == []


def test_followup_comment_is_cut_to_a_thousand_characters(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    followup = make_followup(customer, world.rep_east)
    with scoped(world.admin_a):
        comment = services.followup_comment(
            actor=world.admin_a, followup=followup, content="评" * 1200
        )
    assert fresh(comment).content == "评" * 1000
