"""Retraining from recorded outcomes (issue 19): the school's rows handed to modelstore, or the run queued."""
from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser

from modelstore.retraining import RetrainResult, model_version_retrain, school_rows_require
from predictions.models import Alert
from predictions.monitoring.alerts import alert_raise, alerts_notify, alerts_resolve
from predictions.retraining import texts
from predictions.retraining.selectors import retraining_rows, retraining_rows_count
from predictions.retraining.texts import QUEUE_REFUSED
from studentperf import celery
from studentperf.errors import ApplicationError


def model_retrain(
    *, include_base_data: bool = False, activate_if_better: bool = False, user: AbstractBaseUser | None = None
) -> RetrainResult:
    """Train on the students with a current recorded final grade, register, measure, offer as the challenger.
    A version offered (not rejected) closes the open retraining alert: retraining works again."""
    result = model_version_retrain(
        school=retraining_rows(), include_base_data=include_base_data, activate_if_better=activate_if_better,
        user=user,
    )
    if result.action != "rejected":
        alerts_resolve(kind=Alert.Kind.RETRAINING, reason=texts.retrain_resolved(result))
    return result


def model_retrain_scheduled() -> RetrainResult | None:
    """Beat's retraining (RETRAIN_INTERVAL_DAYS). Nobody waits for its answer, so a run that cannot train (too few
    recorded outcomes) or whose version validation rejects raises the retraining alert: one open at a time (a later
    failure updates it), sent like the accuracy check's, shown on the monitoring page; a run that offers a version
    closes it (model_retrain). None when nothing was trained."""
    try:
        result = model_retrain()
    except ApplicationError as exc:
        _retraining_alert(texts.scheduled_skipped(exc), {"reason": "refused", "fields": exc.fields})
        return None
    if result.action == "rejected":
        _retraining_alert(texts.scheduled_rejected(result), {
            "reason": "rejected", "model_version": result.version.version,
            "school_rows": result.school_rows, "uci_rows": result.uci_rows,
        })
    return result


def _retraining_alert(message: str, details: dict) -> None:
    opened = alert_raise(kind=Alert.Kind.RETRAINING, message=message, details=details)
    alerts_notify(alerts=[opened] if opened else [])


def model_retrain_queue(*, user: AbstractBaseUser | None, include_base_data: bool = False) -> None:
    """Queue a retraining on a worker (settings.MODEL_RETRAIN_QUEUE: the admin's button); ApplicationError when too
    few students have a recorded final grade (kind "conflict": the run would train nothing, and nobody would hear
    why) or the broker does not take it (kind "unavailable"). Training never runs inside the request."""
    from predictions.tasks import model_retrain as model_retrain_task

    try:
        school_rows_require(count=retraining_rows_count())
    except ApplicationError as exc:
        raise ApplicationError(texts.not_queued(exc), kind=exc.kind, fields=exc.fields) from exc
    celery.broker_require(QUEUE_REFUSED)
    if not celery.task_send(model_retrain_task, getattr(user, "pk", None), include_base_data):
        raise ApplicationError(QUEUE_REFUSED, kind="unavailable")
