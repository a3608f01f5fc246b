"""The migrations that put follow-ups and files on "the record they are on" (customers 0011
to 0013) keep every row, on a database holding the demo data: backwards to the lead foreign
keys and forwards again, every follow-up and file keeps its record and its customer."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django_scopes import scopes_disabled

from crm.demo import load_demo
from customers.models import Attachment, Customer, FollowUp
from leads.models import Lead

BEFORE = [("customers", "0010_pool_columns_from_pools")]


def _migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def _latest() -> list[tuple[str, str]]:
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def _rows(model) -> dict[int, tuple]:
    """pk → (record model, record id, customer id), as the current models read them."""
    return {
        pk: (record_type__model, record_id, customer_id)
        for pk, record_type__model, record_id, customer_id in model._base_manager.values_list(
            "pk", "record_type__model", "record_id", "customer_id"
        )
    }


@pytest.mark.django_db(transaction=True)
def test_owned_record_migrations_keep_every_row_of_the_demo_data():
    load_demo()
    with scopes_disabled():
        # Files of every shape: a customer's, an open lead's, a converted lead's.
        customer = Customer.objects.filter(tenant__slug="demo").order_by("pk").first()
        open_lead = Lead.objects.filter(tenant__slug="demo", customer__isnull=True).first()
        converted = Lead.objects.filter(tenant__slug="demo", customer__isnull=False).first()
        author = customer.owner_id or customer.created_by_id
        for record, customer_id in [
            (customer, customer.pk),
            (open_lead, None),
            (converted, converted.customer_id),
        ]:
            Attachment.objects.create(
                tenant_id=record.tenant_id,
                record=record,
                customer_id=customer_id,
                file="tenants/demo/a.pdf",
                original_name="a.pdf",
                size=1,
                uploaded_by_id=author,
            )
        followups, files = _rows(FollowUp), _rows(Attachment)
    shapes = {(model, customer_id is not None) for model, _r, customer_id in followups.values()}
    # The demo holds follow-ups of each shape: customer's, open lead's, converted lead's.
    assert shapes == {("customer", True), ("lead", False), ("lead", True)}
    assert len(followups) > 500

    try:
        _migrate(BEFORE)
        old = MigrationExecutor(connection).loader.project_state(BEFORE).apps
        for name, expected in (("FollowUp", followups), ("Attachment", files)):
            rows = old.get_model("customers", name)._base_manager.values_list(
                "pk", "lead_id", "customer_id"
            )
            back = {pk: (lead_id, customer_id) for pk, lead_id, customer_id in rows}
            assert back == {
                pk: (record_id if model == "lead" else None, customer_id)
                for pk, (model, record_id, customer_id) in expected.items()
            }, name
    finally:
        _migrate(_latest())

    with scopes_disabled():
        assert _rows(FollowUp) == followups
        assert _rows(Attachment) == files
