"""The scheduled accuracy check on a real worker: beat's task name runs, stores a check and raises the alert."""
from __future__ import annotations

import pytest
from django.conf import settings
from django.core import mail

from predictions.models import AccuracyCheck, Alert

from tests.predictions.monitoring.accuracy_helpers import graded_students, opposite_grades

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_beat_scheduled_check_runs_on_a_worker_and_raises_the_accuracy_alert(
    celery_worker, roles, active_version, dataset, user
):
    graded_students(dataset, teacher=user, n=30, grades_for=opposite_grades, seed=51)
    [task_name] = [entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values() if "accuracy" in entry["task"]]
    from studentperf.celery import app

    check_ids = app.send_task(task_name).get(timeout=120)

    [check] = AccuracyCheck.objects.filter(pk__in=check_ids)
    assert check.model_version == active_version and check.pairs == 30
    assert check.metrics["accuracy"] == 0
    alert = Alert.objects.get(kind=Alert.Kind.ACCURACY)
    assert alert.check_run == check
    assert alert.notified["email"]["status"] == "skipped"  # sent by the worker, per its settings: no ALERT_EMAILS
    assert mail.outbox == []  # nothing was run in this process
