"""crm.bulk.insert_rows: reserved ids, defaults, and no clash with later ORM inserts."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from crm import bulk
from crm.bulk import insert_rows
from crm.tenancy import tenant_scope
from customers.models import Contact, Customer, Tag
from tests.customers.factories import make_customer


def test_insert_rows_returns_ids_fills_defaults_and_leaves_the_sequence_ahead(world):
    first = make_customer(world.tenant_a, world.rep_east, "之前")
    now = timezone.now()
    with tenant_scope(world.tenant_a.pk):
        ids = insert_rows(
            Customer,
            [
                {
                    "tenant_id": world.tenant_a.pk,
                    "name": f"批量{i}",
                    "name_normalized": f"批量{i}",
                    "created_at": now,
                    "updated_at": now,
                    "owner_id": world.rep_east.pk,
                }
                for i in range(3)
            ],
        )
        assert len(set(ids)) == 3 and min(ids) > first.pk
        rows = list(Customer.objects.filter(pk__in=ids).order_by("pk"))
        assert [c.name for c in rows] == ["批量0", "批量1", "批量2"]
        assert {(c.visibility, c.lifecycle, c.remark, c.is_locked) for c in rows} == {
            ("private", "development", "", False)
        }
        assert rows[0].created_at == now
        later = Customer.objects.create(tenant_id=world.tenant_a.pk, name="之后")
        assert later.pk > max(ids)
        assert insert_rows(Tag, []) == []


def _customer_row(world, i, **extra):
    now = timezone.now()
    return {
        "tenant_id": world.tenant_a.pk,
        "name": f"外键{i}",
        "name_normalized": f"外键{i}",
        "created_at": now,
        "updated_at": now,
        **extra,
    }


@pytest.mark.parametrize("set_based", [True, False], ids=["set-based", "per-row"])
def test_insert_rows_refuses_a_missing_reference_on_both_paths(world, settings, set_based):
    settings.IMPORT_SET_BASED_FK_CHECKS = set_based
    with tenant_scope(world.tenant_a.pk):
        ids = insert_rows(
            Customer,
            [_customer_row(world, 1)],
            common={"owner_id": world.rep_east.pk},
        )
        assert Customer.objects.get(pk=ids[0]).owner_id == world.rep_east.pk
        with pytest.raises(IntegrityError), transaction.atomic():
            insert_rows(Customer, [_customer_row(world, 2, owner_id=10**9)])
            # The per-row checks would fire at the commit: now.
            connection.check_constraints()
        assert not Customer.objects.filter(name="外键2").exists()


def test_set_based_checks_switch_the_row_triggers_back_on(world, settings):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    settings.IMPORT_SET_BASED_FK_CHECKS = True
    if not bulk.set_based_checks_allowed():
        pytest.skip("the test role may not set session_replication_role")
    with tenant_scope(world.tenant_a.pk):
        (pk,) = insert_rows(Customer, [_customer_row(world, 3)])
        now = timezone.now()
        contacts = [
            {"tenant_id": world.tenant_a.pk, "customer_id": pk, "name": "王"}
            | {"created_at": now, "updated_at": now}
        ]
        insert_rows(Contact, contacts, ids=False, fresh={"customer_id": [pk]})
        assert Contact.objects.get(customer_id=pk).pk == bulk.last_id(Contact)
        with connection.cursor() as cursor:
            cursor.execute("SHOW session_replication_role")
            assert cursor.fetchone()[0] == "origin"
        with pytest.raises(IntegrityError), transaction.atomic():
            insert_rows(
                Contact, [{**contacts[0], "customer_id": 10**9}], fresh={"customer_id": [pk]}
            )
