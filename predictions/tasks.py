"""Celery tasks: thin; each loads what it needs, calls a service and is safe to run twice (acks_late)."""
from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from predictions.batches import services as batches
from predictions.monitoring import services as monitoring


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
