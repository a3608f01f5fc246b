# Issue 14.2: follow-ups and files point at "the record they are on" (customers.owned).
# Step 1 of 3: the generic columns, empty (0012 fills them, 0013 requires them and drops the
# lead foreign keys). The "customer or lead" checks go first, so that backwards they come
# back only once 0012 has given the lead back to the rows on a lead; the record columns,
# required by 0013, replace them.

import django.db.models.deletion
from django.db import migrations, models


def record_type(null: bool) -> models.ForeignKey:
    return models.ForeignKey(
        db_index=False,
        null=null,
        on_delete=django.db.models.deletion.PROTECT,
        related_name="+",
        to="contenttypes.contenttype",
        verbose_name="record type",
    )


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("customers", "0010_pool_columns_from_pools"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="followup", name="followup_has_subject"),
        migrations.RemoveConstraint(model_name="attachment", name="attachment_has_subject"),
        migrations.AddField(
            model_name="followup",
            name="record_type",
            field=record_type(null=True),
        ),
        migrations.AddField(
            model_name="followup",
            name="record_id",
            field=models.PositiveBigIntegerField(null=True, verbose_name="record"),
        ),
        migrations.AddField(
            model_name="attachment",
            name="record_type",
            field=record_type(null=True),
        ),
        migrations.AddField(
            model_name="attachment",
            name="record_id",
            field=models.PositiveBigIntegerField(null=True, verbose_name="record"),
        ),
    ]
