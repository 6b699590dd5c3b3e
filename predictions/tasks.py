"""Celery tasks: thin; each loads what it needs, calls a service and is safe to run twice (acks_late)."""
from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from predictions.batches import services as batches
from predictions.monitoring import services as monitoring
from predictions.retraining import services as retraining
from predictions.shadow import services as shadow


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


@shared_task(
    name="predictions.tasks.shadow_predictions_score", acks_late=True,
    autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3,
)
def shadow_predictions_score(prediction_ids: list[str], challenger_id: int) -> int:
    """Score served predictions with the challenger in shadow (queued once their rows are committed, one message
    per request or batch chunk): the number of shadow rows written. Running it twice writes none twice."""
    return shadow.shadow_predictions_score(prediction_ids=prediction_ids, challenger_id=challenger_id)


# Not acks_late: a worker lost mid-training loses that run (queue it again) rather than training a second version.
@shared_task(name="predictions.tasks.model_retrain", acks_late=False)
def model_retrain(user_id: int | None = None, include_base_data: bool = False) -> int:
    """Retrain from recorded outcomes (the admin's button, beat when RETRAIN_INTERVAL_DAYS is set): the new
    version's id, offered as the challenger when it passed validation."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(pk=user_id).first() if user_id is not None else None
    return retraining.model_retrain(include_base_data=include_base_data, user=user).version.pk
