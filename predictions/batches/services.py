"""CSV batch predictions: accept a file, predict it chunk by chunk in a worker, write the results file.

A chunk is committed as one transaction: its audit rows (Prediction), its BatchRows, its BatchChunk marker and
the job's counters. The marker's unique (job, index) is inserted first, so a chunk another worker already
committed fails at once and is rolled back whole: a job run twice, or picked up again after its worker was
killed, ends with exactly one audit row per valid input row and one BatchRow per input row.
"""
from __future__ import annotations

import hashlib
import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import F
from django.utils import timezone

from predictions.access.requester import credential_audit
from predictions.batches.files import (
    BatchFileRow,
    FileChunk,
    batch_chunk_size,
    batch_file_check,
    batch_file_chunk_indexes,
    batch_file_chunks,
)
from predictions.batches.students import batch_rows_students_save, batch_save_students_check
from predictions.models import BatchChunk, BatchJob, BatchRow, Prediction
from predictions.services import predictions_serve
from studentperf import celery as studentperf_celery
from studentperf import metrics
from studentperf.bulk import rows_insert
from studentperf.errors import ApplicationError
from studentperf.observability import request_id_bound, request_id_get

logger = logging.getLogger(__name__)

BROKER_DOWN = (
    "Batch predictions are unavailable right now: the task queue (Redis) cannot be reached. Nothing was saved; "
    "try again in a few minutes. Single predictions still work."
)
QUEUED_STALE_AFTER = timedelta(minutes=1)
# What a job's progress changes: refreshed without reloading the stored file.
PROGRESS_FIELDS = ("status", "attempts", "rows_done", "rows_failed", "error", "started_at", "finished_at", "updated_at")


def batch_job_create(
    *, data: bytes, file_name: str, source: str, user=None, api_key=None, save_students: bool = False
) -> BatchJob:
    """Check an uploaded CSV, keep it as a queued job and queue its processing once committed. `user` or
    `api_key` uploads it; `save_students`: its rows with an external_id become the uploader's students
    (predictions.batches.students).

    Raises ApplicationError naming `file` (kind "too_large" above BATCH_MAX_BYTES, "invalid" for any other
    problem with the file, see predictions.batches.files.batch_file_check), kind "forbidden" naming
    `save_students` when the uploader may not add students, or kind "unavailable" when the broker cannot be
    reached: then nothing is saved, rather than a job no worker will ever hear of.
    """
    if save_students:
        batch_save_students_check(user=user, api_key=api_key)
    checked = batch_file_check(data)
    studentperf_celery.broker_require(BROKER_DOWN)
    with transaction.atomic():
        job = BatchJob.objects.create(
            source=source, file_name=(file_name or "upload.csv")[:255], input_data=data,
            input_sha256=hashlib.sha256(data).hexdigest(), rows_total=checked.rows_total,
            chunk_size=batch_chunk_size(rows_total=checked.rows_total, largest=settings.BATCH_CHUNK_SIZE),
            created_by=user, save_students=save_students,
            **credential_audit(api_key),  # the key's prefix or the OAuth2 client's id and name
            request_id=request_id_get(),
        )
        job_id = str(job.pk)
        transaction.on_commit(lambda: _job_queue(job_id))
    logger.info("batch job queued", extra={"batch_job": job_id, "rows": checked.rows_total, "source": source})
    return job


def _job_queue(job_id: str) -> bool:
    """Send the job's task; a broker gone since the ping leaves the job queued for batch_jobs_resume_stale."""
    from predictions.tasks import batch_job_process as batch_job_process_task

    return studentperf_celery.task_send(batch_job_process_task, job_id)


def batch_job_process(*, job_id) -> BatchJob | None:
    """Do a job's work: every chunk not yet committed, then mark it done. Safe to run twice, or concurrently.

    No active model, a file that no longer matches its checksum, too many attempts or any unexpected error
    marks the job failed with the reason (the chunks committed so far stay). A database OperationalError is
    transient: it is raised for the task to retry, the job left running so that it is resumed.
    """
    job = BatchJob.objects.filter(pk=job_id).first()
    if job is None or job.status in (BatchJob.Status.DONE, BatchJob.Status.FAILED):
        return job  # deleted, or a duplicate message of a finished job
    if job.attempts >= settings.BATCH_MAX_ATTEMPTS:
        return _job_fail(job, f"Stopped after {job.attempts} attempts: the workers kept stopping or the database "
                              "kept failing before the job could finish.")
    if not _job_start(job):
        return job  # finished by another worker meanwhile
    # The upload's id, not the message's: a job resumed by batch_jobs_resume_stale (queued by beat, outside any
    # request) or retried keeps it on every chunk's audit rows and log lines (issue 18, attack 10).
    with request_id_bound(job.request_id):
        return _job_work(job)


def _job_work(job: BatchJob) -> BatchJob | None:
    try:
        data = bytes(job.input_data)
        if hashlib.sha256(data).hexdigest() != job.input_sha256:
            return _job_fail(job, "The stored file does not match its checksum; upload it again.")
        done = set(BatchChunk.objects.filter(job=job).values_list("index", flat=True))
        for chunk in batch_file_chunks(data, size=job.chunk_size):
            if chunk.index not in done:
                _chunk_process(job, chunk)
    except OperationalError:
        raise  # transient (database locked or gone): the task retries with backoff
    except ApplicationError as exc:
        return _job_fail(job, exc.message)
    except Exception as exc:
        logger.exception("batch job failed", extra={"batch_job": str(job.pk)})
        return _job_fail(job, f"Unexpected error: {exc.__class__.__name__}: {exc}")
    return _job_finish(job)


def _job_start(job: BatchJob) -> bool:
    """Mark the job running (one more attempt); False when it finished in the meantime."""
    now = timezone.now()
    started = BatchJob.objects.filter(pk=job.pk, status__in=[BatchJob.Status.QUEUED, BatchJob.Status.RUNNING]).update(
        status=BatchJob.Status.RUNNING, attempts=F("attempts") + 1, started_at=job.started_at or now, updated_at=now,
    )
    job.refresh_from_db(fields=PROGRESS_FIELDS)
    if started:
        logger.info("batch job started", extra={"batch_job": str(job.pk), "attempt": job.attempts})
    return bool(started)


def _chunk_process(job: BatchJob, chunk: FileChunk) -> None:
    """One chunk in one transaction; a chunk another worker committed meanwhile is rolled back and skipped."""
    started = time.perf_counter()
    rows = chunk.read()
    valid = [row for row in rows if row.record is not None]
    try:
        with transaction.atomic():
            # The marker first: a concurrent worker's copy of this chunk fails here, before any other write.
            BatchChunk.objects.create(job=job, index=chunk.index, rows=len(rows), failed=len(rows) - len(valid))
            saved = batch_rows_students_save(job=job, rows=valid)
            predictions = predictions_serve(
                records=[row.record for row in valid], students=[row.student for row in saved],
                source=Prediction.Source.BATCH, user=job.created_by, api_key_prefix=job.api_key_prefix,
                oauth_client_id=job.oauth_client_id, oauth_client_name=job.oauth_client_name, started=started,
            ) if valid else []
            outcomes = {row.row_number: (prediction, kept.status)
                        for row, prediction, kept in zip(valid, predictions, saved, strict=True)}
            rows_insert(BatchRow, [
                _batch_row(job, row, *outcomes.get(row.row_number, (None, BatchRow.StudentStatus.NOT_ASKED)))
                for row in rows
            ])
            BatchJob.objects.filter(pk=job.pk).update(
                rows_done=F("rows_done") + len(rows), rows_failed=F("rows_failed") + len(rows) - len(valid),
                updated_at=timezone.now(),
            )
    except IntegrityError:
        if not BatchChunk.objects.filter(job=job, index=chunk.index).exists():
            raise  # not the marker: a real constraint violation
        logger.info("batch chunk already done by another worker",
                    extra={"batch_job": str(job.pk), "chunk": chunk.index})
    else:  # counted once committed: a chunk rolled back (another worker's) counts nothing
        metrics.validation_errors_observe(fields=[name for row in rows for name in row.errors], source="batch")


def _batch_row(job: BatchJob, row: BatchFileRow, prediction: Prediction | None, student_status: str) -> BatchRow:
    return BatchRow(
        job=job, row_number=row.row_number, external_id=row.external_id, prediction=prediction, errors=row.errors,
        final_grade=row.final_grade, student_status=student_status,
    )


def _job_finish(job: BatchJob) -> BatchJob:
    expected = len(batch_file_chunk_indexes(rows_total=job.rows_total, size=job.chunk_size))
    committed = BatchChunk.objects.filter(job=job).count()
    if committed != expected:
        return _job_fail(job, f"The file gave {committed} chunks where {expected} were expected.")
    BatchJob.objects.filter(pk=job.pk, status=BatchJob.Status.RUNNING).update(
        status=BatchJob.Status.DONE, finished_at=timezone.now(), updated_at=timezone.now(), error="",
    )
    job.refresh_from_db(fields=PROGRESS_FIELDS)
    logger.info("batch job done", extra={"batch_job": str(job.pk), "rows": job.rows_done, "failed": job.rows_failed})
    return job


def _job_fail(job: BatchJob, reason: str) -> BatchJob:
    now = timezone.now()
    BatchJob.objects.filter(pk=job.pk).exclude(status=BatchJob.Status.DONE).update(
        status=BatchJob.Status.FAILED, error=reason, finished_at=now, updated_at=now,
    )
    job.refresh_from_db(fields=PROGRESS_FIELDS)
    logger.warning("batch job failed", extra={"batch_job": str(job.pk), "reason": reason})
    return job


def batch_jobs_resume_stale(*, now=None) -> list[str]:
    """Queue again the jobs a lost message or a killed worker left behind: queued with no progress for a
    minute, or running without a heartbeat (`updated_at`) for BATCH_STALE_SECONDS. Returns their ids.

    Each job is claimed by moving its `updated_at` to now, conditionally on the value read, so two runs at
    once (or one right after another) queue it once.
    """
    now = now or timezone.now()
    stale = (
        BatchJob.objects.filter(status=BatchJob.Status.QUEUED, updated_at__lt=now - QUEUED_STALE_AFTER)
        | BatchJob.objects.filter(
            status=BatchJob.Status.RUNNING, updated_at__lt=now - timedelta(seconds=settings.BATCH_STALE_SECONDS)
        )
    )
    resumed = []
    for pk, status, updated_at in stale.values_list("pk", "status", "updated_at"):
        claimed = BatchJob.objects.filter(pk=pk, status=status, updated_at=updated_at).update(updated_at=now)
        if claimed and _job_queue(str(pk)):
            resumed.append(str(pk))
    if resumed:
        logger.info("stale batch jobs queued again", extra={"batch_jobs": resumed})
    return resumed
