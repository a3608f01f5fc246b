# Issue 14.2, step 2 of 3: every follow-up and file gets its record, set-based, every row
# kept. A row with a lead is on the lead (a converted lead keeps its history; its customer
# stays in ``customer``); a row without one is on its customer. Backwards, the lead comes
# back from the record of the rows that are on a lead.

from django.db import migrations
from django.db.models import F
from django_scopes import scopes_disabled

MODELS = ("FollowUp", "Attachment")


def _types(apps):
    content_types = apps.get_model("contenttypes", "ContentType")
    customer, _ = content_types.objects.get_or_create(app_label="customers", model="customer")
    lead, _ = content_types.objects.get_or_create(app_label="leads", model="lead")
    return customer, lead


def fill_records(apps, schema_editor):
    customer_type, lead_type = _types(apps)
    with scopes_disabled():  # a migration works on every tenant's rows
        for name in MODELS:
            rows = apps.get_model("customers", name)._base_manager
            rows.filter(lead__isnull=False).update(record_type=lead_type, record_id=F("lead_id"))
            rows.filter(lead__isnull=True).update(
                record_type=customer_type, record_id=F("customer_id")
            )


def restore_leads(apps, schema_editor):
    _customer_type, lead_type = _types(apps)
    with scopes_disabled():
        for name in MODELS:
            rows = apps.get_model("customers", name)._base_manager
            rows.filter(record_type=lead_type).update(lead_id=F("record_id"))
            rows.update(record_type=None, record_id=None)


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("customers", "0011_owned_records_columns"),
    ]

    operations = [migrations.RunPython(fill_records, restore_leads)]
