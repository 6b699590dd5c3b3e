"""Sentences about retraining, for the command's output and the admin's messages."""
from __future__ import annotations

from modelstore.retraining import FIGURES_COMPARED, RetrainResult

QUEUE_REFUSED = (
    "Retraining could not be queued: the task queue (Redis) is not reachable. Try again later, or run "
    "`python manage.py retrain` on the server."
)
FIGURE_NAMES = {
    "pass_accuracy": "pass/fail accuracy", "rmse": "RMSE", "interval_coverage": "interval coverage",
    "brier": "Brier score", "mae": "MAE", "interval_width": "mean interval width",
}
SHARES = ("pass_accuracy", "interval_coverage")


def retrain_summary(result: RetrainResult) -> list[str]:
    """What a retraining did, line by line: rows used, the figures of both versions, what happened."""
    version = result.version
    lines = []
    if result.base_added_because:
        lines.append(result.base_added_because)
    lines.append(
        f"Trained on {result.school_rows + result.uci_rows} rows: {result.school_rows} school students with a recorded "
        f"final grade, {result.uci_rows} UCI students."
    )
    lines.append(f"Measured on the {result.school_rows} school students (cross-validated for the new version):")
    active = result.figures.get("active")
    for name in FIGURES_COMPARED:
        new = _figure(name, result.figures["new"][name])
        against = f", active v{result.active_version} {_figure(name, active[name])}" if active else ""
        lines.append(f"  {FIGURE_NAMES[name]}: new {new}{against}")
    if result.better is None:
        lines.append("There is no active version to compare with.")
    else:
        lines.append(
            f"The new version is {'better' if result.better else 'not better'} by the rule: "
            "pass/fail accuracy not lower and RMSE lower."
        )
    lines.append(_outcome(result, version))
    return lines


def _outcome(result: RetrainResult, version) -> str:
    if result.action == "rejected":
        return f"v{version.version} was rejected by validation: {version.rejection_reason}"
    if result.action == "activated":
        return f"v{version.version} passed validation and is now the active version."
    return f"v{version.version} passed validation and is now the challenger, scoring live traffic in shadow."


def _figure(name: str, value) -> str:
    if value is None:
        return "-"
    return f"{value:.1%}" if name in SHARES else f"{value:.3f}"
