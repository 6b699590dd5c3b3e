"""`manage.py retrain`: rows used, both versions' figures, what happened; a CommandError with the reason."""
from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from modelstore import retraining
from modelstore.models import ModelVersion

pytestmark = pytest.mark.django_db


def _retrain(*args) -> str:
    out = io.StringIO()
    call_command("retrain", *args, stdout=out)
    return out.getvalue()


def test_retrain_prints_the_rows_the_figures_of_both_and_the_challenger(small_recipe, graded, active_version):
    graded(15, seed=8)

    output = _retrain("--include-base-data")

    version = ModelVersion.objects.get(is_challenger=True)
    assert "Trained on 410 rows: 15 school students with a recorded final grade, 395 UCI students." in output
    assert "Only 15 students" not in output  # asked for: no explanation needed
    assert f"pass/fail accuracy: new {version.metrics['retraining']['figures']['new']['pass_accuracy']:.1%}" in output
    assert f", active v{active_version.version} " in output
    assert f"v{version.version} passed validation and is now the challenger" in output


def test_retrain_says_why_the_uci_students_were_added(small_recipe, graded, active_version):
    graded(12, seed=9)

    output = _retrain()

    assert f"Only 12 students have a recorded final grade; at least {retraining.MIN_SCHOOL_ROWS} are needed" in output
    assert "so the UCI students were added" in output


def test_retrain_without_enough_outcomes_fails_with_the_reason(graded):
    graded(2)

    with pytest.raises(CommandError, match=r"Only 2 student\(s\) have a recorded final grade; at least 10"):
        _retrain()


def test_retrain_fails_when_validation_rejects_the_result(small_recipe, graded, active_version, monkeypatch):
    graded(12, seed=10)
    trained = retraining.table_train
    monkeypatch.setattr(retraining, "table_train", lambda table: {
        setup: pipeline for setup, pipeline in trained(table).items() if setup != "C"
    })

    with pytest.raises(CommandError, match="rejected by validation; nothing changed"):
        _retrain()

    assert ModelVersion.objects.get(name="retrained").status == ModelVersion.Status.REJECTED


def test_a_school_only_version_rejected_on_the_uci_students_says_so_and_how_to_train_on_both(
    small_recipe, graded, active_version
):
    # A school whose final grade is always the second period's (UCI's has dropouts at 0): trained on it alone, the
    # version's intervals miss the UCI reference students' grades, and validation measures it on those.
    graded(retraining.MIN_SCHOOL_ROWS, seed=11, grade=lambda row: int(row["G2"]))
    out = io.StringIO()

    with pytest.raises(CommandError, match="rejected by validation; nothing changed"):
        call_command("retrain", stdout=out)

    rejected = ModelVersion.objects.get(name="retrained")
    assert rejected.status == ModelVersion.Status.REJECTED and rejected.training_data["sources"]["uci"] == 0
    assert rejected.rejection_reason.startswith("Measured on the reference data")
    assert (
        f"Validation measures every version on the 395 UCI reference students (the published data set), not on "
        f"this school's. This version was trained on the school's {retraining.MIN_SCHOOL_ROWS} students alone"
    ) in out.getvalue()
    assert "To train on both, run `python manage.py retrain --include-base-data`." in out.getvalue()
