"""Celery tasks: thin; each loads what it needs, calls a service and is safe to run twice (acks_late)."""
from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError

from predictions.batches import services as batches
from predictions.monitoring import services as monitoring
from predictions.retraining import services as retraining
from predictions.shadow import services as shadow

logger = logging.getLogger(__name__)


@shared_task(
    name="predictions.tasks.accuracy_check_run", acks_late=True,
    autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3,
)
def accuracy_check_run() -> list[int]:
    """The periodic accuracy and drift check (beat, the monitoring page's button): the ids of the checks stored.

    Running it twice stores two timestamped checks per version and updates, not repeats, open alerts.
    """
    return [check.pk for check in monitoring.accuracy_check_run()]


@shared_task(bind=True, acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def batch_job_process(self, job_id: str) -> str | None:
    """Predict a CSV batch job's rows not yet done (queued on upload, and again by batch_jobs_resume_stale)."""
    job = batches.batch_job_process(job_id=job_id)
    return job.status if job is not None else None


@shared_task
def batch_jobs_resume_stale() -> list[str]:
    """Every minute (beat): queue again the batch jobs a lost message or a killed worker left behind."""
    return batches.batch_jobs_resume_stale()


# Not acks_late, no retry: beat queues the next sweep within SHADOW_SWEEP_SECONDS, and it goes on where this one
# stopped (an expired message, a lost worker or a database error lose nothing).
@shared_task(name="predictions.tasks.shadow_predictions_sweep", acks_late=False)
def shadow_predictions_sweep() -> int:
    """Every SHADOW_SWEEP_SECONDS (beat): score the predictions served since the last sweep with the challenger,
    in shadow; the number of shadow rows written. Running it twice (or two at once) writes none twice."""
    return shadow.shadow_predictions_sweep()


@shared_task(name="predictions.tasks.shadow_predictions_score", acks_late=False)
def shadow_predictions_score(*args, **kwargs) -> int:
    """Superseded by shadow_predictions_sweep: a message queued per request before an upgrade is dropped (the
    sweep scores its predictions)."""
    logger.info("shadow_predictions_score is superseded by the sweep; message dropped")
    return 0


# Not acks_late: a worker lost mid-training loses that run (queue it again) rather than training a second version.
@shared_task(name="predictions.tasks.model_retrain", acks_late=False)
def model_retrain(user_id: int | None = None, include_base_data: bool = False, scheduled: bool = False) -> int | None:
    """Retrain from recorded outcomes (the admin's button, beat with `scheduled` when RETRAIN_INTERVAL_DAYS is set):
    the new version's id, offered as the challenger when it passed validation. A scheduled run that cannot train
    raises the retraining alert instead of failing (None)."""
    from django.contrib.auth import get_user_model

    if scheduled:
        result = retraining.model_retrain_scheduled()
        return result.version.pk if result else None
    user = get_user_model().objects.filter(pk=user_id).first() if user_id is not None else None
    return retraining.model_retrain(include_base_data=include_base_data, user=user).version.pk
