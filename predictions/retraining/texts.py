"""Sentences about retraining, for the command's output and the admin's messages."""
from __future__ import annotations

from modelstore.retraining import FIGURES_COMPARED, RetrainResult
from modelstore.texts import model_version_reference_note
from studentperf.errors import ApplicationError

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


def not_queued(refused: ApplicationError) -> str:
    """The admin button's message when a run would train nothing (too few recorded outcomes)."""
    return f"Retraining was not queued. {refused.message}"


def scheduled_skipped(refused: ApplicationError) -> str:
    """The retraining alert's message when a scheduled run trained nothing (too few recorded outcomes)."""
    return f"Scheduled retraining skipped. {refused.message}"


def scheduled_rejected(result: RetrainResult) -> str:
    """The retraining alert's message when validation rejected the version a scheduled run trained."""
    return f"Scheduled retraining: {_outcome(result, result.version)} It was not offered as the challenger."


def retrain_resolved(result: RetrainResult) -> str:
    """Why the open retraining alert was closed: a later retraining offered a version."""
    done = "activated" if result.action == "activated" else "offered as the challenger"
    return (
        f"v{result.version.version}, retrained on {result.school_rows} school students, passed validation and was "
        f"{done}."
    )


def _outcome(result: RetrainResult, version) -> str:
    if result.action == "rejected":
        rejected = f"v{version.version} was rejected by validation: {version.rejection_reason}"
        return " ".join(filter(None, [rejected, model_version_reference_note(version=version)]))
    if result.action == "activated":
        return f"v{version.version} passed validation and is now the active version."
    return f"v{version.version} passed validation and is now the challenger, scoring live traffic in shadow."


def _figure(name: str, value) -> str:
    if value is None:
        return "-"
    return f"{value:.1%}" if name in SHARES else f"{value:.3f}"
