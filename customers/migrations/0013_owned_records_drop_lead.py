# Issue 14.2, step 3 of 3: the record is required and indexed (tenant, record type, record
# id); the lead foreign keys and their indexes go.

import django.db.models.deletion
from django.db import migrations, models


def record_type() -> models.ForeignKey:
    return models.ForeignKey(
        db_index=False,
        on_delete=django.db.models.deletion.PROTECT,
        related_name="+",
        to="contenttypes.contenttype",
        verbose_name="record type",
    )


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0012_owned_records_fill"),
    ]

    operations = [
        migrations.AlterField(model_name="followup", name="record_type", field=record_type()),
        migrations.AlterField(
            model_name="followup",
            name="record_id",
            field=models.PositiveBigIntegerField(verbose_name="record"),
        ),
        migrations.AlterField(model_name="attachment", name="record_type", field=record_type()),
        migrations.AlterField(
            model_name="attachment",
            name="record_id",
            field=models.PositiveBigIntegerField(verbose_name="record"),
        ),
        migrations.RemoveIndex(model_name="followup", name="followup_lead"),
        migrations.RemoveIndex(model_name="attachment", name="attachment_lead"),
        migrations.RemoveField(model_name="followup", name="lead"),
        migrations.RemoveField(model_name="attachment", name="lead"),
        migrations.AddIndex(
            model_name="followup",
            index=models.Index(
                fields=["tenant", "record_type", "record_id", "-followed_at"],
                name="followup_record",
            ),
        ),
        migrations.AddIndex(
            model_name="attachment",
            index=models.Index(
                fields=["tenant", "record_type", "record_id"], name="attachment_record"
            ),
        ),
    ]
