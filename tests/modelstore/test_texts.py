from __future__ import annotations

import pytest

from modelstore.models import ModelVersion
from modelstore.texts import model_version_accuracy_text, model_version_training_data, model_versions_cross_validated


def version_with(metrics) -> ModelVersion:
    return ModelVersion(version=1, name="v", metrics=metrics)


def cross_validated(setup: str, **scores) -> dict:
    return {"cross_validation": {"protocol": "1 run(s) of 10-fold", "results": {setup: scores}}}


def reference(setup: str, **scores) -> dict:
    return {"reference": {"protocol": "reference sample", "setups": {setup: scores}}}


def test_cross_validation_reads_as_pass_fail_calls_in_ten_and_typical_error():
    version = version_with(cross_validated("A", pcc_binary=91.4, pcc_5level=75.0, rmse=1.62))

    assert model_version_accuracy_text(version=version, setup="A") == (
        "In testing on students it had not seen, this model made the correct pass/fail call for about 9 in 10 "
        "students when both period grades are known, and its predicted grade was typically within 1.6 points "
        "of the real one."
    )


def test_cross_validation_is_preferred_over_the_reference_metrics():
    metrics = {**cross_validated("B", pcc_binary=83.8, rmse=2.46), **reference("B", pass_accuracy=0.99, rmse=0.5)}

    text = model_version_accuracy_text(version=version_with(metrics), setup="B")

    assert "about 8 in 10 students when only the first period grade is known" in text
    assert "within 2.5 points" in text
    assert "trained on" not in text


def test_reference_metrics_say_they_were_measured_on_the_training_data():
    version = version_with(reference("C", pass_accuracy=0.706, rmse=3.9, interval_coverage=0.9))

    text = model_version_accuracy_text(version=version, setup="C")

    assert text.startswith("Measured on the students it was trained on (so the real accuracy is likely lower)")
    assert "about 7 in 10 students when no period grade is known yet" in text
    assert "within 3.9 points" in text


@pytest.mark.parametrize(
    ("share", "words"),
    [(0.65, "about 7 in 10 students"), (0.64, "about 6 in 10 students"), (0.97, "almost every student"),
     (0.02, "fewer than 1 in 10 students")],
)
def test_the_pass_share_is_rounded_to_tenths_in_words(share, words):
    text = model_version_accuracy_text(version=version_with(reference("A", pass_accuracy=share, rmse=1)), setup="A")

    assert f"for {words} when" in text


def test_a_setup_without_its_own_metrics_falls_back_to_the_reference_of_that_setup():
    metrics = {**cross_validated("A", pcc_binary=90, rmse=1.5), **reference("C", pass_accuracy=0.7, rmse=3.8)}

    assert "trained on" in model_version_accuracy_text(version=version_with(metrics), setup="C")


def test_only_the_grade_error_known_still_makes_a_sentence():
    text = model_version_accuracy_text(version=version_with(reference("B", rmse=2.04)), setup="B")

    assert text.endswith("when only the first period grade is known, this model's predicted grade was typically "
                         "within 2.0 points of the real one.")


@pytest.mark.parametrize(
    "metrics",
    [{}, None, {"reference": {"setups": {}}}, {"reference": "broken"}, {"cross_validation": {"results": {"A": 3}}},
     reference("A", pass_accuracy="high", rmse=None), reference("A", pass_accuracy=float("nan"))],
)
def test_no_usable_metrics_gives_no_text(metrics):
    assert model_version_accuracy_text(version=version_with(metrics), setup="A") is None


@pytest.mark.parametrize("setup", ["A", "B", "C"])
def test_a_registered_version_has_accuracy_text_for_every_setup(active_version, setup):
    text = model_version_accuracy_text(version=active_version, setup=setup)

    assert text and "trained on" in text and "pass/fail call" in text


def test_cross_validated_figures_side_by_side_are_in_words_rounded_and_not_recorded_where_missing():
    claimed = version_with(cross_validated("B", pcc_binary=83.8123, rmse=2.4567, coverage=0.90123, brier=0.11876))
    older = version_with(reference("B", pass_accuracy=0.99, rmse=0.5))

    table = model_versions_cross_validated(versions=[claimed, older])

    assert table["protocols"] == ["1 run(s) of 10-fold", None]
    (setup,) = table["setups"]
    assert (setup["setup"], setup["meaning"]) == ("B", "when only the first period grade is known")
    assert {figure["label"]: figure["values"] for figure in setup["figures"]} == {
        "Pass/fail accuracy": ["83.8%", "not recorded"],
        "Typical grade error (RMSE, points of 0-20; lower is better)": ["2.46", "not recorded"],
        "Final grades inside the predicted range": ["90.1%", "not recorded"],
        "Mean width of the predicted range (points)": ["not recorded", "not recorded"],
        "Brier score of the pass chance (0 is perfect; lower is better)": ["0.119", "not recorded"],
    }


def test_training_data_is_none_for_older_versions_and_parsed_when_recorded():
    version = version_with({})
    assert model_version_training_data(version=version) is None

    version.training_data = {"rows": 120, "sources": {"school": 120}, "outcomes_from": "2026-02-01",
                             "outcomes_to": None, "sha256": "c" * 64, "exported_at": "2026-12-01T08:30:00+00:00"}
    found = model_version_training_data(version=version)

    assert (found["rows"], found["uci"], found["school"], found["sha256"]) == (120, 0, 120, "c" * 64)
    assert found["outcomes_from"].isoformat() == "2026-02-01" and found["outcomes_to"] is None
    assert found["exported_at"].isoformat() == "2026-12-01T08:30:00+00:00"
