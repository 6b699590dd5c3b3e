"""A model version in a teacher's words: what its measured accuracy means, per setup."""
from __future__ import annotations

import math

from modelstore.models import ModelVersion

# What a version's measured accuracy means for a teacher, per setup.
SETUP_PHRASES = {
    "A": "when both period grades are known",
    "B": "when only the first period grade is known",
    "C": "when no period grade is known yet",
}


def model_version_accuracy_text(*, version: ModelVersion, setup: str) -> str | None:
    """The version's measured accuracy for one setup in a teacher's words, or None without such metrics.

    Cross-validation (students the model had not seen) is preferred; otherwise the reference metrics,
    which were measured on the training data and say so.
    """
    metrics = version.metrics if isinstance(version.metrics, dict) else {}
    measured = _setup_metrics_read(metrics, "cross_validation", "results", setup)
    if measured is not None:
        pass_share = _number(measured.get("pcc_binary"), scale=0.01)  # a percentage
        opening = "In testing on students it had not seen"
    else:
        measured = _setup_metrics_read(metrics, "reference", "setups", setup)
        if measured is None:
            return None
        pass_share = _number(measured.get("pass_accuracy"))  # a share
        opening = "Measured on the students it was trained on (so the real accuracy is likely lower)"
    rmse = _number(measured.get("rmse"))
    when = SETUP_PHRASES.get(setup, f"in setup {setup}")
    grade_claim = f"predicted grade was typically within {rmse:.1f} points of the real one" if rmse is not None else ""
    if pass_share is None:
        return f"{opening}, {when}, this model's {grade_claim}." if grade_claim else None
    pass_claim = f"this model made the correct pass/fail call for {_share_in_ten(pass_share)} {when}"
    if not grade_claim:
        return f"{opening}, {pass_claim}."
    return f"{opening}, {pass_claim}, and its {grade_claim}."


def _setup_metrics_read(metrics: dict, source: str, key: str, setup: str) -> dict | None:
    found = metrics.get(source)
    found = found.get(key) if isinstance(found, dict) else None
    found = found.get(setup) if isinstance(found, dict) else None
    return found if isinstance(found, dict) else None


def _number(value, *, scale: float = 1.0) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:  # NaN
        return None
    return float(value) * scale


def _share_in_ten(share: float) -> str:
    tenths = math.floor(share * 10 + 0.5)  # half up: 0.65 is "about 7 in 10"
    if tenths >= 10:
        return "almost every student"
    if tenths <= 0:
        return "fewer than 1 in 10 students"
    return f"about {tenths} in 10 students"
