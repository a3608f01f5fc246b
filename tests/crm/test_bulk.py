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


def test_reserved_ids_are_right_when_the_sequence_is_not_one_run(world):
    """Ids nobody interleaved with come back as a range; otherwise (here: a sequence that
    counts in twos) as the values themselves."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    first = bulk.reserve_ids(Tag, 3)
    assert first == list(range(first[0], first[0] + 3))
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence('customers_tag', 'id')")
        cursor.execute(f"ALTER SEQUENCE {cursor.fetchone()[0]} INCREMENT BY 2")
    spaced = bulk.reserve_ids(Tag, 3)
    assert spaced == [spaced[0], spaced[0] + 2, spaced[0] + 4] and spaced[0] > first[-1]


def test_meanwhile_gets_the_ids_and_prepared_rows_go_in_after(world):
    now = timezone.now()
    seen = {}

    def prepare(ids):
        seen["ids"] = ids
        seen["contacts"] = bulk.prepare_rows(
            Contact,
            [{"customer_id": pk, "name": f"联系人{pk}"} for pk in ids],
            common={"tenant_id": world.tenant_a.pk, "created_at": now, "updated_at": now},
            ids=False,
        )

    with tenant_scope(world.tenant_a.pk):
        ids = insert_rows(
            Customer, [_customer_row(world, 5), _customer_row(world, 6)], meanwhile=prepare
        )
        assert seen["ids"] == ids
        bulk.insert_prepared(seen["contacts"], fresh={"customer_id": ids})
        assert sorted(
            Contact.objects.filter(customer_id__in=ids).values_list("name", flat=True)
        ) == [f"联系人{pk}" for pk in sorted(ids)]
