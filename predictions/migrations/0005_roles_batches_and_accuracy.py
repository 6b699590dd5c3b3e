"""The roles' rights over batch jobs, accuracy checks and alerts (predictions.access.roles.ROLE_PERMISSIONS)."""
from django.db import migrations


def roles_update(apps, schema_editor):
    from predictions.access.roles import roles_sync

    roles_sync(apps=apps)


class Migration(migrations.Migration):

    dependencies = [
        ("predictions", "0004_batches_and_accuracy"),
    ]

    operations = [migrations.RunPython(roles_update, migrations.RunPython.noop)]
