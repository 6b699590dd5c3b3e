"""The accuracy check's descriptive report: per risk band, the pass rate of students with and without an
intervention before their final grade; on the page with its plain label, and in the API."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from predictions.interventions.services import intervention_record
from predictions.monitoring.services import accuracy_check_run
from predictions.monitoring.texts import INTERVENTIONS_NOTE

from tests.conftest import sign_in
from tests.predictions.monitoring.accuracy_helpers import (
    batch_predict,
    check_of,
    dataset_records,
    outcomes_record,
    students_predict,
)

pytestmark = pytest.mark.django_db
LABEL = ("Descriptive, not causal: students who got an intervention may differ from those who did not in ways the "
         "model does not see.")
BANDS = ("high", "medium", "low")


@pytest.fixture
def report(active_version, dataset, user):
    """60 students predicted and graded (their real G3): in each risk band, every other one got an intervention
    before the grade (long before, or the same day), and every third of the others one dated after it (which does
    not count). A batch with G3 is predicted too: its rows are left out. Returns (check, expected bands)."""
    records, grades = dataset_records(dataset, n=60, seed=41)
    predictions = students_predict(records, teacher=user)
    today = timezone.localdate()
    expected = {band: {"with": [0, 0], "without": [0, 0]} for band in BANDS}
    seen = dict.fromkeys(BANDS, 0)
    for prediction, grade in zip(predictions, grades, strict=True):
        place, seen[prediction.risk] = seen[prediction.risk], seen[prediction.risk] + 1
        if place % 2 == 0:
            intervention_record(student=prediction.student, kind="tutoring", user=user,
                                date_done=today - timedelta(days=40) if place % 4 == 0 else today)
            group = "with"
        else:
            if place % 3 == 0:  # after the final grade was recorded: not before it
                intervention_record(student=prediction.student, kind="parent_meeting", date_done=today + timedelta(days=1))
            group = "without"
        expected[prediction.risk][group][0] += 1
        expected[prediction.risk][group][1] += grade >= 10
    assert all(seen[band] >= 4 for band in BANDS), seen  # every band has students with and without
    outcomes_record(predictions, grades, user=user)
    batch_records, batch_grades = dataset_records(dataset, n=20, seed=42)
    batch_predict(batch_records, batch_grades)
    check = check_of(accuracy_check_run(), active_version)
    return check, expected


def test_the_check_counts_students_and_passes_per_band_with_and_without_an_intervention(report):
    check, expected = report

    bands = check.metrics["interventions"]["bands"]

    assert list(bands) == list(BANDS)
    for band in BANDS:
        for group in ("with", "without"):
            students, passed = expected[band][group]
            assert bands[band][group] == {
                "students": students, "passed": passed, "pass_rate": passed / students if students else None,
            }, (band, group)
    assert sum(bands[band][group]["students"] for band in BANDS for group in ("with", "without")) == 60
    assert check.metrics["sources"] == {"student": 60, "batch": 20}  # the batch rows are in the check, not here
    assert check.metrics["interventions"]["note"] == LABEL == INTERVENTIONS_NOTE


def test_an_intervention_after_the_final_grade_does_not_count(active_version, dataset, user):
    records, grades = dataset_records(dataset, n=2, seed=43)
    predictions = students_predict(records, teacher=user)
    outcomes_record(predictions, grades, user=user)
    for prediction in predictions:
        intervention_record(student=prediction.student, kind="counselling",
                            date_done=timezone.localdate() + timedelta(days=3))

    bands = check_of(accuracy_check_run(), active_version).metrics["interventions"]["bands"]

    assert sum(bands[band]["with"]["students"] for band in BANDS) == 0
    assert sum(bands[band]["without"]["students"] for band in BANDS) == 2


def test_a_band_without_students_has_no_pass_rate(active_version):
    [check] = accuracy_check_run()

    assert check.metrics["interventions"]["bands"]["high"]["with"] == {"students": 0, "passed": 0, "pass_rate": None}


def test_the_accuracy_page_shows_the_table_with_its_descriptive_label(report, model_admin):
    check, expected = report
    client = Client()
    sign_in(client, model_admin)

    html = client.get("/monitoring/accuracy/").content.decode()

    assert LABEL in html
    assert '<table class="interventions">' in html
    students, passed = expected["high"]["with"]
    other_students, other_passed = expected["high"]["without"]
    assert (f'<tr><th scope="row">High risk</th><td class="number">{students}</td><td class="number">{passed}</td>'
            f'<td class="number">{passed / students:.1%}</td><td class="number">{other_students}</td>'
            f'<td class="number">{other_passed}</td><td class="number">{other_passed / other_students:.1%}</td></tr>'
            ) in html


def test_a_check_made_before_the_report_says_so_on_the_page(report, model_admin):
    check, _ = report
    del check.metrics["interventions"]
    check.save(update_fields=["metrics"])
    client = Client()
    sign_in(client, model_admin)

    html = client.get("/monitoring/accuracy/").content.decode()

    assert "was made before pass rates with and without interventions were measured" in html
    assert '<table class="interventions">' not in html


def test_the_api_gives_the_report_with_its_note(report, api_client):
    check, expected = report

    metrics = api_client("read").get("/api/v1/monitoring/accuracy").json()["latest"][0]["metrics"]

    assert metrics["interventions"] == check.metrics["interventions"]
    assert metrics["interventions"]["note"] == LABEL
    assert metrics["interventions"]["bands"]["low"]["without"]["students"] == expected["low"]["without"][0]
