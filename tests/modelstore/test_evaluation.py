import io
import json

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from modelstore.ml.evaluation import evaluate, outputs_coherent_share, pass_calibration, reliability_table
from modelstore.schema import SETUPS

pytestmark = pytest.mark.slow
METRICS = {"pcc_binary", "pcc_5level", "rmse", "coverage"}
CALIBRATION = {"brier", "ece", "coherent", "reliability"}
# Outcomes and pass probabilities small enough to work out by hand; 0.5 sits on a bin edge on purpose.
PASSED = np.array([True, False, True, True, False])
PROBABILITY = np.array([0.93, 0.08, 0.5, 0.72, 0.48])


class TerminalIO(io.StringIO):
    """stderr as a terminal, so that a command shows its progress bar."""

    def isatty(self):
        return True


@pytest.fixture(scope="module")
def report(dataset):
    """One cheap run of the real protocol (5 folds instead of 20 x 10)."""
    return evaluate(dataset, runs=1, folds=5, random_state=0)


def test_report_has_the_paper_shape(report):
    assert set(SETUPS) <= set(report)
    for setup in SETUPS:
        assert METRICS <= set(report[setup])
        assert METRICS <= set(report[setup]["naive"]) and report[setup]["naive"]["coverage"] is None
        assert CALIBRATION <= set(report[setup])
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


def test_the_figures_with_the_sensitive_attributes_unknown_stand_beside_the_full_ones(report):
    for setup in SETUPS:
        full, unknown = report[setup], report[setup]["unknown"]
        assert METRICS <= set(unknown) and CALIBRATION - {"reliability"} <= set(unknown), setup
        # The same folds and fitted pipelines, predicted again without eight attributes: other figures, but
        # the period grades (A, B) and the other 22 attributes keep them close to the full ones.
        assert unknown["rmse"] != full["rmse"], setup
        assert abs(unknown["pcc_binary"] - full["pcc_binary"]) < 4 and abs(unknown["rmse"] - full["rmse"]) < 0.3
        assert 0.85 <= unknown["coverage"] <= 0.96 and unknown["coherent"] == 100, setup
    assert "Dalc" in report["protocol"]["unknown"]


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


def test_calibration_figures_are_in_sane_ranges(report, dataset):
    for setup in SETUPS:
        result = report[setup]
        assert 0 < result["brier"] < 0.25 and 0 <= result["ece"] < 0.15, setup  # 0.25: always saying 50 %
        assert 0 <= result["coherent"] <= 100
        rows = result["reliability"]
        assert sum(row["count"] for row in rows) == len(dataset)  # one run: each student once
        assert [row["low"] for row in rows] == sorted(row["low"] for row in rows)
        assert all(row["low"] <= row["predicted"] <= row["high"] and 0 <= row["observed"] <= 1 for row in rows)


def test_brier_and_ece_match_a_computation_by_hand():
    scores = pass_calibration(PASSED, PROBABILITY)

    # Brier: mean squared gap between the probability and the outcome (1 pass, 0 fail).
    assert scores["brier"] == pytest.approx((0.07**2 + 0.08**2 + 0.5**2 + 0.28**2 + 0.48**2) / 5)
    # ECE: bins [0, .1] {0.08 fail}, (.4, .5] {0.5 pass, 0.48 fail}, (.7, .8] {0.72 pass}, (.9, 1] {0.93 pass},
    # each |mean probability - pass rate| weighted by its share of the 5 students.
    assert scores["ece"] == pytest.approx((0.08 + 2 * abs(0.49 - 0.5) + 0.28 + 0.07) / 5)


def test_reliability_table_lists_the_filled_bins_with_their_counts():
    assert reliability_table(PASSED, PROBABILITY) == [
        {"low": 0.0, "high": 0.1, "predicted": 0.08, "observed": 0.0, "count": 1},
        {"low": 0.4, "high": 0.5, "predicted": 0.49, "observed": 0.5, "count": 2},
        {"low": 0.7, "high": 0.8, "predicted": 0.72, "observed": 1.0, "count": 1},
        {"low": 0.9, "high": 1.0, "predicted": 0.93, "observed": 1.0, "count": 1},
    ]


def test_coherent_share_counts_only_records_whose_outputs_agree():
    grade = np.array([12.0, 9.7, 9.5, 5.0, 9.4])
    pass_probability = np.array([0.8, 0.45, 0.5, 0.1, 0.5])
    low, high = np.array([10.0, 8.0, 8.0, 6.0, 8.0]), np.array([14.0, 11.0, 11.0, 8.0, 11.0])

    # Agree: the first (pass on both counts) and the third (both exactly on the mark). Disagree: the second
    # and fifth (grade and probability on opposite sides), the fourth (grade outside its interval).
    assert outputs_coherent_share(grade, pass_probability, low, high) == pytest.approx(40.0)


def test_evaluate_reports_progress_after_each_fold(dataset):
    calls = []

    evaluate(dataset.iloc[::4], runs=1, folds=2, setups=("C",), n_jobs=1, progress=lambda *call: calls.append(call))

    assert calls == [(1, 2), (2, 2)]


@pytest.fixture
def fake_evaluate(report, monkeypatch):
    """evaluate_model's evaluate, replaced: records its arguments, reports progress in 3 steps, returns `report`."""
    calls = []

    def fake(df, **kwargs):
        calls.append(kwargs)
        for done in (1, 2, 3):
            if kwargs["progress"] is not None:
                kwargs["progress"](done, 3)
        return report

    monkeypatch.setattr("modelstore.management.commands.evaluate_model.evaluate", fake)
    return calls


def test_evaluate_model_command_prints_model_naive_and_paper(report, fake_evaluate, capsys):
    call_command("evaluate_model", "--runs", "2", "--folds", "3")
    table = capsys.readouterr().out
    assert fake_evaluate == [{"runs": 2, "folds": 3, "random_state": 0, "progress": None}]
    assert f"{report['A']['rmse']:.2f}" in table and "91.90" in table and "3.90" in table
    assert f"Brier {report['A']['brier']:.3f}, ECE {report['A']['ece']:.3f}" in table
    assert f"coherent {report['C']['coherent']:.1f} %" in table
    call_command("evaluate_model", "--json")
    assert json.loads(capsys.readouterr().out) == report


def test_evaluate_model_is_quiet_when_stderr_is_not_a_terminal(fake_evaluate):
    stderr = io.StringIO()

    call_command("evaluate_model", stdout=io.StringIO(), stderr=stderr)

    assert fake_evaluate[0]["progress"] is None and stderr.getvalue() == ""


def test_evaluate_model_shows_progress_on_a_terminal_but_not_with_json(fake_evaluate):
    terminal = TerminalIO()
    call_command("evaluate_model", stdout=io.StringIO(), stderr=terminal)
    assert "3/3" in terminal.getvalue() and "fold" in terminal.getvalue()

    terminal = TerminalIO()
    call_command("evaluate_model", "--json", stdout=io.StringIO(), stderr=terminal)
    assert fake_evaluate[1]["progress"] is None and terminal.getvalue() == ""


def test_evaluate_model_plot_writes_a_png(tmp_path):
    from modelstore.ml.data import DEFAULT_DATA_PATH

    header, *rows = DEFAULT_DATA_PATH.read_text().splitlines(keepends=True)
    data = tmp_path / "students.csv"
    data.write_text(header + "".join(rows[::4]))  # every 4th student: a real evaluation, quickly
    plot = tmp_path / "calibration.png"

    call_command("evaluate_model", "--runs", "1", "--folds", "2", "--data", str(data), "--plot", str(plot),
                 stdout=io.StringIO())

    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(plot) as image:
        image.verify()
    with Image.open(plot) as image:
        assert image.format == "PNG" and image.size == (1100, 480)


def test_evaluate_model_refuses_a_plot_path_in_a_missing_folder_before_evaluating(fake_evaluate, tmp_path):
    with pytest.raises(CommandError, match="--plot: the folder of .* does not exist"):
        call_command("evaluate_model", "--plot", str(tmp_path / "missing" / "plot.png"))
    assert fake_evaluate == []
