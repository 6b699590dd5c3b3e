"""The evaluation protocol of Cortez & Silva (2008): `runs` repetitions of `folds`-fold cross-validation.

Every fold trains the full recipe (calibration included) on the training part only, so the coverage of
the intervals is measured on students the pipeline never saw. Metrics are computed on each run's
out-of-fold predictions and averaged over the runs, as in the paper.

Pass rule: what the product tells a teacher, a pass probability of at least 0.5 (the risk band's edge).
The five levels (0-9, 10-11, 12-13, 14-15, 16-20) come from the predicted grade, cut at 9.5, 11.5, 13.5
and 15.5 (the real G3 is an integer).

Unknown attributes: every test fold is predicted twice, as given and with the attributes a teacher may leave
unknown (schema.MAY_BE_UNKNOWN) all unknown, by the same fitted pipeline; `unknown` holds the second set of
figures, what a school that never records them can expect.

Calibration of the pass probability against G3 >= 10: the Brier score, the expected calibration error (ECE)
over 10 equal-width bins of the probability, each bin weighted by its share of the students, and the
reliability table behind both. `coherent` is the share of students whose outputs tell one story: the grade
and the pass probability on the same side of the mark, and the grade inside its interval.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss
from sklearn.model_selection import KFold

from modelstore.ml.estimators import PASS_THRESHOLD
from modelstore.ml.recipe import RECIPE, build_pipeline
from modelstore.schema import MAY_BE_UNKNOWN, SETUP_FEATURES, SETUPS, TARGET

LEVEL_CUTS = (9.5, 11.5, 13.5, 15.5)
# What the paper reports as the best model for mathematics, per setup and metric.
PAPER_BEST = {
    "A": {"pcc_binary": 91.9, "pcc_5level": 78.5, "rmse": 1.75},
    "B": {"pcc_binary": 83.8, "pcc_5level": 60.5, "rmse": 2.46},
    "C": {"pcc_binary": 70.6, "pcc_5level": 33.5, "rmse": 3.90},
}
# The paper's naive predictor: the latest period grade where there is one.
NAIVE_GRADE = {"A": "G2", "B": "G1"}
RELIABILITY_BINS = 10


def evaluate(
    df: pd.DataFrame, *, runs: int = 20, folds: int = 10, random_state: int = 0, coverage: float = 0.9,
    setups=SETUPS, n_jobs: int = 2, progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Mean metrics over the runs for the recipe and the naive predictor, per setup, plus the protocol.

    {"A": {"pcc_binary", "pcc_5level", "rmse", "coverage", "interval_width", "brier", "ece", "coherent",
    "reliability", "unknown": {the same but "reliability", with MAY_BE_UNKNOWN unknown}, "naive": {...}}, ...,
    "protocol": {...}}; percentages (and `coherent`) are 0-100.
    `brier` and `ece` are the means over the runs; `reliability` (see `reliability_table`) pools all runs'
    out-of-fold predictions, so its counts are students times runs. `progress(done, total)` is called as
    each of the setups x runs x folds fits finishes.
    """
    y = df[TARGET].to_numpy()
    tasks = [
        (setup, run, train, test)
        for setup in setups
        for run in range(runs)
        for train, test in KFold(folds, shuffle=True, random_state=random_state + run).split(df)
    ]
    outcomes = _fold_outcomes(
        df, tasks, random_state=random_state, coverage=coverage, n_jobs=n_jobs, progress=progress
    )
    # Out-of-fold arrays per (setup, run): model grade, pass probability, interval low/high, naive grade,
    # naive pass and naive levels.
    held_out: dict[tuple[str, int], np.ndarray] = {}
    for (setup, run, _, test), outcome in zip(tasks, outcomes):
        held_out.setdefault((setup, run), np.empty((len(y), outcome.shape[1])))[test] = outcome

    report: dict = {setup: _setup_report(y, [held_out[(setup, run)] for run in range(runs)]) for setup in setups}
    report["protocol"] = {
        "runs": runs, "folds": folds, "random_state": random_state, "coverage": coverage,
        "pass_rule": "pass probability >= 0.5", "recipe": RECIPE,
        "naive": "A: G3 = G2, B: G3 = G1, C: majority class / mean G3 of the training folds",
        "unknown": f"the same test folds with {', '.join(MAY_BE_UNKNOWN)} unknown",
        "calibration": f"pass probability against G3 >= 10; ECE over {RELIABILITY_BINS} equal-width bins, "
        "weighted by bin size",
    }
    return report


def pass_calibration(passed: np.ndarray, probability: np.ndarray) -> dict:
    """Brier score and expected calibration error (ECE) of pass probabilities against the outcomes.

    ECE: the probabilities fall into RELIABILITY_BINS equal-width bins of [0, 1]; per bin, the gap between
    the mean probability and the observed pass rate, weighted by the bin's share of the students.
    """
    _, predicted, observed, counts = _reliability_bins(passed, probability)
    ece = float(np.sum(counts * np.abs(predicted - observed)) / len(probability))
    return {"brier": float(brier_score_loss(passed, probability)), "ece": ece}


def reliability_table(passed: np.ndarray, probability: np.ndarray) -> list[dict]:
    """Per non-empty bin of RELIABILITY_BINS equal-width bins: its edges, the mean predicted pass probability,
    the observed pass rate and the number of students."""
    filled, predicted, observed, counts = _reliability_bins(passed, probability)
    width = 1 / RELIABILITY_BINS
    return [
        {"low": round(float(b * width), 2), "high": round(float((b + 1) * width), 2), "predicted": round(float(p), 4),
         "observed": round(float(o), 4), "count": int(n)}
        for b, p, o, n in zip(filled, predicted, observed, counts)
    ]


def _reliability_bins(passed: np.ndarray, probability: np.ndarray) -> tuple[np.ndarray, ...]:
    """The indices of the filled bins, and per filled bin the mean probability, the pass rate and the count."""
    observed, predicted = calibration_curve(passed, probability, n_bins=RELIABILITY_BINS, strategy="uniform")
    inner_edges = np.linspace(0.0, 1.0, RELIABILITY_BINS + 1)[1:-1]
    # calibration_curve's own binning (searchsorted on the inner edges), whose counts it does not return.
    counts = np.bincount(np.searchsorted(inner_edges, probability), minlength=RELIABILITY_BINS)
    filled = np.flatnonzero(counts)
    return filled, predicted, observed, counts[filled]


def outputs_coherent_share(
    grade: np.ndarray, pass_probability: np.ndarray, low: np.ndarray, high: np.ndarray
) -> float:
    """% of records whose outputs agree: grade >= 9.5 exactly when P(pass) >= 0.5, and low <= grade <= high."""
    same_side = (grade >= PASS_THRESHOLD) == (pass_probability >= 0.5)
    inside = (low <= grade) & (grade <= high)
    return 100 * float(np.mean(same_side & inside))


def _fold_outcomes(
    df: pd.DataFrame, tasks: list, *, random_state: int, coverage: float, n_jobs: int, progress
) -> list[np.ndarray]:
    # A generator (joblib >= 1.3) hands back each fold as it is done, in order, so progress can follow.
    jobs = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(_fold)(df, setup=setup, train=train, test=test, seed=random_state + run, coverage=coverage)
        for setup, run, train, test in tasks
    )
    outcomes = []
    for outcome in jobs:
        outcomes.append(outcome)
        if progress is not None:
            progress(len(outcomes), len(tasks))
    return outcomes


def _setup_report(y: np.ndarray, per_run: list[np.ndarray]) -> dict:
    passed_truly = y >= PASS_THRESHOLD
    model_runs, unknown_runs, naive_runs = [], [], []
    for held_out in per_run:
        model, naive, unknown = held_out[:, :4], held_out[:, 4:7], held_out[:, 7:]
        model_runs.append(_model_scores(y, *model.T))
        unknown_runs.append(_model_scores(y, *unknown.T))
        naive_grade, naive_pass, naive_level = naive.T
        naive_runs.append(_scores(y, naive_grade, naive_pass.astype(bool), naive_level))
    pooled_probability = np.concatenate([held_out[:, 1] for held_out in per_run])
    return {
        **_mean(model_runs),
        "reliability": reliability_table(np.tile(passed_truly, len(per_run)), pooled_probability),
        "unknown": _mean(unknown_runs),
        "naive": {**_mean(naive_runs), "coverage": None},
    }


def _model_scores(y: np.ndarray, grade, probability, low, high) -> dict:
    return {
        **_scores(y, grade, probability >= 0.5, _levels(grade)),
        "coverage": float(np.mean((low <= y) & (y <= high))),
        "interval_width": float(np.mean(high - low)),
        **pass_calibration(y >= PASS_THRESHOLD, probability),
        "coherent": outputs_coherent_share(grade, probability, low, high),
    }


def _fold(df: pd.DataFrame, *, setup: str, train, test, seed: int, coverage: float) -> np.ndarray:
    """Columns for the test rows: grade, pass probability, low, high, naive grade, naive pass (0/1), naive level,
    then grade, pass probability, low and high again with the MAY_BE_UNKNOWN attributes unknown."""
    features = list(SETUP_FEATURES[setup])
    pipeline = build_pipeline(setup, random_state=seed).fit(df[features].iloc[train], df[TARGET].iloc[train])
    tested = df[features].iloc[test]
    grade, probability, low, high = _predicted(pipeline, tested, coverage=coverage)
    unknown = tested.astype({name: object for name in MAY_BE_UNKNOWN})
    unknown.loc[:, list(MAY_BE_UNKNOWN)] = None
    unknown_outputs = _predicted(pipeline, unknown, coverage=coverage)
    if setup in NAIVE_GRADE:
        naive_grade = df[NAIVE_GRADE[setup]].iloc[test].to_numpy(dtype=float)
        naive_pass, naive_level = naive_grade >= PASS_THRESHOLD, _levels(naive_grade)
    else:
        seen = df[TARGET].iloc[train].to_numpy()
        naive_grade = np.full(len(test), seen.mean())
        naive_pass = np.full(len(test), np.mean(seen >= PASS_THRESHOLD) >= 0.5)
        naive_level = np.full(len(test), np.bincount(_levels(seen)).argmax())
    return np.column_stack([grade, probability, low, high, naive_grade, naive_pass, naive_level, *unknown_outputs])


def _predicted(pipeline, X, *, coverage: float) -> tuple[np.ndarray, ...]:
    """Grade, pass probability and the `coverage` interval's low and high ends for the rows of X."""
    outputs = pipeline[-1].distribution(pipeline[:-1].transform(X))
    low, high = pipeline[-1].interval_for(outputs["point"], outputs["category"], coverage=coverage)
    return outputs["grade"], outputs["pass_probability"], low, high


def _levels(grades: np.ndarray) -> np.ndarray:
    return np.digitize(grades, LEVEL_CUTS)


def _scores(y: np.ndarray, grade: np.ndarray, passed: np.ndarray, level: np.ndarray) -> dict:
    return {
        "pcc_binary": 100 * float(np.mean(passed == (y >= PASS_THRESHOLD))),
        "pcc_5level": 100 * float(np.mean(level == _levels(y))),
        "rmse": float(np.sqrt(np.mean((grade - y) ** 2))),
    }


def _mean(per_run: list[dict]) -> dict:
    return {key: round(float(np.mean([scores[key] for scores in per_run])), 3) for key in per_run[0]}
