# Issue 19: the challenger's shadow predictions, and the comparison stored with each accuracy check.

import django.db.models.deletion
from django.db import migrations, models


def roles_update(apps, schema_editor):
    from predictions.access.roles import roles_sync

    roles_sync(apps=apps)  # model admins may view the shadow predictions in the admin


class Migration(migrations.Migration):

    dependencies = [
        ("modelstore", "0004_challenger_training_data"),
        ("predictions", "0013_api_key_last_used"),
    ]

    operations = [
        migrations.AddField(
            model_name="accuracycheck",
            name="challenger",
            field=models.JSONField(
                blank=True, default=dict,
                help_text="The active version compared with the challenger on the same students (issue 19; "
                "predictions.monitoring.challenger); empty when there was no challenger.",
            ),
        ),
        migrations.CreateModel(
            name="ShadowPrediction",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("setup", models.CharField(choices=[("A", "A"), ("B", "B"), ("C", "C")], max_length=1)),
                ("predicted_grade", models.FloatField()),
                ("pass_probability", models.FloatField()),
                ("interval_low", models.FloatField()),
                ("interval_high", models.FloatField()),
                ("interval_coverage", models.FloatField()),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("model_version", models.ForeignKey(
                    on_delete=django.db.models.deletion.PROTECT, related_name="shadow_predictions",
                    to="modelstore.modelversion",
                )),
                ("prediction", models.ForeignKey(
                    on_delete=django.db.models.deletion.PROTECT, related_name="shadows", to="predictions.prediction",
                )),
            ],
            options={
                "ordering": ["-created_at", "-id"],
                "constraints": [
                    models.UniqueConstraint(fields=("prediction", "model_version"), name="predictions_shadow_once"),
                ],
            },
        ),
        migrations.RunPython(roles_update, migrations.RunPython.noop),
    ]
