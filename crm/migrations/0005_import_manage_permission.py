"""The built-in administrator roles gain ``import.manage`` (issue 14): before it, every holder
of an import right opened everyone's imports; now only their creator and holders of
``import.manage`` do. New tenants' administrators get every code (crm.services)."""

from django.db import migrations

CODE = "import.manage"


def grant(apps, schema_editor):
    from django_scopes import scopes_disabled

    Role = apps.get_model("crm", "Role")
    with scopes_disabled():
        for role in Role.objects.filter(builtin="admin"):
            if CODE not in role.permissions:
                role.permissions = [*role.permissions, CODE]
                role.save(update_fields=["permissions"])


def revoke(apps, schema_editor):
    from django_scopes import scopes_disabled

    Role = apps.get_model("crm", "Role")
    with scopes_disabled():
        for role in Role.objects.filter(builtin="admin"):
            if CODE in role.permissions:
                role.permissions = [c for c in role.permissions if c != CODE]
                role.save(update_fields=["permissions"])


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0004_importjob_kind_leads"),
    ]

    operations = [
        migrations.RunPython(grant, revoke),
    ]
