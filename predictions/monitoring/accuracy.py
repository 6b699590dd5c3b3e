"""The accuracy check: each model version's predictions against the final grades recorded since.

A pair is one prediction and the final grade it forecast:
- a stored student's prediction, against the student's current outcome (a corrected grade replaces the
  first one). Per student and version only the latest prediction made before the first outcome was recorded
  counts: one forecast per student, and a prediction made once the grade was known is not a forecast;
- a batch row's prediction, against the G3 given in the same file (one pair per row).
Pass/fail treats "fail" (G3 < 10, "at risk") as the positive class: precision is the share of students
flagged at risk who failed, recall the share of those who failed that were flagged. A prediction says "pass"
when pass_probability >= 0.5. The figures are scikit-learn's metric functions; per subgroup (sex, school,
address) the same functions through fairlearn's MetricFrame. See docs/monitoring.md.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import transaction
from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.db.models.fields.json import KT
from django.utils import timezone
from fairlearn.metrics import MetricFrame
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    mean_absolute_error,
    precision_score,
    recall_score,
    roc_auc_score,
    root_mean_squared_error,
)

from modelstore.models import ModelVersion
from modelstore.schema import PASS_MARK
from modelstore.selectors import model_version_active, model_version_get
from studentperf.errors import ApplicationError

from .drift import drift_report
from .models import AccuracyCheck, BatchRow, Outcome, Prediction

POSITIVE_CLASS = "fail"  # G3 < PASS_MARK: the students a teacher should act on
PASS_PROBABILITY_CUT = 0.5  # a prediction says "pass" when pass_probability >= this
SUBGROUP_FEATURES = ("sex", "school", "address")
_SAMPLE_COLUMNS = ("pass_probability", "interval_low", "interval_high", "interval_coverage")
_PAIR_COLUMNS = ("model_version_id", "final_grade", "predicted_grade", *_SAMPLE_COLUMNS, *SUBGROUP_FEATURES)


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


def pair_metrics(pairs: pd.DataFrame) -> dict:
    """The metrics of a set of pairs (columns of _PAIR_COLUMNS); counts 0 and figures None when empty."""
    if pairs.empty:
        return {name: (0 if name in COUNTS else None) for name in METRICS} | {"positive_class": POSITIVE_CLASS}
    figures = {
        name: _clean(name, function(pairs["final_grade"], pairs["predicted_grade"],
                                    **{column: pairs[column] for column in columns}))
        for name, (function, columns) in METRICS.items()
    }
    return figures | {"positive_class": POSITIVE_CLASS}


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


def pairs_frame() -> pd.DataFrame:
    """Every pair known now, all versions, one row each (columns: _PAIR_COLUMNS plus "source")."""
    subgroup_columns = {feature: KT(f"input__{feature}") for feature in SUBGROUP_FEATURES}
    columns = ("model_version_id", "predicted_grade", *_SAMPLE_COLUMNS)
    first_recorded = Outcome.objects.filter(student=OuterRef("student_id")).order_by("recorded_at", "pk")
    current = Outcome.objects.filter(student=OuterRef("student_id"), is_current=True)
    student_rows = (
        Prediction.objects.filter(student__isnull=False)
        .filter(Q(batch_row__isnull=True) | Q(batch_row__final_grade__isnull=True))  # a G3 in the file comes first
        .annotate(
            final_grade=Subquery(current.values("final_grade")[:1]),
            outcome_recorded_at=Subquery(first_recorded.values("recorded_at")[:1]),
        )
        .filter(final_grade__isnull=False, created_at__lte=F("outcome_recorded_at"))
        .order_by("model_version_id", "student_id", "-created_at", "-pk")
        .values("student_id", "final_grade", *columns, **subgroup_columns)
    )
    students = pd.DataFrame.from_records(list(student_rows), columns=["student_id", *_PAIR_COLUMNS])
    # The rows come newest first per (version, student): keep each student's latest forecast.
    students = students.drop_duplicates(["model_version_id", "student_id"], keep="first").drop(columns="student_id")
    batch_rows = (
        Prediction.objects.filter(batch_row__final_grade__isnull=False)
        .values(*columns, final_grade=F("batch_row__final_grade"), **subgroup_columns)
    )
    batches = pd.DataFrame.from_records(list(batch_rows), columns=list(_PAIR_COLUMNS))
    frames = [frame.assign(source=source) for frame, source in ((students, "student"), (batches, "batch")) if len(frame)]
    if not frames:
        return pd.DataFrame(columns=[*_PAIR_COLUMNS, "source"])
    return pd.concat(frames, ignore_index=True)


def batch_row_failed_share(*, since: datetime) -> tuple[float | None, int]:
    """The share of batch rows rejected among those of the jobs created since `since`, and their number."""
    rows = BatchRow.objects.filter(job__created_at__gte=since)
    total = rows.count()
    if not total:
        return None, 0
    return rows.filter(prediction__isnull=True).count() / total, total


def accuracy_check_run(*, now: datetime | None = None) -> list[AccuracyCheck]:
    """Check every version that has pairs, and the active version (for drift): one AccuracyCheck each.

    Then records the alerts the checks call for and sends the new ones (predictions.alerts). A second run adds
    another timestamped check per version; it never changes an earlier one.
    """
    from .alerts import alerts_notify, alerts_record

    now = now or timezone.now()
    since = now - timedelta(days=settings.DRIFT_WINDOW_DAYS)
    pairs = pairs_frame()
    active = model_version_active()
    version_ids = set(pairs["model_version_id"].astype(int)) | ({active.pk} if active else set())
    share, batch_rows = batch_row_failed_share(since=since)
    with transaction.atomic():
        checks = []
        for version in ModelVersion.objects.filter(pk__in=version_ids).order_by("version"):
            version_pairs = pairs[pairs["model_version_id"] == version.pk]
            metrics = pair_metrics(version_pairs) | {
                "sources": {source: int((version_pairs["source"] == source).sum()) for source in ("student", "batch")},
                "recent_batch_rows": batch_rows,
            }
            checks.append(AccuracyCheck.objects.create(
                model_version=version,
                pairs=len(version_pairs),
                metrics=metrics,
                subgroups=subgroup_metrics(version_pairs),
                drift=drift_report(version=version, since=since),
                failed_share=share,
            ))
        alerts = alerts_record(checks=checks, active=active)
    alerts_notify(alerts=alerts)
    return checks


def accuracy_check_queue() -> None:
    """Queue a check on a worker; ApplicationError(kind="unavailable") when the broker does not take it.
    The check never runs inside the request instead."""
    from studentperf import celery

    from .tasks import accuracy_check_run as accuracy_check_task

    unavailable = ApplicationError(
        "The check could not be queued: the task queue (Redis) is not reachable. Try again later, or run "
        "`python manage.py check_accuracy` on the server.",
        kind="unavailable",
    )
    if not celery.broker_ping():
        raise unavailable
    # Nothing is written before the task runs, so there is no commit to wait for: sent at once, a broker lost
    # since the ping is the same clear error (not a 500 from an on_commit callback).
    try:
        accuracy_check_task.delay()
    except Exception as exc:  # kombu's OperationalError, or a connection refused mid-publish
        raise unavailable from exc


# How the figures read: (key, heading, kind) for the page's tables and the command's summary.
FIGURES = (
    ("accuracy", "Accuracy", "share"),
    ("precision", "Precision", "share"),
    ("recall", "Recall", "share"),
    ("f1", "F1", "share"),
    ("roc_auc", "ROC-AUC", "ratio"),
    ("rmse", "RMSE", "points"),
    ("mae", "MAE", "points"),
)


def _shown(value, kind: str) -> str:
    if value is None:
        return "n/a"
    return {"share": f"{value:.1%}", "ratio": f"{value:.3f}", "points": f"{value:.2f}"}[kind]


def metrics_shown(metrics: dict) -> dict:
    """The figures as text: "figures" in FIGURES order, "coverage" beside its promise, "pairs"."""
    coverage, stated = metrics.get("interval_coverage"), metrics.get("stated_coverage")
    return {
        "figures": [_shown(metrics.get(key), kind) for key, _, kind in FIGURES],
        "coverage": "n/a" if coverage is None else f"{coverage:.1%} (promised {stated:.0%})",
        "pairs": metrics.get("pairs", 0),
    }


# Reads.

def accuracy_check_list(*, version: int | None = None) -> QuerySet[AccuracyCheck]:
    """Every check, newest first; only `version`'s (a version number) when given (not_found if unknown)."""
    checks = AccuracyCheck.objects.select_related("model_version").prefetch_related("alerts")
    if version is not None:
        checks = checks.filter(model_version=model_version_get(number=version))
    return checks


def accuracy_check_latest(*, version: int | None = None) -> list[AccuracyCheck]:
    """The newest check of each version (newest version first), or of `version` only."""
    checks = accuracy_check_list(version=version)
    latest = checks.filter(model_version=OuterRef("model_version")).order_by("-created_at", "-id").values("pk")[:1]
    return list(checks.filter(pk=Subquery(latest)).order_by("-model_version__version"))
