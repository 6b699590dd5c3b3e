"""Reads of CSV batch jobs: an API key sees every job (it belongs to the installation); a person their own, or
all of them with VIEW_ALL_STUDENTS."""
from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from predictions.access.roles import BATCH_VIEW, VIEW_ALL_STUDENTS
from predictions.models import BatchJob, BatchRow, Prediction
from studentperf.errors import ApplicationError


def batch_job_list_for_user(*, user) -> QuerySet[BatchJob]:
    """The batch jobs a person may see, newest first: all with VIEW_ALL_STUDENTS, their own uploads with
    BATCH_VIEW, none otherwise. The stored files are deferred: a list never needs them."""
    jobs = BatchJob.objects.defer("input_data").select_related("created_by")
    if user.has_perm(VIEW_ALL_STUDENTS):
        return jobs
    if not user.has_perm(BATCH_VIEW):
        return jobs.none()
    return jobs.filter(created_by=user)


def batch_job_get_for_requester(*, pk, user=None, api_key=None) -> BatchJob:
    """The job with this id if the requester may see it; ApplicationError(kind="not_found") otherwise."""
    if api_key is not None:
        jobs = BatchJob.objects.defer("input_data")
    elif user is not None:
        jobs = batch_job_list_for_user(user=user)
    else:
        raise ValueError("A requester is an API key or a user.")
    job = jobs.filter(pk=pk).first()
    if job is None:
        raise ApplicationError(f"There is no batch job with id {pk}.", kind="not_found")
    return job


def batch_job_summary(*, job: BatchJob) -> dict:
    """What a finished (or running) job gave so far: rows `predicted`, `rejected`, `unusual` (predicted rows whose
    record is unlike the students the model learned from), `risk` counts per band, and `students`
    (batch_job_student_counts; None when the upload did not ask to save students)."""
    counts = dict.fromkeys(Prediction.Risk.values, 0)
    rows = (
        BatchRow.objects.filter(job=job, prediction__isnull=False).order_by()
        .values("prediction__risk")
        .annotate(count=Count("pk"), unusual=Count("pk", filter=Q(prediction__unusual=True)))
    )
    unusual = 0
    for row in rows:
        counts[row["prediction__risk"]] = row["count"]
        unusual += row["unusual"]
    return {
        "predicted": sum(counts.values()), "rejected": job.rows_failed, "unusual": unusual, "risk": counts,
        "students": batch_job_student_counts(job=job) if job.save_students else None,
    }


def batch_job_student_counts(*, job: BatchJob) -> dict[str, int]:
    """What a class upload did with its rows' students so far: {"created", "updated", "no_id" (predicted, not
    saved: no external_id), "not_allowed" (predicted, not saved: the uploader may not add or change students)}."""
    statuses = [status for status in BatchRow.StudentStatus.values if status]
    counts = dict.fromkeys(statuses, 0)
    rows = (
        BatchRow.objects.filter(job=job, student_status__in=statuses).order_by()
        .values("student_status").annotate(count=Count("pk"))
    )
    for row in rows:
        counts[row["student_status"]] = row["count"]
    return counts


def batch_row_rejected_list(*, job: BatchJob, limit: int = 50) -> QuerySet[BatchRow]:
    """A job's first rejected rows, in file order, with their reasons (`errors`)."""
    return BatchRow.objects.filter(job=job, prediction__isnull=True).order_by("row_number")[:limit]


def batch_row_unusual_list(*, job: BatchJob, limit: int = 50) -> QuerySet[BatchRow]:
    """A job's first rows predicted from an unusual record, in file order, with their prediction (its reasons)."""
    rows = BatchRow.objects.filter(job=job, prediction__unusual=True).select_related("prediction")
    return rows.order_by("row_number")[:limit]


def batch_row_not_allowed_list(*, job: BatchJob, limit: int = 50) -> QuerySet[BatchRow]:
    """A class upload's first rows the uploader may not save (predicted, not saved)."""
    rows = BatchRow.objects.filter(job=job, student_status=BatchRow.StudentStatus.NOT_ALLOWED)
    return rows.order_by("row_number")[:limit]
