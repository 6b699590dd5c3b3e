"""The accuracy check's maths: the metrics of a set of pairs, overall and per subgroup. The pairs are read by
predictions.monitoring.pairs.pairs_frame, the check is run by predictions.monitoring.services.

A pair is one prediction and the final grade it forecast:
- a stored student's prediction, against the student's current outcome (a corrected grade replaces the
  first one). Per student and version only the latest prediction made before the first outcome was recorded
  counts: one forecast per student, and a prediction made once the grade was known is not a forecast;
- a batch row's prediction, against the G3 given in the same file (one pair per row).
Pass/fail treats "fail" (G3 < 10, "at risk") as the positive class: precision is the share of students
flagged at risk who failed, recall the share of those who failed that were flagged. A prediction says "pass"
when pass_probability >= 0.5. The figures are scikit-learn's metric functions; per subgroup (sex, school,
address) the same functions through fairlearn's MetricFrame; a few of them apart for the predictions flagged
unusual (a record unlike the training data) and the others. See docs/monitoring.md.

Calibration is about the *pass* side, unlike precision and recall: the Brier score is the mean squared gap
between pass_probability and passing (1 when G3 >= 10, else 0), and the reliability table puts the pairs in
bands of pass_probability (0-10 %, ..., 90-100 %) beside the share of each band that passed. Scoring the fail
side instead (1 - pass_probability against failing) gives the same Brier score; mixing the two does not.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    f1_score,
    mean_absolute_error,
    precision_score,
    recall_score,
    roc_auc_score,
    root_mean_squared_error,
)

from modelstore.schema import PASS_MARK

POSITIVE_CLASS = "fail"  # G3 < PASS_MARK: the students a teacher should act on
PASS_PROBABILITY_CUT = 0.5  # a prediction says "pass" when pass_probability >= this
SUBGROUP_FEATURES = ("sex", "school", "address")
RELIABILITY_BANDS = 10  # equal bands of pass_probability: 0-10 %, 10-20 %, ..., 90-100 %
SAMPLE_COLUMNS = ("pass_probability", "interval_low", "interval_high", "interval_coverage")
PAIR_COLUMNS = (
    "model_version_id", "final_grade", "predicted_grade", *SAMPLE_COLUMNS, "unusual", *SUBGROUP_FEATURES,
)
# The interventions report reads these too, on the students' pairs only (a batch row has no student): the risk
# band of the prediction, and whether the student had an intervention dated on or before the first outcome.
INTERVENTION_COLUMNS = ("risk", "intervened")
RISK_BANDS = ("high", "medium", "low")  # Prediction.Risk, most at risk first
# By the prediction's `unusual`: True, False, None (made by a version that predates the novelty check).
UNUSUAL_GROUPS = ("flagged", "unflagged", "unknown")
UNUSUAL_FIGURES = ("pairs", "accuracy", "mae", "interval_coverage")


def at_risk(final_grades) -> np.ndarray:
    """1 where the final grade is a fail (the positive class), else 0."""
    return (np.asarray(final_grades) < PASS_MARK).astype(int)


def flagged_at_risk(pass_probability) -> np.ndarray:
    """1 where the prediction called a fail (pass_probability below the cut), else 0."""
    return (np.asarray(pass_probability) < PASS_PROBABILITY_CUT).astype(int)


# Each metric takes (final_grade, predicted_grade) and the per-pair columns it names: fairlearn's MetricFrame
# calls it per subgroup with those columns split alike. NaN (undefined: nothing to divide by) becomes None.
def _roc_auc(final_grade, predicted_grade, *, pass_probability) -> float:
    truth = at_risk(final_grade)
    if len(set(truth)) < 2:
        return np.nan  # undefined with one class only
    return roc_auc_score(truth, 1 - np.asarray(pass_probability))


def _classification(score: Callable, **kwargs) -> Callable:
    def metric(final_grade, predicted_grade, *, pass_probability) -> float:
        return score(at_risk(final_grade), flagged_at_risk(pass_probability), **kwargs)
    return metric


def _brier(final_grade, predicted_grade, *, pass_probability) -> float:
    passed = 1 - at_risk(final_grade)  # the pass side: pass_probability is the chance of a 1 here
    return brier_score_loss(passed, np.asarray(pass_probability, dtype=float), pos_label=1)


def _coverage(final_grade, predicted_grade, *, interval_low, interval_high) -> float:
    grades = np.asarray(final_grade)
    return float(np.mean((np.asarray(interval_low) <= grades) & (grades <= np.asarray(interval_high))))


def _stated_coverage(final_grade, predicted_grade, *, interval_coverage) -> float:
    return float(np.mean(interval_coverage))  # the coverage each prediction promised (the same unless changed)


def _pairs(final_grade, predicted_grade) -> int:
    return len(final_grade)


def _passes(final_grade, predicted_grade) -> int:
    return int((1 - at_risk(final_grade)).sum())


def _fails(final_grade, predicted_grade) -> int:
    return int(at_risk(final_grade).sum())


def _flagged(final_grade, predicted_grade, *, pass_probability) -> int:
    return int(flagged_at_risk(pass_probability).sum())


PROBABILITY = ("pass_probability",)
METRICS: dict[str, tuple[Callable, tuple[str, ...]]] = {
    "accuracy": (_classification(accuracy_score), PROBABILITY),
    "precision": (_classification(precision_score, zero_division=np.nan), PROBABILITY),
    "recall": (_classification(recall_score, zero_division=np.nan), PROBABILITY),
    "f1": (_classification(f1_score, zero_division=np.nan), PROBABILITY),
    "roc_auc": (_roc_auc, PROBABILITY),
    "brier": (_brier, PROBABILITY),
    "rmse": (root_mean_squared_error, ()),
    "mae": (mean_absolute_error, ()),
    "interval_coverage": (_coverage, ("interval_low", "interval_high")),
    "stated_coverage": (_stated_coverage, ("interval_coverage",)),
    "pairs": (_pairs, ()),
    "passes": (_passes, ()),
    "fails": (_fails, ()),
    "flagged": (_flagged, PROBABILITY),
}
COUNTS = ("pairs", "passes", "fails", "flagged")


def _clean(name: str, value) -> float | int | None:
    if value is None or pd.isna(value):
        return None
    return int(value) if name in COUNTS else float(value)


def reliability_table(pairs: pd.DataFrame) -> list[dict]:
    """The pairs in RELIABILITY_BANDS equal bands of pass_probability, lowest first, only bands with pairs:
    [{"low", "high", "mean_pass_probability", "pass_rate" (share with G3 >= 10), "pairs"}]. A band holds
    chances from `low` up to but not including `high`; a chance of exactly 1 is in the top band."""
    if pairs.empty:
        return []
    chance = pairs["pass_probability"].astype(float).to_numpy()
    bands = pd.DataFrame({
        "band": np.minimum(np.floor(chance * RELIABILITY_BANDS), RELIABILITY_BANDS - 1).astype(int),
        "chance": chance,
        "passed": 1 - at_risk(pairs["final_grade"]),
    }).groupby("band").agg(mean_pass_probability=("chance", "mean"), pass_rate=("passed", "mean"),
                           pairs=("passed", "size"))
    return [
        {"low": band / RELIABILITY_BANDS, "high": (band + 1) / RELIABILITY_BANDS,
         "mean_pass_probability": float(row.mean_pass_probability), "pass_rate": float(row.pass_rate),
         "pairs": int(row.pairs)}
        for band, row in bands.iterrows()
    ]


def _figures(pairs: pd.DataFrame, names) -> dict:
    """The METRICS `names` of a set of pairs; counts 0 and figures None when empty."""
    if pairs.empty:
        return {name: (0 if name in COUNTS else None) for name in names}
    return {name: _figure(pairs, name) for name in names}


def _figure(pairs: pd.DataFrame, name: str) -> float | int | None:
    function, columns = METRICS[name]
    return _clean(name, function(pairs["final_grade"], pairs["predicted_grade"],
                                 **{column: pairs[column] for column in columns}))


def pair_metrics(pairs: pd.DataFrame) -> dict:
    """The metrics of a set of pairs (columns of PAIR_COLUMNS) and their reliability table; counts 0, figures
    None and no band when empty."""
    return _figures(pairs, METRICS) | {"positive_class": POSITIVE_CLASS, "reliability": reliability_table(pairs)}


def unusual_metrics(pairs: pd.DataFrame) -> dict:
    """{group: {figure: value}} for the UNUSUAL_GROUPS (flagged, unflagged, unknown) of the pairs' predictions, with
    the UNUSUAL_FIGURES: a pair is in exactly one group; a group without pairs has 0 pairs and None figures."""
    groups = pairs["unusual"].map({True: "flagged", False: "unflagged"}).fillna("unknown")
    return {group: _figures(pairs[groups == group], UNUSUAL_FIGURES) for group in UNUSUAL_GROUPS}


def subgroup_metrics(pairs: pd.DataFrame) -> dict:
    """{feature: {value: metrics}} for sex, school and address: the same metrics on each subgroup's pairs."""
    if pairs.empty:
        return {feature: {} for feature in SUBGROUP_FEATURES}
    frame_args = {
        "metrics": {name: function for name, (function, _) in METRICS.items()},
        "y_true": pairs["final_grade"].to_numpy(),
        "y_pred": pairs["predicted_grade"].to_numpy(),
        "sample_params": {
            name: {column: pairs[column].to_numpy() for column in columns}
            for name, (_, columns) in METRICS.items() if columns
        },
    }
    subgroups = {}
    for feature in SUBGROUP_FEATURES:
        by_group = MetricFrame(**frame_args, sensitive_features=pairs[feature].astype(str).rename(feature)).by_group
        subgroups[feature] = {
            str(value): {name: _clean(name, figure) for name, figure in row.items()} | {"positive_class": POSITIVE_CLASS}
            for value, row in by_group.to_dict(orient="index").items()
        }
    return subgroups


def _passing(final_grades: pd.Series) -> dict:
    students, passed = len(final_grades), int((1 - at_risk(final_grades)).sum())
    return {"students": students, "passed": passed, "pass_rate": passed / students if students else None}


def intervention_metrics(pairs: pd.DataFrame) -> dict:
    """Per risk band of the prediction, the students' pass rate with and without an intervention before their
    outcome: {"bands": {band: {"with" | "without": {"students", "passed", "pass_rate"}}}}; pass_rate None without
    students. Only the pairs of stored students (source "student"). Descriptive, not causal: who got an
    intervention was not chosen at random."""
    students = pairs[pairs["source"] == "student"]
    intervened = students["intervened"].astype(bool)
    bands = {}
    for band in RISK_BANDS:
        in_band = students["risk"] == band
        bands[band] = {
            "with": _passing(students.loc[in_band & intervened, "final_grade"]),
            "without": _passing(students.loc[in_band & ~intervened, "final_grade"]),
        }
    return {"bands": bands}
