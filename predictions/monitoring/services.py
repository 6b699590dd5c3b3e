"""The accuracy check as a service: measure every version's pairs and the recent inputs' drift, store one
AccuracyCheck per version, record and send the alerts they call for; or queue that on a worker."""
from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from modelstore.models import ModelVersion
from modelstore.selectors import model_version_active_find, model_version_challenger_find
from predictions.models import AccuracyCheck
from predictions.monitoring.alerts import alerts_notify, alerts_record
from predictions.monitoring.selectors import batch_row_failed_share
from predictions.monitoring.texts import INTERVENTIONS_NOTE
from studentperf import celery
from studentperf.errors import ApplicationError


def accuracy_check_run(*, now: datetime | None = None) -> list[AccuracyCheck]:
    """Check every version that has pairs, and the active version (for drift): one AccuracyCheck each.

    The active version's check also compares it with the challenger, if there is one, on the same students
    (predictions.monitoring.challenger). Then records the alerts the checks call for and sends the new ones
    (predictions.monitoring.alerts). A second run adds another timestamped check per version; it never changes
    an earlier one.
    """
    # The check's maths (pandas, scikit-learn, fairlearn, scipy) is imported as it runs, on a worker or in
    # `check_accuracy`: the web processes import this module to queue a check and stay free of them
    # (docs/performance.md, "Memory").
    from predictions.monitoring.accuracy import intervention_metrics, pair_metrics, subgroup_metrics, unusual_metrics
    from predictions.monitoring.drift import drift_report
    from predictions.monitoring.pairs import pairs_frame

    now = now or timezone.now()
    since = now - timedelta(days=settings.DRIFT_WINDOW_DAYS)
    pairs = pairs_frame()
    active = model_version_active_find()
    challenger = model_version_challenger_find()
    version_ids = set(pairs["model_version_id"].astype(int)) | ({active.pk} if active else set())
    share, batch_rows = batch_row_failed_share(since=since)
    with transaction.atomic():
        checks = []
        for version in ModelVersion.objects.filter(pk__in=version_ids).order_by("version"):
            version_pairs = pairs[pairs["model_version_id"] == version.pk]
            metrics = pair_metrics(version_pairs) | {
                "sources": {source: int((version_pairs["source"] == source).sum()) for source in ("student", "batch")},
                "recent_batch_rows": batch_rows,
                "unusual": unusual_metrics(version_pairs),
                "interventions": intervention_metrics(version_pairs) | {"note": INTERVENTIONS_NOTE},
            }
            checks.append(AccuracyCheck.objects.create(
                model_version=version,
                pairs=len(version_pairs),
                metrics=metrics,
                subgroups=subgroup_metrics(version_pairs),
                drift=drift_report(version=version, since=since),
                failed_share=share,
                challenger=_challenger_compared(pairs, active=active, challenger=challenger)
                if version == active else {},
            ))
        alerts = alerts_record(checks=checks, active=active)
    alerts_notify(alerts=alerts)
    return checks


def _challenger_compared(pairs, *, active: ModelVersion | None, challenger: ModelVersion | None) -> dict:
    from predictions.monitoring.challenger import challenger_comparison
    from predictions.monitoring.pairs import challenger_pairs_frame

    if active is None or challenger is None:
        return {}
    return challenger_comparison(
        challenger_pairs_frame(pairs=pairs, active=active, challenger=challenger),
        active_version=active.version, challenger_version=challenger.version,
        min_students=settings.CHALLENGER_MIN_STUDENTS,
    )


QUEUE_REFUSED = (
    "The check could not be queued: the task queue (Redis) is not reachable. Try again later, or run "
    "`python manage.py check_accuracy` on the server."
)


def accuracy_check_queue() -> None:
    """Queue a check on a worker; ApplicationError(kind="unavailable") when the broker does not take it.
    The check never runs inside the request instead."""
    from predictions.tasks import accuracy_check_run as accuracy_check_task

    celery.broker_require(QUEUE_REFUSED)
    # Nothing is written before the task runs, so there is no commit to wait for: sent at once, a broker lost
    # since the ping is the same clear error (not a 500 from an on_commit callback).
    if not celery.task_send(accuracy_check_task):
        raise ApplicationError(QUEUE_REFUSED, kind="unavailable")
