"""crm.bulk.insert_rows: reserved ids, defaults, and no clash with later ORM inserts."""

from __future__ import annotations

from django.utils import timezone

from crm.bulk import insert_rows
from crm.tenancy import tenant_scope
from customers.models import Customer, Tag
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
