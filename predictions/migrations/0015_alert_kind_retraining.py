# Issue 19: a scheduled retraining that could not run (too few outcomes, or rejected by validation) is an alert.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('predictions', '0014_shadow_predictions'),
    ]

    operations = [
        migrations.AlterField(
            model_name='alert',
            name='kind',
            field=models.CharField(choices=[('accuracy', 'Accuracy below threshold'), ('coverage', 'Interval coverage below its promise'), ('drift', 'Input drift'), ('failures', 'Failed predictions rising'), ('retraining', 'Scheduled retraining could not run')], max_length=16),
        ),
    ]
