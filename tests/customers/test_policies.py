"""customers.policies: what each rule allows and what it refuses (personas of tests/conftest:
rep_east and rep_west own only, manager_sales sees 销售部 and below, service_a is in 售后部,
admin_a sees everything and holds every right)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from customers import policies
from tests.customers.factories import make_customer, make_followup, make_participant


@pytest.fixture
def customer(world):
    return make_customer(world.tenant_a, world.rep_east, "东一客户")


def test_may_edit_owner_and_managers_over_the_owner(world, scoped, customer):
    with scoped(world.rep_east):
        assert policies.may_edit(world.rep_east, customer)
        assert policies.may_edit(world.manager_sales, customer)
        assert policies.may_edit(world.admin_a, customer)
        assert not policies.may_edit(world.rep_west, customer)  # invisible
        assert not policies.may_edit(world.service_a, customer)


def test_may_edit_participants_only_with_the_edit_grant(world, scoped, customer):
    make_participant(customer, world.rep_west, can_edit=True)
    make_participant(customer, world.rep_east2)
    with scoped(world.rep_east):
        assert policies.may_edit(world.rep_west, customer)
        assert not policies.may_edit(world.rep_east2, customer)  # read-only participant


def test_may_edit_a_locked_customer_owner_and_edit_participants_only(world, scoped):
    locked = make_customer(world.tenant_a, world.rep_east, "锁定客户", is_locked=True)
    make_participant(locked, world.rep_west, can_edit=True)
    with scoped(world.rep_east):
        assert policies.may_edit(world.rep_east, locked)
        assert policies.may_edit(world.rep_west, locked)
        assert not policies.may_edit(world.manager_sales, locked)
        assert not policies.may_edit(world.admin_a, locked)


def test_may_edit_refuses_the_recycle_bin_unless_restoring(world, scoped):
    binned = make_customer(world.tenant_a, world.rep_east, "回收客户", deleted_at=timezone.now())
    with scoped(world.rep_east):
        assert not policies.may_edit(world.rep_east, binned)
        assert policies.may_edit(world.rep_east, binned, in_bin=True)


def test_may_edit_refuses_a_deactivated_user(world, scoped, customer):
    world.rep_east.is_active = False
    with scoped(world.rep_east):
        assert not policies.may_edit(world.rep_east, customer)


def test_may_follow_up_every_participant_too(world, scoped, customer):
    make_participant(customer, world.rep_east2)  # read only
    with scoped(world.rep_east):
        assert policies.may_follow_up(world.rep_east, customer)
        assert policies.may_follow_up(world.rep_east2, customer)
        assert policies.may_follow_up(world.manager_sales, customer)
        assert not policies.may_follow_up(world.rep_west, customer)
    customer.deleted_at = timezone.now()
    with scoped(world.rep_east):
        assert not policies.may_follow_up(world.rep_east, customer)


def test_may_comment_the_authors_managers_only(world, scoped, customer):
    followup = make_followup(customer, world.rep_east)
    with scoped(world.rep_east):
        assert policies.may_comment(world.manager_sales, followup)
        assert policies.may_comment(world.admin_a, followup)
        assert not policies.may_comment(world.rep_east, followup)  # the author
        assert not policies.may_comment(world.rep_east2, followup)  # a colleague
        assert not policies.may_comment(world.service_a, followup)


def test_may_manage_participants_and_lock_follow_the_edit_rights(world, scoped, customer):
    make_participant(customer, world.rep_east2)
    with scoped(world.rep_east):
        for rule in (policies.may_manage_participants, policies.may_lock):
            assert rule(world.rep_east, customer)
            assert rule(world.manager_sales, customer)
            assert not rule(world.rep_east2, customer)  # read-only participant
            assert not rule(world.rep_west, customer)


def test_may_delete_takes_the_delete_right_and_the_edit_rights(world, scoped, customer):
    with scoped(world.rep_east):
        assert not policies.may_delete(world.rep_east, customer)  # reps lack customer.delete
        assert policies.may_delete(world.admin_a, customer)
        assert not policies.may_delete(world.admin_a, make_locked(world))
    customer.deleted_at = timezone.now()  # restoring or purging it takes the same
    with scoped(world.rep_east):
        assert policies.may_delete(world.admin_a, customer)


def make_locked(world):
    return make_customer(world.tenant_a, world.rep_west, "锁定", is_locked=True)


def test_may_transfer_takes_the_transfer_right_and_the_edit_rights(world, scoped, customer):
    with scoped(world.rep_east):
        assert not policies.may_transfer(world.rep_east, customer)  # no customer.transfer
        assert policies.may_transfer(world.manager_sales, customer)
        assert not policies.may_transfer(world.manager_sales, make_locked(world))
        assert not policies.may_transfer(world.service_a, customer)


# ---------------------------------------------------------------- the public pool


def test_may_return_owner_and_managers_not_a_locked_one_by_a_manager(world, scoped, customer):
    locked = make_customer(world.tenant_a, world.rep_east, "锁定客户", is_locked=True)
    with scoped(world.rep_east):
        assert policies.may_return(world.rep_east, customer)
        assert policies.may_return(world.manager_sales, customer)
        assert not policies.may_return(world.rep_west, customer)  # outside the scope
        assert policies.may_return(world.rep_east, locked)  # its owner
        assert not policies.may_return(world.manager_sales, locked)


def test_may_return_refuses_the_bin_and_an_ownerless_customer(world, scoped):
    binned = make_customer(world.tenant_a, world.rep_east, "回收站", deleted_at=timezone.now())
    nobody = make_customer(world.tenant_a, None, "无人")
    with scoped(world.rep_east):
        assert not policies.may_return(world.rep_east, binned)
        assert not policies.may_return(world.admin_a, nobody)


def test_may_claim_members_of_a_self_claim_group_admins_of_an_admin_group(world, scoped):
    from tests.pools.factories import make_group, pooled

    self_claim = make_group(world.tenant_a, "自领公海", departments=[world.east])
    admin_only = make_group(
        world.tenant_a,
        "分配公海",
        departments=[world.east],
        admins=[world.rep_east2],
        claim_mode="admin",
    )
    free, assigned_only = pooled(self_claim), pooled(admin_only)
    with scoped(world.rep_east):
        assert policies.may_claim(world.rep_east, free)
        assert not policies.may_claim(world.rep_west, free)  # not a member
        assert not policies.may_claim(world.rep_east, assigned_only)  # admins assign
        assert policies.may_claim(world.rep_east2, assigned_only)
        assert policies.may_assign(world.rep_east2, assigned_only)
        assert not policies.may_assign(world.rep_east, assigned_only)
        assert not policies.may_claim(world.rep_east, customer_of(world))  # not in a pool


def test_may_claim_nothing_from_a_disabled_group(world, scoped):
    from tests.pools.factories import make_group, pooled

    closed = make_group(world.tenant_a, "停用公海", departments=[world.east], is_enabled=False)
    row = pooled(closed)
    with scoped(world.rep_east):
        assert not policies.may_claim(world.rep_east, row)
        assert not policies.may_assign(world.admin_a, row)


def customer_of(world):
    return make_customer(world.tenant_a, world.rep_west, "有主客户")
