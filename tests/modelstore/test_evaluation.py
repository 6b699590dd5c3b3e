import json

import numpy as np
import pytest
from django.core.management import call_command

from modelstore.ml.evaluation import evaluate
from modelstore.schema import SETUPS

pytestmark = pytest.mark.slow
METRICS = {"pcc_binary", "pcc_5level", "rmse", "coverage"}


@pytest.fixture(scope="module")
def report(dataset):
    """One cheap run of the real protocol (5 folds instead of 20 x 10)."""
    return evaluate(dataset, runs=1, folds=5, random_state=0)


def test_report_has_the_paper_shape(report):
    assert set(SETUPS) <= set(report)
    for setup in SETUPS:
        assert METRICS <= set(report[setup])
        assert METRICS <= set(report[setup]["naive"]) and report[setup]["naive"]["coverage"] is None
    assert report["protocol"]["runs"] == 1 and report["protocol"]["folds"] == 5


def test_metrics_are_in_sane_ranges_and_grades_help(report):
    for setup in SETUPS:
        result = report[setup]
        assert 60 < result["pcc_binary"] <= 100 and 25 < result["pcc_5level"] <= result["pcc_binary"]
        assert 1 < result["rmse"] < 4.5
        # Held-out coverage of a 90 % interval on 395 students: a few points either way is sampling noise.
        assert 0.85 <= result["coverage"] <= 0.96, setup
    assert report["A"]["rmse"] < report["B"]["rmse"] < report["C"]["rmse"]
    assert report["A"]["pcc_binary"] > report["B"]["pcc_binary"] > report["C"]["pcc_binary"]


def test_the_model_beats_the_naive_predictor_on_rmse(report):
    for setup in SETUPS:
        assert report[setup]["rmse"] < report[setup]["naive"]["rmse"], setup


@pytest.mark.parametrize(("setup", "grade"), [("A", "G2"), ("B", "G1")])
def test_naive_figures_are_the_last_period_grade(report, dataset, setup, grade):
    naive, y = dataset[grade].to_numpy(), dataset["G3"].to_numpy()
    levels = [0, 10, 12, 14, 16]
    assert report[setup]["naive"]["pcc_binary"] == pytest.approx(100 * np.mean((naive >= 10) == (y >= 10)), abs=1e-3)
    assert report[setup]["naive"]["pcc_5level"] == pytest.approx(
        100 * np.mean(np.searchsorted(levels, naive, side="right") == np.searchsorted(levels, y, side="right")), abs=1e-3
    )
    assert report[setup]["naive"]["rmse"] == pytest.approx(np.sqrt(np.mean((naive - y) ** 2)), abs=1e-3)


def test_naive_c_is_the_majority_and_the_mean(report, dataset):
    y = dataset["G3"].to_numpy()
    assert report["C"]["naive"]["pcc_binary"] == pytest.approx(100 * np.mean(y >= 10), abs=1e-3)  # most pass
    assert report["C"]["naive"]["rmse"] == pytest.approx(y.std(), abs=0.05)


def test_evaluate_model_command_prints_model_naive_and_paper(report, monkeypatch, capsys):
    calls = []

    def fake_evaluate(df, **kwargs):
        calls.append(kwargs)
        return report

    monkeypatch.setattr("modelstore.management.commands.evaluate_model.evaluate", fake_evaluate)
    call_command("evaluate_model", "--runs", "2", "--folds", "3")
    table = capsys.readouterr().out
    assert calls == [{"runs": 2, "folds": 3, "random_state": 0}]
    assert f"{report['A']['rmse']:.2f}" in table and "91.90" in table and "3.90" in table
    call_command("evaluate_model", "--json")
    assert json.loads(capsys.readouterr().out) == report
