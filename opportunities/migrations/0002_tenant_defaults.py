from django.db import migrations

# As they were when this migration was written (opportunities.models.DEFAULT_STAGES,
# opportunities.permissions.ROLE_DEFAULTS).
STAGES = [
    ("初步接洽", 10, "open"),
    ("需求确定", 30, "open"),
    ("方案/报价", 50, "open"),
    ("谈判/合同", 80, "open"),
    ("赢单", 100, "won"),
    ("输单", 0, "lost"),
]
ALL_CODES = [
    "opportunity.create",
    "opportunity.transfer",
    "opportunity.delete",
    "opportunity.export",
    "opportunity.reopen",
    "opportunity.settings",
    "product.manage",
    "product.import",
]
ROLE_CODES = {
    "admin": ALL_CODES,
    "sales_manager": [
        "opportunity.create",
        "opportunity.export",
        "opportunity.transfer",
        "opportunity.reopen",
        "opportunity.delete",
    ],
    "sales_rep": ["opportunity.create", "opportunity.export"],
}


def seed(apps, schema_editor):
    """Existing tenants get the default stages, their settings row and the rights of their
    built-in roles."""
    Tenant = apps.get_model("crm", "Tenant")
    Role = apps.get_model("crm", "Role")
    Stage = apps.get_model("opportunities", "OpportunityStage")
    Settings = apps.get_model("opportunities", "OpportunitySettings")
    for tenant_id in Tenant.objects.values_list("id", flat=True):
        if not Stage.objects.filter(tenant_id=tenant_id).exists():
            Stage.objects.bulk_create(
                Stage(
                    tenant_id=tenant_id,
                    name=name,
                    probability=probability,
                    kind=kind,
                    sort=(i + 1) * 10,
                )
                for i, (name, probability, kind) in enumerate(STAGES)
            )
        Settings.objects.get_or_create(tenant_id=tenant_id)
    for role in Role.objects.filter(builtin__in=list(ROLE_CODES)):
        missing = [c for c in ROLE_CODES[role.builtin] if c not in role.permissions]
        if missing:
            role.permissions = [*role.permissions, *missing]
            role.save(update_fields=["permissions"])


class Migration(migrations.Migration):
    dependencies = [
        ("opportunities", "0001_initial"),
    ]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
