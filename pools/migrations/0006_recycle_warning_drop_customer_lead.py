# Issue 14, step 3 of 3: the generic columns are required and unique per row and date; the
# foreign keys to customers and leads go.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("pools", "0005_recycle_warning_record_fill")]

    operations = [
        migrations.AlterField(
            model_name="recyclewarning",
            name="record_type",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="contenttypes.contenttype",
            ),
        ),
        migrations.AlterField(
            model_name="recyclewarning",
            name="record_id",
            field=models.PositiveBigIntegerField(),
        ),
        migrations.RemoveField(model_name="recyclewarning", name="customer"),
        migrations.RemoveField(model_name="recyclewarning", name="lead"),
        migrations.AddConstraint(
            model_name="recyclewarning",
            constraint=models.UniqueConstraint(
                fields=("tenant", "record_type", "record_id", "recycle_on"),
                name="recyclewarning_unique_record",
            ),
        ),
    ]
