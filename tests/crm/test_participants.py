"""crm.participants: participants of any owned record with the django-guardian edit grant,
on customers (their direct foreign-key permission table) and on the test app's Memo
(guardian's generic table), read back through crm.visibility."""

from __future__ import annotations

import pytest
from django_scopes import scopes_disabled

from crm import participants
from crm.visibility import can_edit, visible_to
from customers.models import Customer, CustomerParticipant, CustomerUserObjectPermission
from tests.customers.factories import make_customer
from tests.testapp.models import Memo, MemoParticipant


@pytest.fixture
def memo(world):
    with scopes_disabled():
        return Memo.objects.create(tenant=world.tenant_a, owner=world.rep_west, title="备忘")


def _sees(user, record) -> bool:
    return visible_to(user, type(record).objects.filter(pk=record.pk)).exists()


def test_a_read_only_participant_sees_but_may_not_edit(world, scoped, memo):
    with scoped(world.rep_east):
        assert not _sees(world.rep_east, memo)
        added = participants.participants_add(
            actor=world.rep_west, record=memo, users=[world.rep_east], can_edit=False
        )
        assert added == [world.rep_east]
        assert participants.participant_ids(memo) == {world.rep_east.pk}
        assert participants.editor_ids(memo) == set()
        assert _sees(world.rep_east, memo)
        assert not can_edit(world.rep_east, memo)


def test_the_edit_grant_comes_and_goes_with_can_edit(world, scoped, memo):
    with scoped(world.rep_east):
        participants.participants_add(
            actor=world.rep_west, record=memo, users=[world.rep_east], can_edit=True
        )
        assert participants.editor_ids(memo) == {world.rep_east.pk}
        assert can_edit(world.rep_east, memo)
        # Again without edit rights: still a participant (no second row), read only.
        again = participants.participants_add(
            actor=world.rep_west, record=memo, users=[world.rep_east], can_edit=False
        )
        assert again == []
        assert MemoParticipant.objects.filter(memo=memo).count() == 1
        assert participants.editor_ids(memo) == set()


def test_the_owner_is_never_a_participant(world, scoped, memo):
    with scoped(world.rep_west):
        added = participants.participants_add(
            actor=world.rep_west, record=memo, users=[world.rep_west], can_edit=True
        )
        assert added == []
        assert participants.participant_ids(memo) == set()
        assert participants.editor_ids(memo) == set()


def test_removing_takes_the_row_and_the_grant(world, scoped, memo):
    with scoped(world.rep_east):
        participants.participants_add(
            actor=world.rep_west, record=memo, users=[world.rep_east], can_edit=True
        )
        participants.participant_remove(record=memo, user=world.rep_east)
        assert participants.participant_ids(memo) == set()
        assert participants.editor_ids(memo) == set()
        assert not _sees(world.rep_east, memo)


def test_customers_keep_their_direct_tables(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_west, "西客户")
    with scoped(world.rep_east):
        participants.participants_add(
            actor=world.rep_west, record=customer, users=[world.rep_east], can_edit=True
        )
        row = CustomerParticipant.objects.get(customer=customer)
        assert (row.user, row.added_by, row.tenant_id) == (
            world.rep_east,
            world.rep_west,
            world.tenant_a.pk,
        )
        grant = CustomerUserObjectPermission.objects.get(content_object=customer)
        assert (grant.user, grant.permission.codename) == (world.rep_east, "change_customer")
        assert can_edit(world.rep_east, Customer.objects.get(pk=customer.pk))


def test_a_model_without_participants_is_refused(world):
    with pytest.raises(LookupError):
        participants.participant_ids(world.tenant_a)
