"""Imports write the field-change events the 增量 / 存量 report counts (wave2 §14.2 R3),
as the customer services do: a created customer's values count as changes from empty, an
overwrite records what it changed (a tag the customer has already is no change), and the
undo of an overwrite records the way back."""

from __future__ import annotations

import pytest
from django_scopes import scopes_disabled

from crm import importing
from crm.models import Option, OptionKind
from customers.models import Customer, CustomerAttrEvent
from tests.customers.factories import make_customer, make_tag, tag_customer
from tests.customers.test_import import confirm, customers, sheet, start

HEADERS = ["客户名称", "客户级别", "标签"]


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _scope(world):
    from django.utils import translation

    from crm.tenancy import tenant_scope

    with tenant_scope(world.tenant_a.pk), translation.override("en"):
        yield


def levels(tenant) -> list[Option]:
    with scopes_disabled():
        found = list(
            Option.objects.filter(tenant=tenant, kind=OptionKind.CUSTOMER_LEVEL).order_by(
                "sort_order", "id"
            )
        )
    assert len(found) >= 2
    return found


def changes(customer) -> set[tuple]:
    with scopes_disabled():
        return {
            (e.field, e.old_value, e.new_value, e.owner_id, e.lifecycle)
            for e in CustomerAttrEvent.objects.filter(customer_id=customer.pk)
        }


def test_a_pool_import_records_each_new_customers_values_from_empty(world):
    level = levels(world.tenant_a)[0]
    job = confirm(
        world.admin_a,
        start(world.admin_a, sheet([["甲客户", level.label, "展会"], ["乙客户", "", ""]], HEADERS)),
    )
    first, second = customers(world.tenant_a, import_job=job)
    with scopes_disabled():
        tag = first.tags.get()
    dev = Customer.Lifecycle.DEVELOPMENT
    assert changes(first) == {
        ("level", "", str(level.pk), None, dev),
        ("deal_status", "", Customer.DealStatus.NONE, None, dev),
        ("lifecycle", "", dev, None, dev),
        ("tag", "", str(tag.pk), None, dev),
    }
    # No level and no tag in the file: only the values every customer starts with.
    assert {c[0] for c in changes(second)} == {"deal_status", "lifecycle"}


def test_an_import_to_employees_attributes_the_values_to_the_new_owner(world):
    level = levels(world.tenant_a)[1]
    job = confirm(
        world.admin_a,
        start(
            world.admin_a,
            sheet([["丙客户", level.label, ""]], HEADERS),
            target="users",
            users=[world.rep_east.pk],
        ),
    )
    (made,) = customers(world.tenant_a, import_job=job)
    assert made.owner_id == world.rep_east.pk
    assert ("level", "", str(level.pk), world.rep_east.pk, "development") in changes(made)


def test_an_overwrite_records_what_changed_and_the_undo_records_the_way_back(world):
    old_level, new_level = levels(world.tenant_a)[:2]
    old = make_customer(world.tenant_a, world.rep_east, "老客户", level=old_level)
    known = make_tag(world.tenant_a, "老标签")
    tag_customer(old, known)
    with scopes_disabled():
        CustomerAttrEvent.objects.filter(customer_id=old.pk).delete()

    job = confirm(
        world.admin_a,
        start(
            world.admin_a,
            sheet([["老客户", new_level.label, "老标签、新标签"]], HEADERS),
            duplicate_mode="overwrite",
        ),
    )
    with scopes_disabled():
        fresh_tag = old.tags.get(name="新标签")
    owner = world.rep_east.pk
    assert changes(old) == {
        ("level", str(old_level.pk), str(new_level.pk), owner, "development"),
        ("tag", "", str(fresh_tag.pk), owner, "development"),  # 老标签 was there already
    }

    with scopes_disabled():
        importing.import_undo(actor=world.admin_a, job=job)
        old.refresh_from_db()
    assert old.level_id == old_level.pk
    assert ("level", str(new_level.pk), str(old_level.pk), owner, "development") in changes(old)
