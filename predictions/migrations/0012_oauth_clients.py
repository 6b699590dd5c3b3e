"""OAuth2 clients (issue 18): what studentperf grants each of oauth2_provider's Applications, the client named on
audit rows and batch jobs, and the model admins' rights over clients and tokens (roles_sync)."""
import django.db.models.deletion
from django.db import migrations, models


def roles_update(apps, schema_editor):
    from predictions.access.roles import roles_sync

    roles_sync(apps=apps)


class Migration(migrations.Migration):

    dependencies = [
        ("predictions", "0011_external_id_per_teacher"),
        ("oauth2_provider", "0022_refreshtoken_token_family_index"),
    ]

    operations = [
        migrations.CreateModel(
            name="OAuthClient",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "scopes",
                    models.JSONField(
                        blank=True, default=list, help_text='Allowed scopes: any of "predict", "read", "write".'
                    ),
                ),
                (
                    "expiry_date",
                    models.DateTimeField(blank=True, help_text="No token is issued or accepted after it.", null=True),
                ),
                ("revoked", models.BooleanField(default=False, help_text="A revoked client cannot be used again.")),
                ("created", models.DateTimeField(auto_now_add=True)),
                (
                    "application",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="studentperf_client",
                        to="oauth2_provider.application",
                    ),
                ),
            ],
            options={
                "verbose_name": "OAuth2 client",
                "verbose_name_plural": "OAuth2 clients",
                "ordering": ["-created"],
            },
        ),
        migrations.AddField(
            model_name="prediction",
            name="oauth_client_id",
            field=models.CharField(
                blank=True, help_text="Client id of the OAuth2 client whose token was used, if any.", max_length=100
            ),
        ),
        migrations.AddField(
            model_name="prediction",
            name="oauth_client_name",
            field=models.CharField(blank=True, help_text="That OAuth2 client's name when it asked.", max_length=255),
        ),
        migrations.AddField(
            model_name="batchjob",
            name="oauth_client_id",
            field=models.CharField(blank=True, max_length=100),
        ),
        migrations.AddField(
            model_name="batchjob",
            name="oauth_client_name",
            field=models.CharField(blank=True, max_length=255),
        ),
        migrations.RunPython(roles_update, migrations.RunPython.noop),
    ]
