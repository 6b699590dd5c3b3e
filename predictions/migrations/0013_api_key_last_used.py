# Issue 19: the API key list's "last used" column (predictions.access.api_keys.api_key_use_record).
# Depends on 0012; the lead orders it after the other 0013 of the issue.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("predictions", "0012_oauth_clients"),
    ]

    operations = [
        migrations.AddField(
            model_name="apikey",
            name="last_used",
            field=models.DateTimeField(
                blank=True, editable=False, null=True,
                help_text="When a request last authenticated with the key (recorded after the response, at most once "
                "a minute).",
            ),
        ),
    ]
