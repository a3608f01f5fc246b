# Issue 14: a recycle warning names its pooled row generically (content type + id), so that
# the pool engine has no foreign key to a model of a higher app (customers, leads).
# Step 1 of 3: the generic columns, empty, and the old constraints gone (0005 fills the
# columns, 0006 requires them and drops the customer and lead foreign keys).

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("pools", "0003_recycle_warning_leads"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="recyclewarning", name="recyclewarning_unique"),
        migrations.RemoveConstraint(
            model_name="recyclewarning", name="recyclewarning_unique_lead"
        ),
        migrations.RemoveConstraint(
            model_name="recyclewarning", name="recyclewarning_customer_or_lead"
        ),
        migrations.AddField(
            model_name="recyclewarning",
            name="record_type",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="contenttypes.contenttype",
            ),
        ),
        migrations.AddField(
            model_name="recyclewarning",
            name="record_id",
            field=models.PositiveBigIntegerField(null=True),
        ),
    ]
