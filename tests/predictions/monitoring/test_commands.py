"""`python manage.py check_accuracy`: runs the check now and summarises it per version, with the alerts."""
from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from predictions.models import AccuracyCheck, Alert

from tests.predictions.monitoring.accuracy_helpers import graded_students, opposite_grades

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("check_accuracy", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def contradicted(active_version, dataset, user):
    graded_students(dataset, teacher=user, n=30, grades_for=opposite_grades, seed=41)


def test_prints_a_summary_per_version_and_the_alerts_raised(contradicted, active_version):
    output = run()

    check = AccuracyCheck.objects.get()
    assert output.startswith(f"v{active_version.version}: 30 pairs; Accuracy 0.0%, Precision ")
    assert "RMSE" in output and "(promised 90%)" in output
    assert "drift: none (30 recent records); rejected batch rows: n/a" in output
    alert = Alert.objects.get(kind=Alert.Kind.ACCURACY, check_run=check)
    assert f"  [accuracy] {alert.message} (new)" in output

    assert "(still open, seen 2 times)" in run()


def test_without_outcomes_says_there_is_nothing_to_measure(active_version):
    output = run()

    assert f"v{active_version.version}: 0 pairs; Accuracy n/a" in output
    assert "drift: not enough data (0 recent records, 30 needed)" in output
    assert output.rstrip().endswith("Alerts: none")


def test_json_prints_the_checks_as_the_api_answers_them(contradicted, active_version):
    body = json.loads(run("--json"))

    [check] = body["checks"]
    assert check["model_version"] == active_version.version and check["pairs"] == 30
    assert check["metrics"]["accuracy"] == 0
    assert "accuracy" in {alert["kind"] for alert in check["alerts"]}
