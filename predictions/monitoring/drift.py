"""Input drift: do the records predicted recently look like the data the model was trained on?

Per feature, a two-sample test of the recent inputs against the training file: Kolmogorov-Smirnov
(`scipy.stats.ks_2samp`) for the numeric attributes, chi-squared on the category counts of both samples
(`scipy.stats.chi2_contingency`) for the categorical ones, as Evidently does on small references. About 32
features are tested at once, so a feature drifts when its p-value is below DRIFT_P_VALUE divided by the number
of features tested (Bonferroni): DRIFT_P_VALUE is the chance that a check flags any feature at all when
nothing changed. See docs/monitoring.md for how to read it.
"""
from __future__ import annotations

from datetime import datetime
from functools import lru_cache

import numpy as np
import pandas as pd
from django.conf import settings
from scipy.stats import chi2_contingency, ks_2samp

from modelstore.ml.data import DEFAULT_DATA_PATH, file_sha256, load_dataset
from modelstore.models import ModelVersion
from modelstore.schema import ATTRIBUTES, PERIOD_GRADES
from predictions.models import Prediction

NOT_ENOUGH_DATA = "not enough data"
DRIFT_FEATURES = ATTRIBUTES + PERIOD_GRADES  # G1 and G2 over the records that give them


@lru_cache(maxsize=1)
def _reference() -> tuple[pd.DataFrame, str]:
    """The training file as a DataFrame, and its sha256 (read once per process)."""
    return load_dataset(DEFAULT_DATA_PATH), file_sha256(DEFAULT_DATA_PATH)


def drift_report(*, version: ModelVersion, since: datetime) -> dict:
    """The drift of the inputs `version` predicted since `since`, against data/student-mat.csv.

    {"status": "ok" | "drifting" | "not enough data", "samples", "drifting": [names], "features": {name:
    {"test", "samples", "statistic", "p_value", "drifting", "recent", "reference"}}, "reference": {...}, and the
    thresholds used}. Below DRIFT_MIN_SAMPLES recent records (or values of a feature) nothing is tested.
    """
    reference, sha256 = _reference()
    recent = pd.DataFrame.from_records(
        # A what-if's records are a teacher's hypotheses, not the population the model now serves.
        list(
            Prediction.objects.filter(model_version=version, created_at__gte=since)
            .exclude(source=Prediction.Source.WHAT_IF).values_list("input", flat=True)
        )
    )
    minimum = settings.DRIFT_MIN_SAMPLES
    report = {
        "window_days": settings.DRIFT_WINDOW_DAYS,
        "since": since.isoformat(),
        "samples": len(recent),
        "min_samples": minimum,
        "p_value": settings.DRIFT_P_VALUE,
        "correction": "bonferroni",
        "reference": _reference_note(version=version, rows=len(reference), sha256=sha256),
    }
    if len(recent) < minimum:
        return {**report, "status": NOT_ENOUGH_DATA, "threshold": None, "drifting": [], "features": {}}

    features = {}
    for feature in DRIFT_FEATURES:
        values = recent[feature.name].dropna() if feature.name in recent else pd.Series(dtype=object)
        if len(values) < minimum:
            features[feature.name] = {
                "test": _test_name(feature.kind), "samples": len(values), "status": NOT_ENOUGH_DATA,
                "statistic": None, "p_value": None, "drifting": False,
            }
        elif feature.kind == "category":
            features[feature.name] = _chi_squared(values.astype(str), reference[feature.name].astype(str))
        else:
            features[feature.name] = _kolmogorov_smirnov(values.astype(float), reference[feature.name].astype(float))
    tested = [result for result in features.values() if result["p_value"] is not None]
    threshold = settings.DRIFT_P_VALUE / max(len(tested), 1)
    for result in tested:
        result["drifting"] = result["p_value"] < threshold
    drifting = [name for name, result in features.items() if result["drifting"]]
    status = "drifting" if drifting else "ok"
    return {**report, "status": status, "threshold": threshold, "drifting": drifting, "features": features}


def _test_name(kind: str) -> str:
    return "chi2" if kind == "category" else "ks"


def _kolmogorov_smirnov(recent: pd.Series, reference: pd.Series) -> dict:
    result = ks_2samp(recent.to_numpy(), reference.to_numpy())
    return {
        "test": "ks", "samples": len(recent), "statistic": float(result.statistic), "p_value": float(result.pvalue),
        "drifting": False, "recent": {"mean": float(recent.mean())}, "reference": {"mean": float(reference.mean())},
    }


def _chi_squared(recent: pd.Series, reference: pd.Series) -> dict:
    recent_counts, reference_counts = recent.value_counts(), reference.value_counts()
    categories = sorted(set(recent_counts.index) | set(reference_counts.index))
    table = np.array([
        [int(recent_counts.get(category, 0)) for category in categories],
        [int(reference_counts.get(category, 0)) for category in categories],
    ])
    result = {
        "test": "chi2", "samples": len(recent), "drifting": False,
        "recent": {"shares": _shares(recent_counts)}, "reference": {"shares": _shares(reference_counts)},
    }
    if len(categories) < 2:  # one value in both samples: nothing can differ
        return {**result, "statistic": 0.0, "p_value": 1.0}
    test = chi2_contingency(table)
    return {**result, "statistic": float(test.statistic), "p_value": float(test.pvalue)}


def _shares(counts: pd.Series) -> dict[str, float]:
    total = int(counts.sum())
    return {str(category): round(int(count) / total, 4) for category, count in sorted(counts.items())}


def _reference_note(*, version: ModelVersion, rows: int, sha256: str) -> dict:
    """Which file the inputs are compared with, and whether the version says it was trained on it."""
    recorded = version.training_data_sha256
    if not recorded:
        matches, note = None, "The version does not record its training data; compared with data/student-mat.csv."
    elif recorded == sha256:
        matches, note = True, "The version was trained on this file."
    else:
        matches, note = False, (
            "The version was trained on another file than data/student-mat.csv: drift is measured against "
            "data/student-mat.csv all the same."
        )
    return {"file": DEFAULT_DATA_PATH.name, "rows": rows, "sha256": sha256, "matches_training_data": matches,
            "note": note}
