"""Retraining from recorded outcomes on constructed students: what is trained on, what is recorded, the gate."""
from __future__ import annotations

import hashlib

import pytest
from django.utils.timezone import localdate

from modelstore import retraining
from modelstore.ml.data import load_dataset
from modelstore.models import ModelVersion
from predictions.models import Outcome
from predictions.retraining.selectors import retraining_rows
from predictions.retraining.services import model_retrain
from predictions.services import outcome_record
from studentperf.errors import ApplicationError

pytestmark = pytest.mark.django_db


def test_only_current_outcomes_are_trained_on(graded, user):
    corrected, deleted, kept = graded(3, seed=1)
    outcome_record(student=corrected, final_grade=20, user=user)  # a correction: 20 replaces the first grade
    Outcome.objects.filter(student=deleted).delete()  # the outcome was deleted: nothing recorded any more

    rows = retraining_rows()

    # One row per student still holding a current grade, in the order of the students: the corrected grade only.
    assert rows["G3"].tolist() == [20, kept.outcomes.get(is_current=True).final_grade]
    assert rows["absences"].tolist() == [corrected.absences, kept.absences]


def test_retraining_records_provenance_and_offers_a_challenger(small_recipe, graded, active_version, user):
    students = graded(20, seed=2)
    outcome_record(student=students[0], final_grade=0, user=user)  # corrected: trained with 0 only

    result = model_retrain(user=user)

    version = ModelVersion.objects.get(pk=result.version.pk)
    assert version.status == ModelVersion.Status.VALIDATED and version.is_challenger
    assert result.action == "challenger" and version.challenger_set_by == user
    uci = load_dataset()
    # Too few school students: the UCI students were added, and the message says how many are needed.
    assert result.base_added_because.startswith("Only 20 students have a recorded final grade; at least 100")
    assert version.training_data["sources"] == {"uci": len(uci), "school": 20}
    assert version.training_data["rows"] == len(uci) + 20
    recorded = Outcome.objects.filter(is_current=True)
    assert version.training_data["outcomes_from"] == localdate(min(o.recorded_at for o in recorded)).isoformat()
    assert version.training_data["outcomes_to"] == localdate(max(o.recorded_at for o in recorded)).isoformat()
    # The sha256 is that of the exported table: the UCI rows and the 20 current grades, the correction included.
    table = retraining.training_table(school=retraining_rows(), base=uci, reference=uci)
    assert (table["source"] == "school").sum() == 20 and 0 in table.loc[table["source"] == "school", "G3"].tolist()
    digest = hashlib.sha256(retraining.training_table_csv(table)).hexdigest()
    assert version.training_data["sha256"] == digest == version.training_data_sha256
    # Both versions measured on the same 20 students, stored with the version.
    measured = version.metrics["retraining"]
    assert measured["rows"] == 20 and measured["active_version"] == active_version.version
    assert set(measured["figures"]["new"]) == set(measured["figures"]["active"]) >= {"pass_accuracy", "rmse"}
    assert version.metrics["reference"]["setups"]  # the validation gate measured it


def test_unknown_attributes_and_missing_period_grades_are_handled_as_the_recipe_does(graded, settings):
    settings.SCHOOLS = {**settings.SCHOOLS, "ZZ": "A school outside the UCI data"}
    graded(6, seed=3, romantic=None, health=None, school="ZZ")  # a school the UCI data does not have
    graded(4, seed=4, prefix="B", G2=None)  # setup B: only the first period grade known
    uci = load_dataset()

    table = retraining.training_table(school=retraining_rows(), base=None, reference=uci)

    # Every attribute known only from its typical value among the rows (or the UCI data's when no row knows it).
    assert table["romantic"].isin(["yes", "no"]).all() and table["health"].between(1, 5).all()
    assert set(table["school"]) <= {"GP", "MS"}
    assert table["G2"].isna().sum() == 4  # a period grade is never invented
    # The served path and the measurement are given the records as stored: unknown values stay None.
    records = retraining.school_records(retraining_rows())
    assert [record["romantic"] for record in records].count(None) == 6
    assert [record["G2"] for record in records].count(None) == 4


def test_too_few_outcomes_refuse_with_the_number_needed(graded):
    graded(3)

    with pytest.raises(ApplicationError) as refused:
        model_retrain()

    assert "Only 3 student(s) have a recorded final grade" in refused.value.message
    assert f"at least {retraining.MIN_MEASURED_ROWS}" in refused.value.message
    assert "outcomes" in refused.value.fields
    assert not ModelVersion.objects.exists()


def test_a_broken_result_is_rejected_by_the_validation_gate(small_recipe, graded, active_version, monkeypatch):
    graded(12, seed=5)
    trained = retraining.table_train
    # A result that lost a setup: the same gate as any registration refuses it.
    monkeypatch.setattr(retraining, "table_train", lambda table: {
        setup: pipeline for setup, pipeline in trained(table).items() if setup != "C"
    })

    result = model_retrain()

    assert result.action == "rejected"
    assert result.version.status == ModelVersion.Status.REJECTED
    assert "setup(s) C" in result.version.rejection_reason
    assert not ModelVersion.objects.filter(is_challenger=True).exists()
    assert result.version.training_data["sources"]["school"] == 12


@pytest.fixture
def weak_active_version(small_recipe, dataset, graded_sample):
    """The active version: the small recipe trained on 100 other UCI students outside the school's sample."""
    from modelstore import services
    from modelstore.ml.recipe import train_pipelines

    others = dataset.drop(index=graded_sample.index).sample(n=100, random_state=7)
    version = services.model_version_register(pipelines=train_pipelines(others), name="weak")
    return services.model_version_activate(version=version, user=None)


@pytest.fixture
def graded_sample(dataset):
    return dataset.sample(n=120, random_state=6)  # what graded(120, seed=6) draws


def test_activate_if_better_activates_a_version_that_beats_the_active_one(
    small_recipe, graded, weak_active_version, user, monkeypatch
):
    monkeypatch.setattr(retraining, "CV_FOLDS", 5)
    # Enough to train on the school's students alone; this school's final grades run 2 points above the UCI ones.
    graded(120, seed=6, grade=lambda row: min(20, int(row["G3"]) + 2))

    result = model_retrain(activate_if_better=True, user=user)

    figures = result.figures
    assert result.uci_rows == 0 and result.base_added_because == ""
    assert figures["new"]["rmse"] < figures["active"]["rmse"]
    assert figures["new"]["pass_accuracy"] >= figures["active"]["pass_accuracy"]
    assert result.better is True and result.action == "activated"
    assert ModelVersion.objects.get(pk=result.version.pk).status == ModelVersion.Status.ACTIVE

    # Again: now the active version was trained on these students, so it is measured on them in-sample and the
    # cross-validated new one is not better by the rule: it is only offered as the challenger.
    again = model_retrain(activate_if_better=True, user=user)

    assert again.version.metrics["retraining"]["active_trained_on_school"] is True
    assert again.better is False and again.action == "challenger"
    assert ModelVersion.objects.get(pk=result.version.pk).status == ModelVersion.Status.ACTIVE
    assert ModelVersion.objects.get(pk=again.version.pk).is_challenger
