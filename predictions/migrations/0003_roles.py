"""The Teacher and Model admin groups with their permissions (predictions.access.roles.ROLE_PERMISSIONS)."""
from django.db import migrations


def roles_create(apps, schema_editor):
    from predictions.access.roles import roles_sync

    roles_sync(apps=apps)


class Migration(migrations.Migration):

    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("modelstore", "0001_initial"),
        ("predictions", "0002_apikey"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="student",
            options={
                "ordering": ["school", "external_id"],
                "permissions": [("view_all_students", "Can see every teacher's students")],
            },
        ),
        # Groups are kept on reverse: other accounts may belong to them.
        migrations.RunPython(roles_create, migrations.RunPython.noop),
    ]
