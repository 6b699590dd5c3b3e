"""The accuracy check: its figures are scikit-learn's on the same pairs, per subgroup too; drift; counts."""
from __future__ import annotations

import copy
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from django.utils import timezone
from scipy.stats import chi2_contingency, ks_2samp
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    precision_score,
    recall_score,
    roc_auc_score,
)

from modelstore import services as model_services
from predictions.models import AccuracyCheck, Prediction
from predictions.monitoring.accuracy import reliability_table
from predictions.monitoring.selectors import accuracy_check_latest_list, accuracy_check_list
from predictions.monitoring.services import accuracy_check_run
from predictions.selectors import student_record_get
from predictions.services import outcome_record, prediction_create, student_update

from tests.predictions.monitoring.accuracy_helpers import (
    batch_predict,
    check_of,
    dataset_records,
    outcomes_record,
    students_predict,
    unusual_students,
)

pytestmark = pytest.mark.django_db


def expected_metrics(pairs: list[tuple[Prediction, int]]) -> dict:
    """The figures computed here, independently, with scikit-learn on (prediction, final grade) pairs."""
    grades = np.array([grade for _, grade in pairs])
    probability = np.array([prediction.pass_probability for prediction, _ in pairs])
    predicted = np.array([prediction.predicted_grade for prediction, _ in pairs])
    truth, called = (grades < 10).astype(int), (probability < 0.5).astype(int)  # positive class: fail
    low = np.array([prediction.interval_low for prediction, _ in pairs])
    high = np.array([prediction.interval_high for prediction, _ in pairs])
    return {
        "accuracy": accuracy_score(truth, called),
        "precision": precision_score(truth, called),
        "recall": recall_score(truth, called),
        "f1": f1_score(truth, called),
        "roc_auc": roc_auc_score(truth, 1 - probability),
        "brier": float(np.mean((probability - (grades >= 10)) ** 2)),  # the pass side: chance of passing vs passed
        "rmse": mean_squared_error(grades, predicted) ** 0.5,
        "mae": mean_absolute_error(grades, predicted),
        "interval_coverage": float(np.mean((low <= grades) & (grades <= high))),
        "stated_coverage": 0.9,
        "pairs": len(pairs),
        "passes": int((grades >= 10).sum()),
        "fails": int((grades < 10).sum()),
        "flagged": int(called.sum()),
    }


def expected_unusual(pairs: list[tuple[Prediction, int]]) -> dict:
    """The figures of one group of pairs (flagged unusual or not), by scikit-learn here: 0 pairs and None without."""
    if not pairs:
        return {"pairs": 0, "accuracy": None, "mae": None, "interval_coverage": None}
    grades = np.array([grade for _, grade in pairs])
    low = np.array([prediction.interval_low for prediction, _ in pairs])
    high = np.array([prediction.interval_high for prediction, _ in pairs])
    return {
        "pairs": len(pairs),
        "accuracy": accuracy_score(grades < 10, [prediction.pass_probability < 0.5 for prediction, _ in pairs]),
        "mae": mean_absolute_error(grades, [prediction.predicted_grade for prediction, _ in pairs]),
        "interval_coverage": float(np.mean((low <= grades) & (grades <= high))),
    }


def expected_reliability(pairs: list[tuple[Prediction, int]]) -> list[dict]:
    """The reliability table by hand: each pair in band floor(10 * chance) (1.0 in the top band), non-empty bands."""
    bands: dict[int, list[tuple[float, bool]]] = {}
    for prediction, grade in pairs:
        bands.setdefault(min(int(prediction.pass_probability * 10), 9), []).append(
            (prediction.pass_probability, grade >= 10))
    return [
        {"low": band / 10, "high": (band + 1) / 10, "pairs": len(members),
         "mean_pass_probability": sum(chance for chance, _ in members) / len(members),
         "pass_rate": sum(passed for _, passed in members) / len(members)}
        for band, members in sorted(bands.items())
    ]


def assert_reliability(actual: list[dict], expected: list[dict]) -> None:
    assert [(band["low"], band["high"], band["pairs"]) for band in actual] == [
        (band["low"], band["high"], band["pairs"]) for band in expected]
    for got, want in zip(actual, expected, strict=True):
        for name in ("mean_pass_probability", "pass_rate"):
            assert got[name] == pytest.approx(want[name], rel=1e-12, abs=1e-12), (want["low"], name)


def assert_figures(actual: dict, expected: dict) -> None:
    for name, value in expected.items():
        assert actual[name] == pytest.approx(value, rel=1e-12, abs=1e-12), name


@pytest.fixture
def known_pairs(active_version, dataset, user):
    """Students and batch rows with final grades, built through the real services: the pairs the check must use.

    Student 0 is predicted again after a change (its later prediction counts), student 1 again after the grade
    was recorded (not a forecast: ignored), student 2's grade is corrected (the current one counts). The batch
    has rows with G3, rows without G3 and rejected rows (neither is a pair).
    """
    records, grades = dataset_records(dataset, n=40, seed=1)
    predictions = students_predict(records, teacher=user)
    student = student_update(student=predictions[0].student, data={"G2": 18, "absences": 0})
    predictions[0] = prediction_create(
        record=student_record_get(student=student), source=Prediction.Source.WEB, user=user, student=student
    )
    outcomes_record(predictions, grades, user=user)
    prediction_create(record=student_record_get(student=predictions[1].student), source="web", student=predictions[1].student)
    corrected = 20 - grades[2]
    outcome_record(student=predictions[2].student, final_grade=corrected, user=user)
    grades[2] = corrected

    batch_records, batch_grades = dataset_records(dataset, n=30, seed=2)
    batch = batch_predict(batch_records, batch_grades[:25] + [None] * 5, rejected=3)
    return list(zip(predictions, grades)) + list(zip(batch[:25], batch_grades[:25]))


def test_accuracy_figures_equal_scikit_learn_on_the_same_pairs(known_pairs, active_version):
    check = check_of(accuracy_check_run(), active_version)

    assert check.pairs == 65
    assert_figures(check.metrics, expected_metrics(known_pairs))
    assert check.metrics["positive_class"] == "fail"
    assert check.metrics["sources"] == {"student": 40, "batch": 25}


def test_brier_and_reliability_are_of_the_pass_chance_against_passing(known_pairs, active_version):
    check = check_of(accuracy_check_run(), active_version)

    grades = np.array([grade for _, grade in known_pairs])
    probability = np.array([prediction.pass_probability for prediction, _ in known_pairs])
    assert check.metrics["brier"] == pytest.approx(brier_score_loss(grades >= 10, probability), rel=1e-12)
    # Not the fail side mixed with the pass chance: that pairing scores differently on these pairs.
    assert check.metrics["brier"] != pytest.approx(brier_score_loss(grades < 10, probability), rel=1e-3)
    expected = expected_reliability(known_pairs)
    assert len(expected) >= 3, "the pairs should spread over several bands"
    assert_reliability(check.metrics["reliability"], expected)
    assert sum(band["pairs"] for band in check.metrics["reliability"]) == check.pairs


@pytest.mark.parametrize(("chances", "grades", "bands"), [
    # (pass_probability, final grade) -> (low, high, pairs, mean chance, pass rate) of each band with pairs
    ([0.0, 0.05, 0.1, 0.999, 1.0], [4, 12, 11, 15, 9],
     [(0.0, 0.1, 2, 0.025, 0.5), (0.1, 0.2, 1, 0.1, 1.0), (0.9, 1.0, 2, 0.9995, 0.5)]),
    ([0.7, 0.75, 0.79, 0.3], [10, 9, 14, 2], [(0.3, 0.4, 1, 0.3, 0.0), (0.7, 0.8, 3, 2.24 / 3, 2 / 3)]),
])
def test_reliability_bands_hold_their_lower_edge_and_the_top_band_holds_1(chances, grades, bands):
    pairs = pd.DataFrame({"pass_probability": chances, "final_grade": grades})

    table = reliability_table(pairs)

    assert [(band["low"], band["high"], band["pairs"]) for band in table] == [band[:3] for band in bands]
    assert [band["mean_pass_probability"] for band in table] == pytest.approx([band[3] for band in bands])
    assert [band["pass_rate"] for band in table] == pytest.approx([band[4] for band in bands])


def test_subgroup_figures_equal_the_metrics_on_each_subgroups_pairs(known_pairs, active_version):
    check = check_of(accuracy_check_run(), active_version)

    for feature in ("sex", "school", "address"):
        values = {prediction.input[feature] for prediction, _ in known_pairs}
        assert set(check.subgroups[feature]) == values
        for value in values:
            group = [(prediction, grade) for prediction, grade in known_pairs if prediction.input[feature] == value]
            expected = expected_metrics(group)
            if len({grade < 10 for _, grade in group}) < 2:
                expected["roc_auc"] = None
            actual = check.subgroups[feature][value]
            assert actual["pairs"] == len(group)
            for name, figure in expected.items():
                if figure is None:
                    assert actual[name] is None, (feature, value, name)
                else:
                    assert actual[name] == pytest.approx(figure, rel=1e-12, abs=1e-12), (feature, value, name)


def test_figures_that_need_both_classes_are_none_with_one_class(active_version, dataset, user):
    records, _ = dataset_records(dataset, n=5, seed=3)
    predictions = students_predict(records, teacher=user)
    outcomes_record(predictions, [15] * 5, user=user)  # everybody passed

    metrics = check_of(accuracy_check_run(), active_version).metrics

    assert metrics["roc_auc"] is None
    assert metrics["recall"] is None  # no student failed: recall of "fail" is undefined
    assert metrics["fails"] == 0 and metrics["passes"] == 5


def test_the_active_version_without_outcomes_is_checked_for_drift_only(active_version):
    [check] = accuracy_check_run()

    assert check.model_version == active_version
    assert check.pairs == 0
    assert check.metrics["accuracy"] is None and check.metrics["pairs"] == 0
    assert check.metrics["brier"] is None and check.metrics["reliability"] == []
    assert check.metrics["unusual"] == dict.fromkeys(("flagged", "unflagged", "unknown"), expected_unusual([]))
    assert check.subgroups == {"sex": {}, "school": {}, "address": {}}
    assert check.drift["status"] == "not enough data"


def test_every_version_with_pairs_gets_its_own_check(active_version, small_pipelines, dataset, user):
    records, grades = dataset_records(dataset, n=6, seed=4)
    old = students_predict(records[:3], teacher=user, prefix="old")
    newer = model_services.model_version_activate(
        version=model_services.model_version_register(pipelines=small_pipelines, name="newer"), user=None
    )
    new = students_predict(records[3:], teacher=user, prefix="new")
    outcomes_record(old + new, grades, user=user)

    checks = accuracy_check_run()

    assert [check.model_version for check in checks] == [active_version, newer]
    assert [check.pairs for check in checks] == [3, 3]
    old_mae = mean_absolute_error(grades[:3], [prediction.predicted_grade for prediction in old])
    assert check_of(checks, active_version).metrics["mae"] == pytest.approx(old_mae)


def test_each_run_adds_a_timestamped_check(active_version):
    first = accuracy_check_run()
    second = accuracy_check_run()

    assert AccuracyCheck.objects.count() == 2
    assert list(accuracy_check_list()) == second + first
    assert accuracy_check_latest_list() == second


def test_drift_none_for_a_sample_of_the_training_data(active_version, dataset):
    records, _ = dataset_records(dataset, n=120, seed=5)
    batch_predict(records, [None] * len(records))

    drift = check_of(accuracy_check_run(), active_version).drift

    assert drift["status"] == "ok", {name: f["p_value"] for name, f in drift["features"].items() if f["drifting"]}
    assert drift["samples"] == 120 and drift["drifting"] == []
    assert drift["threshold"] == pytest.approx(0.01 / 32)  # Bonferroni over the 30 attributes, G1 and G2
    assert drift["reference"]["file"] == "student-mat.csv"


def test_drift_found_when_absences_rise_and_everyone_is_at_ms(active_version, dataset):
    records, _ = dataset_records(dataset, n=60, seed=6)
    shifted = [{**record, "absences": min(record["absences"] + 20, 93), "school": "MS"} for record in records]
    batch_predict(shifted, [None] * len(shifted))

    drift = check_of(accuracy_check_run(), active_version).drift

    assert drift["status"] == "drifting"
    assert {"absences", "school"} <= set(drift["drifting"])
    absences = ks_2samp([record["absences"] for record in shifted], dataset["absences"].astype(float))
    assert drift["features"]["absences"]["test"] == "ks"
    assert drift["features"]["absences"]["statistic"] == pytest.approx(absences.statistic)
    assert drift["features"]["absences"]["p_value"] == pytest.approx(absences.pvalue)
    counts = dataset["school"].value_counts()
    school = chi2_contingency([[0, len(shifted)], [counts["GP"], counts["MS"]]])
    assert drift["features"]["school"]["test"] == "chi2"
    assert drift["features"]["school"]["p_value"] == pytest.approx(school.pvalue)
    assert drift["features"]["school"]["recent"]["shares"] == {"MS": 1.0}


def test_drift_needs_enough_recent_records(active_version, dataset, settings):
    settings.DRIFT_MIN_SAMPLES = 50
    records, _ = dataset_records(dataset, n=49, seed=7)
    batch_predict(records, [None] * len(records))

    drift = check_of(accuracy_check_run(), active_version).drift
    assert drift["status"] == "not enough data" and drift["samples"] == 49 and drift["features"] == {}

    later = check_of(accuracy_check_run(now=timezone.now() + timedelta(days=31)), active_version).drift
    assert later["samples"] == 0  # outside the 30-day window


def test_failed_share_counts_the_rejected_batch_rows_of_the_window(active_version, dataset):
    records, _ = dataset_records(dataset, n=6, seed=8)
    batch_predict(records, [None] * 6, rejected=2)

    check = check_of(accuracy_check_run(), active_version)
    assert check.failed_share == pytest.approx(2 / 8)
    assert check.metrics["recent_batch_rows"] == 8
    assert check_of(accuracy_check_run(now=timezone.now() + timedelta(days=31)), active_version).failed_share is None


# --- predictions flagged unusual, apart ---

ODD_GRADES = [4, 12, 11, 6, 15, 3]  # against G2 rising from 2 to 18: some calls right, some wrong


@pytest.fixture
def flagged_pairs(known_pairs, odd_record, user):
    """The known pairs and, like them, students and batch rows whose records every version flags unusual."""
    students = unusual_students(odd_record, ODD_GRADES, teacher=user)
    batch = batch_predict([odd_record, dict(odd_record, G2=16)], [14, 15])
    return known_pairs + list(zip(students, ODD_GRADES)) + list(zip(batch, [14, 15]))


def test_predictions_flagged_unusual_and_the_others_are_measured_apart(flagged_pairs, active_version):
    check = check_of(accuracy_check_run(), active_version)

    flagged = [(prediction, grade) for prediction, grade in flagged_pairs if prediction.unusual is True]
    others = [(prediction, grade) for prediction, grade in flagged_pairs if prediction.unusual is False]
    assert len(flagged) >= len(ODD_GRADES) + 2 and len(flagged) + len(others) == check.pairs == 73
    unusual = check.metrics["unusual"]
    assert set(unusual) == {"flagged", "unflagged", "unknown"}
    for group, pairs in (("flagged", flagged), ("unflagged", others)):
        assert unusual[group]["pairs"] == len(pairs)
        assert_figures(unusual[group], expected_unusual(pairs))
    assert unusual["unknown"] == expected_unusual([])
    assert unusual["flagged"]["accuracy"] < unusual["unflagged"]["accuracy"]


def test_a_group_without_pairs_has_null_figures(active_version, odd_record, user):
    predictions = unusual_students(odd_record, ODD_GRADES, teacher=user)

    unusual = check_of(accuracy_check_run(), active_version).metrics["unusual"]

    assert_figures(unusual["flagged"], expected_unusual(list(zip(predictions, ODD_GRADES))))
    assert unusual["flagged"]["pairs"] == len(ODD_GRADES)
    assert unusual["unflagged"] == unusual["unknown"] == {
        "pairs": 0, "accuracy": None, "mae": None, "interval_coverage": None}


@pytest.fixture
def unchecked_version(db, small_pipelines):
    """An active version fitted before the novelty check existed: its references hold no rarity tables."""
    pipelines = copy.deepcopy(small_pipelines)
    for pipeline in pipelines.values():
        del pipeline.named_steps["reference"].rarity_
    version = model_services.model_version_register(pipelines=pipelines, name="before-novelty")
    return model_services.model_version_activate(version=version, user=None)


def test_predictions_of_a_version_without_the_novelty_check_are_in_neither_group(unchecked_version, dataset, user,
                                                                                  odd_record):
    records, grades = dataset_records(dataset, n=20, seed=9)
    predictions = students_predict([*records, odd_record], teacher=user)
    outcomes_record(predictions, [*grades, 4], user=user)
    assert {prediction.unusual for prediction in predictions} == {None}

    check = check_of(accuracy_check_run(), unchecked_version)

    unusual = check.metrics["unusual"]
    assert unusual["flagged"]["pairs"] == unusual["unflagged"]["pairs"] == 0
    assert unusual["flagged"]["accuracy"] is None and unusual["unflagged"]["accuracy"] is None
    assert unusual["unknown"]["pairs"] == check.pairs
    assert_figures(unusual["unknown"], {name: check.metrics[name] for name in ("accuracy", "mae", "interval_coverage")})
