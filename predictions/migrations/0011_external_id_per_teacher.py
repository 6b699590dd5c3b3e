"""external_id unique per teacher and school instead of per school (issue 18, attack 7).

Every existing row satisfies both new constraints (they are looser than the old one), so the old constraint is
dropped only after the new ones exist. Student.teacher becomes PROTECT: SET_NULL would move a deleted teacher's
students among the teacherless ones, where the same id may be taken. A class upload's "not_allowed" row status
says what it now means: the uploader may not add or change students (another teacher's ids are never matched).
"""
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ('predictions', '0010_batch_job_request_id'),
    ]

    operations = [
        migrations.AddConstraint(
            model_name='student',
            constraint=models.UniqueConstraint(
                fields=('teacher', 'school', 'external_id'), name='predictions_student_unique_per_teacher'
            ),
        ),
        migrations.AddConstraint(
            model_name='student',
            constraint=models.UniqueConstraint(
                condition=models.Q(('teacher__isnull', True)), fields=('school', 'external_id'),
                name='predictions_student_unique_without_teacher',
                violation_error_message='A student without a teacher already has this id at this school.',
            ),
        ),
        migrations.RemoveConstraint(
            model_name='student',
            name='predictions_student_unique_per_school',
        ),
        migrations.AlterField(
            model_name='student',
            name='teacher',
            field=models.ForeignKey(
                blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='students',
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name='batchrow',
            name='student_status',
            field=models.CharField(blank=True, choices=[('', 'not asked'), ('created', 'added'), ('updated', 'updated'), ('no_id', 'not saved: no external_id'), ('not_allowed', 'not saved: the uploader may not add or change students')], default='', help_text="What a class upload did with the row's student (empty: saving was not asked, or the row was rejected).", max_length=12),
        ),
    ]
