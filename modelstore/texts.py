"""A model version in words: what its measured accuracy means per setup (teachers), its cross-validated figures
and training data (the admin's version and confirmation pages)."""
from __future__ import annotations

import math

from django.utils.dateparse import parse_date, parse_datetime

from modelstore.figures import claimed_figures
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


# The cross-validated figures on the version and confirmation pages: name in words, and how it is written.
CROSS_VALIDATED_FIGURES = (
    ("pass_accuracy", "Pass/fail accuracy", "{:.1%}"),
    ("rmse", "Typical grade error (RMSE, points of 0-20; lower is better)", "{:.2f}"),
    ("interval_coverage", "Final grades inside the predicted range", "{:.1%}"),
    ("interval_width", "Mean width of the predicted range (points)", "{:.1f}"),
    ("brier", "Brier score of the pass chance (0 is perfect; lower is better)", "{:.3f}"),
)
NOT_RECORDED = "not recorded"


def model_versions_cross_validated(*, versions: list[ModelVersion]) -> dict:
    """The cross-validated figures (students each model had not seen) of `versions` side by side, in words.

    {"protocols": [protocol sentence or None per version], "setups": [{"setup", "meaning", "figures":
    [{"label", "values": [text per version]}]}]}; a figure a version does not claim is "not recorded".
    """
    claims = [claimed_figures(version.metrics) for version in versions]
    setups = sorted({setup for claimed in claims for setup in claimed})
    return {
        "protocols": [_cross_validation_protocol(version.metrics) for version in versions],
        "setups": [
            {
                "setup": setup,
                "meaning": SETUP_PHRASES.get(setup, ""),
                "figures": [
                    {
                        "label": label,
                        "values": [_figure_text(claimed.get(setup, {}), name, written) for claimed in claims],
                    }
                    for name, label, written in CROSS_VALIDATED_FIGURES
                ],
            }
            for setup in setups
        ],
    }


def _figure_text(figures: dict, name: str, written: str) -> str:
    """One figure of `figures` as CROSS_VALIDATED_FIGURES writes it, or NOT_RECORDED."""
    return NOT_RECORDED if figures.get(name) is None else written.format(figures[name])


def model_version_retraining_figures(*, version: ModelVersion) -> dict | None:
    """A retrained version's measurement on the school's students (metrics["retraining"], modelstore.retraining)
    in words: {"protocol", "rows", "active_version", "better" (sentence), "figures": [{"label", "new", "active"}]};
    None for a version that was not retrained."""
    measured = version.metrics.get("retraining") if isinstance(version.metrics, dict) else None
    if not isinstance(measured, dict) or not isinstance(measured.get("figures"), dict):
        return None
    new, active = measured["figures"].get("new") or {}, measured["figures"].get("active") or {}
    better = measured.get("better")
    verdict = (
        "No version was active to compare with." if better is None
        else f"Better than v{measured.get('active_version')} by the rule ({measured.get('rule', '')})." if better
        else f"Not better than v{measured.get('active_version')} by the rule ({measured.get('rule', '')})."
    )
    if measured.get("active_trained_on_school"):
        verdict += " The active version was trained on these students, so its figures are in-sample (optimistic)."
    return {
        "protocol": measured.get("protocol", ""), "rows": measured.get("rows"),
        "active_version": measured.get("active_version"), "better": verdict,
        "figures": [
            {"label": label, "new": _figure_text(new, name, written), "active": _figure_text(active, name, written)}
            for name, label, written in CROSS_VALIDATED_FIGURES
        ],
    }


def model_version_training_data(*, version: ModelVersion) -> dict | None:
    """What the version was trained on (`training_data`), its dates parsed; None when it was not recorded."""
    data = version.training_data if isinstance(version.training_data, dict) else {}
    if not data:
        return None
    sources = data.get("sources") if isinstance(data.get("sources"), dict) else {}
    return {
        "rows": data.get("rows"),
        "uci": sources.get("uci", 0),
        "school": sources.get("school", 0),
        "outcomes_from": parse_date(data["outcomes_from"]) if data.get("outcomes_from") else None,
        "outcomes_to": parse_date(data["outcomes_to"]) if data.get("outcomes_to") else None,
        "sha256": data.get("sha256", ""),
        "exported_at": parse_datetime(data["exported_at"]) if data.get("exported_at") else None,
    }


def _cross_validation_protocol(metrics) -> str | None:
    cross_validation = metrics.get("cross_validation") if isinstance(metrics, dict) else None
    protocol = cross_validation.get("protocol") if isinstance(cross_validation, dict) else None
    return protocol if isinstance(protocol, str) else None


def model_version_reference_note(*, version: ModelVersion) -> str:
    """Why a version trained on this school's students alone was rejected on its measured figures: validation
    measures every version on the UCI reference students, not on the school's. "" for any other version."""
    metrics = version.metrics if isinstance(version.metrics, dict) else {}
    reference = metrics.get("reference")
    data = version.training_data if isinstance(version.training_data, dict) else {}
    sources = data.get("sources") if isinstance(data.get("sources"), dict) else {}
    # A rejection after the reference rows were predicted is the measured-figures check's (services.py).
    if version.status != ModelVersion.Status.REJECTED or not isinstance(reference, dict):
        return ""
    if not sources.get("school") or sources.get("uci"):
        return ""
    students = f"{reference['rows']} UCI reference students" if reference.get("rows") else "UCI reference students"
    return (
        f"Validation measures every version on the {students} (the published data set), not on this school's. "
        f"This version was trained on the school's {sources['school']} students alone: where the school's grades "
        "follow other rules than the UCI students' (a final grade equal to the second period's, say), it can fail "
        "there though it suits the school. To train on both, run `python manage.py retrain --include-base-data`."
    )
