"""The customer events the reports count (wave2 §14.2 R1–R3): the lifecycle on every
ownership event, became_signed, the owners of deleted / restored / merged events, and the
field-change events (CustomerAttrEvent) of every service that changes a status-like field
or a tag, written in bulk by the batch actions."""

from __future__ import annotations

import datetime
import importlib

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_scopes import scopes_disabled

from crm.models import OptionKind
from customers import pooling, services
from customers.models import Customer, CustomerAttrEvent, OwnershipEvent
from leads import conversion
from pools import recycling, selectors
from tests.customers.factories import (
    events,
    fresh,
    make_customer,
    make_tag,
    option,
    tag_customer,
)
from tests.leads.factories import make_lead
from tests.pools.factories import make_group, owned, pooled, return_reason

DEV = Customer.Lifecycle.DEVELOPMENT
SIGNED = Customer.Lifecycle.SIGNED


def attr_events(customer, field=None) -> list[CustomerAttrEvent]:
    with scopes_disabled():
        qs = CustomerAttrEvent.objects.filter(customer_id=customer.pk).order_by("id")
        return list(qs.filter(field=field) if field else qs)


def rows(event: CustomerAttrEvent) -> tuple:
    return (event.field, event.old_value, event.new_value, event.owner_id, event.lifecycle)


def options(tenant, kind, count=2):
    from crm.models import Option

    with scopes_disabled():
        found = list(Option.objects.filter(tenant=tenant, kind=kind).order_by("sort_order", "id"))
    assert len(found) >= count
    return found[:count]


@pytest.fixture
def east_pool(world):
    return make_group(
        world.tenant_a, "华东公海", departments=[world.east], admins=[world.rep_east2]
    )


# ---------------------------------------------------------------- create / update


def test_create_writes_its_first_values_as_changes_from_empty(world, scoped):
    status = option(world.tenant_a, OptionKind.CUSTOMER_STATUS)
    level = option(world.tenant_a, OptionKind.CUSTOMER_LEVEL)
    tag = make_tag(world.tenant_a, "重点")
    with scoped(world.rep_east):
        customer = services.customer_create(
            actor=world.rep_east,
            data={"name": "新建客户", "status": status, "level": level},
            tags=[tag],
        )
    [created] = events(customer)
    assert (created.kind, created.to_user_id, created.lifecycle) == (
        OwnershipEvent.Kind.CREATED,
        world.rep_east.pk,
        DEV,
    )
    owner = world.rep_east.pk
    assert sorted(rows(e) for e in attr_events(customer)) == sorted(
        [
            ("status", "", str(status.pk), owner, DEV),
            ("level", "", str(level.pk), owner, DEV),
            ("deal_status", "", "none", owner, DEV),
            ("lifecycle", "", "development", owner, DEV),
            ("tag", "", str(tag.pk), owner, DEV),
        ]
    )
    assert {e.at for e in attr_events(customer)} == {created.created_at}


def test_create_into_the_pool_names_no_owner(world, scoped):
    with scoped(world.admin_a):
        customer = services.customer_create(
            actor=world.admin_a, data={"name": "公海新建"}, owner=None
        )
    assert [e.owner_id for e in attr_events(customer)] == [None, None]
    assert [e.field for e in attr_events(customer)] == ["deal_status", "lifecycle"]


def test_update_writes_one_event_per_changed_value_and_tag(world, scoped):
    first, second = options(world.tenant_a, OptionKind.CUSTOMER_STATUS)
    kept, dropped, added = (make_tag(world.tenant_a, n) for n in ("甲", "乙", "丙"))
    customer = make_customer(world.tenant_a, world.rep_east, status=first, lifecycle=SIGNED)
    tag_customer(customer, kept, dropped)
    with scoped(world.rep_east):
        services.customer_update(
            actor=world.rep_east,
            customer=fresh(customer),
            data={"status": second, "remark": "改了"},
            tags=[kept, added],
        )
    owner = world.rep_east.pk
    assert sorted(rows(e) for e in attr_events(customer)) == sorted(
        [
            ("status", str(first.pk), str(second.pk), owner, SIGNED),
            ("tag", "", str(added.pk), owner, SIGNED),
            ("tag", str(dropped.pk), "", owner, SIGNED),
        ]
    )


def test_update_without_a_change_of_those_values_writes_nothing(world, scoped):
    status = option(world.tenant_a, OptionKind.CUSTOMER_STATUS)
    tag = make_tag(world.tenant_a, "甲")
    customer = make_customer(world.tenant_a, world.rep_east, status=status)
    tag_customer(customer, tag)
    with scoped(world.rep_east):
        services.customer_update(
            actor=world.rep_east,
            customer=fresh(customer),
            data={"status": status, "remark": "只改备注"},
            tags=[tag],
        )
    assert attr_events(customer) == []


# ---------------------------------------------------------------- batch actions


def test_status_set_writes_one_event_per_changed_customer(world, scoped):
    first, second = options(world.tenant_a, OptionKind.CUSTOMER_STATUS)
    changing = make_customer(world.tenant_a, world.rep_east, status=first)
    empty = make_customer(world.tenant_a, world.rep_east)
    same = make_customer(world.tenant_a, world.rep_east, status=second)
    with scoped(world.rep_east):
        services.customer_status_set(
            actor=world.rep_east, customers=[changing, empty, same], status=second
        )
    owner = world.rep_east.pk
    assert [rows(e) for e in attr_events(changing)] == [
        ("status", str(first.pk), str(second.pk), owner, DEV)
    ]
    assert [rows(e) for e in attr_events(empty)] == [("status", "", str(second.pk), owner, DEV)]
    assert attr_events(same) == []
    assert fresh(changing).status_id == second.pk and fresh(empty).status_id == second.pk


def test_tags_change_writes_one_event_per_link_added_or_removed(world, scoped):
    old, new = make_tag(world.tenant_a, "旧"), make_tag(world.tenant_a, "新")
    tagged = make_customer(world.tenant_a, world.rep_east)
    tag_customer(tagged, old)
    done = make_customer(world.tenant_a, world.rep_east)
    tag_customer(done, new)
    with scoped(world.rep_east):
        services.customer_tags_change(
            actor=world.rep_east, customers=[tagged, done], add=[new], remove=[old]
        )
    owner = world.rep_east.pk
    assert sorted(rows(e) for e in attr_events(tagged)) == sorted(
        [("tag", "", str(new.pk), owner, DEV), ("tag", str(old.pk), "", owner, DEV)]
    )
    assert attr_events(done) == []
    with scopes_disabled():
        assert list(fresh(tagged).tags.values_list("pk", flat=True)) == [new.pk]


# The edit check (customers.policies.may_edit → crm.visibility.can_see) asks one EXISTS
# per customer before any write; it is not part of the writes measured here.
EDIT_CHECK = 'SELECT 1 AS "a" FROM "customers_customer"'


def _queries(action) -> tuple[int, int]:
    """(queries of the action besides the per-customer edit check, edit checks)."""
    with CaptureQueriesContext(connection) as captured:
        action()
    sql = [q["sql"] for q in captured.captured_queries]
    checks = sum(1 for q in sql if q.startswith(EDIT_CHECK))
    return len(sql) - checks, checks


@pytest.mark.parametrize("action", ["status", "tags"])
def test_batch_actions_run_the_same_queries_for_5_or_20_customers(world, scoped, action):
    first, second = options(world.tenant_a, OptionKind.CUSTOMER_STATUS)
    old, new = make_tag(world.tenant_a, "旧"), make_tag(world.tenant_a, "新")

    def batch(size):
        made = [make_customer(world.tenant_a, world.rep_east, status=first) for _n in range(size)]
        for customer in made:
            tag_customer(customer, old)
        return made

    def run(customers):
        if action == "status":
            services.customer_status_set(actor=world.rep_east, customers=customers, status=second)
        else:
            services.customer_tags_change(
                actor=world.rep_east, customers=customers, add=[new], remove=[old]
            )

    warm, small, large = batch(1), batch(5), batch(20)
    with scoped(world.rep_east):
        run(warm)  # caches filled (content types) before measuring
        counts = [_queries(lambda c=c: run(c)) for c in (small, large)]
    (writes_small, checks_small), (writes_large, checks_large) = counts
    assert (checks_small, checks_large) == (5, 20)
    assert writes_small == writes_large
    per_customer = 1 if action == "status" else 2
    with scopes_disabled():
        assert CustomerAttrEvent.objects.filter(tenant=world.tenant_a).count() == 26 * per_customer


# ---------------------------------------------------------------- lifecycle changes


def test_mark_signed_writes_became_signed_and_the_changes_once(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east)
    with scoped(world.rep_east):
        services.customer_mark_signed(actor=world.rep_east, customer=customer)
        services.customer_mark_signed(actor=world.rep_east, customer=fresh(customer))
    [event] = events(customer)
    assert event.kind == OwnershipEvent.Kind.BECAME_SIGNED
    assert (event.from_user_id, event.to_user_id, event.actor_id) == (
        world.rep_east.pk,
        world.rep_east.pk,
        world.rep_east.pk,
    )
    assert event.lifecycle == DEV  # it leaves the development view
    owner = world.rep_east.pk
    assert sorted(rows(e) for e in attr_events(customer)) == [
        ("deal_status", "none", "deal", owner, SIGNED),
        ("lifecycle", "development", "signed", owner, SIGNED),
    ]


def test_back_to_development_counts_in_the_development_view(world, scoped):
    customer = make_customer(
        world.tenant_a,
        world.rep_east,
        lifecycle=SIGNED,
        deal_status=Customer.DealStatus.DEAL,
        signed_at=timezone.now(),
    )
    with scoped(world.admin_a):
        services.customer_back_to_development(actor=world.admin_a, customer=customer)
    [event] = events(customer)
    assert (event.kind, event.lifecycle) == (OwnershipEvent.Kind.SIGNED_BACK, DEV)
    owner = world.rep_east.pk
    assert sorted(rows(e) for e in attr_events(customer)) == [
        ("deal_status", "deal", "none", owner, DEV),
        ("lifecycle", "signed", "development", owner, DEV),
    ]


# ---------------------------------------------------------------- delete, restore, merge


def test_trash_and_restore_name_the_owner_losing_and_gaining(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, lifecycle=SIGNED)
    with scoped(world.admin_a):
        services.customer_trash(actor=world.admin_a, customers=[customer])
        services.customer_restore(actor=world.admin_a, customers=[customer])
    deleted, restored = events(customer)
    assert (deleted.kind, deleted.from_user_id, deleted.to_user_id, deleted.lifecycle) == (
        OwnershipEvent.Kind.DELETED,
        world.rep_east.pk,
        None,
        SIGNED,
    )
    assert (restored.kind, restored.from_user_id, restored.to_user_id, restored.lifecycle) == (
        OwnershipEvent.Kind.RESTORED,
        None,
        world.rep_east.pk,
        SIGNED,
    )


def test_merge_names_the_losing_owner_and_records_the_tags_the_kept_one_gains(world, scoped):
    shared, gained = make_tag(world.tenant_a, "共有"), make_tag(world.tenant_a, "带来")
    keep = make_customer(world.tenant_a, world.rep_east)
    tag_customer(keep, shared)
    other = make_customer(world.tenant_a, world.rep_west, lifecycle=SIGNED)
    tag_customer(other, shared, gained)
    with scoped(world.admin_a):
        services.customer_merge(actor=world.admin_a, keep=keep, others=[other])
    [merged] = events(keep, OwnershipEvent.Kind.MERGED)
    assert (merged.from_user_id, merged.to_user_id, merged.lifecycle) == (
        world.rep_west.pk,
        world.rep_east.pk,
        SIGNED,
    )
    assert [rows(e) for e in attr_events(keep)] == [
        ("tag", "", str(gained.pk), world.rep_east.pk, DEV)
    ]


# ---------------------------------------------------------------- owner changes


def test_owner_changes_carry_the_lifecycle_of_the_customer(world, scoped, east_pool):
    signed = pooled(east_pool, "签约公海", lifecycle=SIGNED)
    development = make_customer(world.tenant_a, world.rep_east, pool_group=east_pool)
    with scoped(world.rep_east):
        pooling.customer_claim(actor=world.rep_east, customers=[signed])
        services.customer_transfer(
            actor=world.admin_a, customers=[signed, development], to_user=world.rep_east2
        )
        pooling.customer_return(
            actor=world.admin_a, customers=[signed], reason=return_reason(world.tenant_a)
        )
    kinds = [(e.kind, e.lifecycle) for e in events(signed)]
    assert kinds == [
        (OwnershipEvent.Kind.CLAIMED, SIGNED),
        (OwnershipEvent.Kind.TRANSFERRED, SIGNED),
        (OwnershipEvent.Kind.RETURNED, SIGNED),
    ]
    [transfer] = events(development)
    assert (transfer.lifecycle, transfer.from_user_id) == (DEV, world.rep_east.pk)


def test_engine_moves_and_recycling_carry_the_lifecycle(world, scoped, east_pool):
    west_pool = make_group(world.tenant_a, "华西公海", admins=[world.rep_east2])
    lying = pooled(east_pool, "挪动", lifecycle=SIGNED)
    with scoped(world.rep_east2):
        pooling.customer_move(actor=world.rep_east2, customers=[lying], group=west_pool)
    [moved] = events(lying)
    assert (moved.kind, moved.lifecycle) == (OwnershipEvent.Kind.MOVED, SIGNED)

    long_ago = timezone.now() - datetime.timedelta(days=400)
    with scopes_disabled():
        east_pool.recycle_no_followup_days = 10
        east_pool.exempt_signed = False
        east_pool.save()
    due = owned(east_pool, world.rep_east, "到期签约", since=long_ago, lifecycle=SIGNED)
    with scopes_disabled():
        group = selectors.groups_with_rules().get(pk=east_pool.pk)
    with scoped(world.rep_east):
        recycling.recycle_group(group)
    [recycled] = events(due)
    assert (recycled.kind, recycled.from_user_id, recycled.lifecycle) == (
        OwnershipEvent.Kind.RECYCLED,
        world.rep_east.pk,
        SIGNED,
    )


def test_lead_conversion_writes_converted_with_lifecycle_and_first_values(world, scoped):
    lead = make_lead(world.tenant_a, world.rep_east, "线索公司")
    with scoped(world.rep_east):
        customer = conversion.lead_convert(actor=world.rep_east, lead=lead)
    [event] = events(customer)
    assert (event.kind, event.to_user_id, event.lifecycle) == (
        OwnershipEvent.Kind.CONVERTED,
        world.rep_east.pk,
        DEV,
    )
    assert {e.field for e in attr_events(customer)} >= {"deal_status", "lifecycle"}
    assert {e.owner_id for e in attr_events(customer)} == {world.rep_east.pk}


# ---------------------------------------------------------------- tenants, migration


def test_events_stay_in_the_tenant_of_the_customer(world, scoped):
    status = option(world.tenant_a, OptionKind.CUSTOMER_STATUS)
    customer = make_customer(world.tenant_a, world.rep_east)
    with scoped(world.rep_east):
        services.customer_status_set(actor=world.rep_east, customers=[customer], status=status)
        services.customer_mark_signed(actor=world.rep_east, customer=fresh(customer))
    with scopes_disabled():
        assert not CustomerAttrEvent.objects.filter(tenant=world.tenant_b).exists()
        assert not OwnershipEvent.objects.filter(tenant=world.tenant_b).exists()
        assert set(CustomerAttrEvent.objects.values_list("tenant_id", flat=True)) == {
            world.tenant_a.pk
        }
    # The other tenant's scope sees none of them.
    with scoped(world.rep_b):
        assert CustomerAttrEvent.objects.count() == 0


def test_migration_backfills_the_current_lifecycle(world):
    migration = importlib.import_module("customers.migrations.0014_ownership_lifecycle_attr_events")
    signed = make_customer(world.tenant_a, world.rep_east, lifecycle=SIGNED)
    with scopes_disabled():
        transfer = OwnershipEvent.objects.create(
            tenant=world.tenant_a, customer=signed, kind=OwnershipEvent.Kind.TRANSFERRED
        )
        back = OwnershipEvent.objects.create(
            tenant=world.tenant_a, customer=signed, kind=OwnershipEvent.Kind.SIGNED_BACK
        )
    assert fresh(transfer).lifecycle == DEV  # the column's default before the backfill
    migration.backfill_lifecycle(apps, None)
    assert fresh(transfer).lifecycle == SIGNED
    assert fresh(back).lifecycle == DEV


# ---------------------------------------------------------------- demo


def test_demo_history_leads_to_each_customers_values(db):
    from crm.demo import load_demo

    load_demo()
    now = timezone.now()
    with scopes_disabled():
        tenant_id = Customer.objects.order_by("pk").first().tenant_id
        customers = list(Customer.objects.filter(tenant_id=tenant_id))
        history = list(CustomerAttrEvent.objects.filter(tenant_id=tenant_id).order_by("at", "id"))
        signings = set(
            OwnershipEvent.objects.filter(
                tenant_id=tenant_id, kind=OwnershipEvent.Kind.BECAME_SIGNED
            ).values_list("customer_id", flat=True)
        )
        pool_events = list(
            OwnershipEvent.objects.filter(
                tenant_id=tenant_id,
                kind__in=[OwnershipEvent.Kind.RETURNED, OwnershipEvent.Kind.RECYCLED],
            ).select_related("customer")
        )
        tags = {c.pk: {str(pk) for pk in c.tags.values_list("pk", flat=True)} for c in customers}
    # Replaying the events gives every customer its values and tags.
    replay: dict[int, dict] = {}
    for event in history:
        values = replay.setdefault(event.customer_id, {"tag": set()})
        if event.field == CustomerAttrEvent.TAG:
            values["tag"].add(event.new_value)
        else:
            assert values.get(event.field, "") == event.old_value
            values[event.field] = event.new_value
    for customer in customers:
        values = replay[customer.pk]
        assert values.get("status", "") == str(customer.status_id or "")
        assert values.get("level", "") == str(customer.level_id or "")
        assert values["lifecycle"] == customer.lifecycle
        assert values["deal_status"] == customer.deal_status
        assert values["tag"] == tags[customer.pk]
    assert signings == {c.pk for c in customers if c.lifecycle == SIGNED}
    assert all(e.lifecycle == e.customer.lifecycle for e in pool_events)
    # Status changes spread over the last 12 months, none in the future.
    changes = [e.at for e in history if e.field == "status" and e.old_value]
    assert changes and max(changes) <= now
    months = {(now - at).days // 31 for at in changes if (now - at).days < 365}
    assert len(months) >= 10
