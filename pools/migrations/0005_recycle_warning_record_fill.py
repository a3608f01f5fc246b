# Issue 14, step 2 of 3: every warning keeps its row: a warning about a customer names the
# customer's content type and id, one about a lead the lead's (and back again).

from django.db import migrations
from django.db.models import F
from django_scopes import scopes_disabled

# (app label, model, the old foreign key's column)
KINDS = (("customers", "customer", "customer_id"), ("leads", "lead", "lead_id"))


def forwards(apps, schema_editor):
    warning = apps.get_model("pools", "RecycleWarning")
    content_type = apps.get_model("contenttypes", "ContentType")
    with scopes_disabled():
        for app_label, model, column in KINDS:
            rows = warning.objects.filter(**{f"{column}__isnull": False})
            if rows.exists():
                kind = content_type.objects.get_or_create(app_label=app_label, model=model)[0]
                rows.update(record_type=kind, record_id=F(column))


def backwards(apps, schema_editor):
    warning = apps.get_model("pools", "RecycleWarning")
    content_type = apps.get_model("contenttypes", "ContentType")
    with scopes_disabled():
        for app_label, model, column in KINDS:
            kind = content_type.objects.filter(app_label=app_label, model=model).first()
            if kind is not None:
                warning.objects.filter(record_type=kind).update(**{column: F("record_id")})


class Migration(migrations.Migration):
    dependencies = [("pools", "0004_recycle_warning_record_columns")]

    operations = [migrations.RunPython(forwards, backwards)]
