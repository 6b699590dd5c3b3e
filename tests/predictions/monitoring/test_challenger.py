"""The challenger comparison's statistics (issue 19) on constructed pairs: who is better, by how much, and
when there is not enough data to say."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from predictions.monitoring.challenger import challenger_comparison, paired_bootstrap, side_errors, side_figures


def _side(grades: np.ndarray, noise: np.ndarray) -> dict[str, np.ndarray]:
    predicted = np.clip(grades + noise, 0, 20)
    return {
        "predicted_grade": predicted,
        "pass_probability": 1 / (1 + np.exp(-(predicted - 9.5) * 2)),
        "interval_low": predicted - 3,
        "interval_high": predicted + 3,
    }


def constructed(*, n: int, active_noise: float, challenger_noise: float, seed: int = 7) -> pd.DataFrame:
    """`n` students with final grades, each version predicting them with normal errors of the given size."""
    rng = np.random.default_rng(seed)
    grades = rng.integers(0, 21, size=n).astype(float)
    sides = {"active": active_noise, "challenger": challenger_noise}
    columns = {"final_grade": grades}
    for side, noise in sides.items():
        for name, values in _side(grades, rng.normal(0, noise, size=n)).items():
            columns[f"{side}_{name}"] = values
    return pd.DataFrame(columns)


def compare(paired: pd.DataFrame, *, min_students: int = 30) -> dict:
    return challenger_comparison(paired, active_version=2, challenger_version=3, min_students=min_students)


def test_a_truly_better_challenger_wins_with_an_interval_above_zero():
    comparison = compare(constructed(n=300, active_noise=4.0, challenger_noise=1.0))

    assert comparison["verdict"] == "better" and comparison["decided_by"] == "accuracy"
    accuracy = comparison["differences"]["accuracy"]
    assert 0 < accuracy["low"] < accuracy["difference"] < accuracy["high"]
    assert comparison["differences"]["rmse"]["high"] < 0  # its grades are closer too
    assert comparison["challenger"]["accuracy"] > comparison["active"]["accuracy"]
    assert comparison["challenger"]["brier"] < comparison["active"]["brier"]
    sentence = comparison["recommendation"]
    assert sentence.startswith("The challenger v3 is better than the active v2 on 300 students: ")
    assert f"{comparison['challenger']['accuracy'] * 100:.0f} % vs {comparison['active']['accuracy'] * 100:.0f} %" \
        " pass/fail accuracy, difference 95 % CI +" in sentence
    assert sentence.endswith("consider promoting it.")


def test_a_worse_challenger_loses():
    comparison = compare(constructed(n=300, active_noise=1.0, challenger_noise=4.0))

    assert comparison["verdict"] == "worse"
    assert comparison["differences"]["accuracy"]["high"] < 0
    assert comparison["recommendation"].startswith("The challenger v3 is worse than the active v2 on 300 students")
    assert comparison["recommendation"].endswith("keep the active version.")


def test_the_same_predictions_make_no_clear_difference():
    paired = constructed(n=100, active_noise=2.0, challenger_noise=2.0)
    for name in ("predicted_grade", "pass_probability", "interval_low", "interval_high"):
        paired[f"challenger_{name}"] = paired[f"active_{name}"]

    comparison = compare(paired)

    assert comparison["verdict"] == "no_clear_difference" and comparison["decided_by"] is None
    assert comparison["differences"]["accuracy"] == {"difference": 0.0, "low": 0.0, "high": 0.0}
    assert comparison["recommendation"].startswith("No clear difference between the challenger v3 and the active v2")


def test_grades_closer_but_the_same_calls_win_on_rmse():
    paired = constructed(n=200, active_noise=1.5, challenger_noise=0.3)
    # The same pass/fail calls on both sides: accuracy cannot decide, the grade errors do.
    paired["challenger_pass_probability"] = paired["active_pass_probability"]

    comparison = compare(paired)

    assert comparison["verdict"] == "better" and comparison["decided_by"] == "rmse"
    assert "RMSE" in comparison["recommendation"].split(": ", 1)[1].split(" (")[0]


def test_too_few_students_is_not_enough_data_yet():
    comparison = compare(constructed(n=12, active_noise=4.0, challenger_noise=1.0), min_students=30)

    assert comparison["verdict"] == "not_enough_data" and "differences" not in comparison
    assert comparison["recommendation"] == (
        "Not enough data yet (12 of 30 students) to compare the challenger v3 with the active v2."
    )


def test_the_bootstrap_is_paired_and_reproducible():
    paired = constructed(n=150, active_noise=3.0, challenger_noise=2.0)
    errors = {side: side_errors(paired, side) for side in ("active", "challenger")}

    first = paired_bootstrap(errors["active"], errors["challenger"])
    again = paired_bootstrap(errors["active"], errors["challenger"])

    assert first == again  # a fixed seed: the same check gives the same interval
    # Paired: the interval of the difference is narrower than if the two sides were resampled independently.
    rng = np.random.default_rng(0)
    independent = [
        errors["challenger"]["correct"][rng.integers(0, 150, 150)].mean()
        - errors["active"]["correct"][rng.integers(0, 150, 150)].mean()
        for _ in range(2000)
    ]
    width = first["accuracy"]["high"] - first["accuracy"]["low"]
    assert width < np.subtract(*np.percentile(independent, [97.5, 2.5]))


def test_side_figures_are_those_of_the_accuracy_check():
    paired = pd.DataFrame({
        "final_grade": [12.0, 8.0, 15.0, 5.0],
        "active_predicted_grade": [11.0, 11.0, 15.0, 9.0],
        "active_pass_probability": [0.8, 0.7, 0.9, 0.4],
        "active_interval_low": [9.0, 9.0, 13.0, 4.0],
        "active_interval_high": [13.0, 13.0, 17.0, 12.0],
    })

    figures = side_figures(side_errors(paired, "active"))

    assert figures["accuracy"] == 0.75  # the 8 was called a pass
    assert figures["rmse"] == pytest.approx(np.sqrt((1 + 9 + 0 + 16) / 4))
    assert figures["interval_coverage"] == 0.75  # 8 is below 9
    assert figures["brier"] == pytest.approx((0.04 + 0.49 + 0.01 + 0.16) / 4)
