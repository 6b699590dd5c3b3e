# Issue 19: the shadow sweep finds a challenger's newest shadow row in one index descent (model version, id); the
# index also serves every lookup by version, so the foreign key's own index goes.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("modelstore", "0004_challenger_training_data"),
        ("predictions", "0015_alert_kind_retraining"),
    ]

    operations = [
        migrations.AlterField(
            model_name="shadowprediction",
            name="model_version",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name="shadow_predictions",
                to="modelstore.modelversion",
            ),
        ),
        migrations.AddIndex(
            model_name="shadowprediction",
            index=models.Index(fields=["model_version", "id"], name="predictions_shadow_version_id"),
        ),
    ]
