"""The batch pages: upload a class as CSV, follow the job's progress, read its summary, download its results.

The same checks as the other teacher pages, in the same order: signed in, the permission (BATCH_ADD to upload,
BATCH_VIEW to look), then that the person may see the job (404 otherwise: another teacher's job does not exist).
"""
from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from modelstore.schema import MAY_BE_UNKNOWN
from predictions.access.roles import BATCH_ADD, BATCH_VIEW, STUDENT_ADD
from predictions.batches.files import TEMPLATE_HEADER, batch_file_size_check
from predictions.batches.results import batch_results_csv, batch_results_file_name, errors_ordered
from predictions.batches.selectors import (
    batch_job_list_for_user,
    batch_job_summary,
    batch_row_not_allowed_list,
    batch_row_rejected_list,
    batch_row_unusual_list,
)
from predictions.batches.services import batch_job_create
from predictions.forms import application_error_add
from predictions.models import BatchJob, Prediction
from studentperf.errors import ApplicationError
from studentperf.observability import error_mark

RECENT_JOBS = 50
REJECTED_SHOWN = 50
UNUSUAL_SHOWN = 50


class BatchUploadForm(forms.Form):
    """The file (batch_job_create judges it, and its reasons are shown beside the field) and whether the rows
    become the uploader's students, offered to those who may add students."""

    file = forms.FileField(
        label="CSV file", required=False,
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv", "required": True}),
        help_text="One student per row, the first line naming the columns (see the accepted format above).",
    )
    save_students = forms.BooleanField(
        label="Add these students to my list", required=False, initial=True,
        help_text="Each row with an external_id adds the student to your dashboard with this prediction, or "
        "updates the student you already have with that id. Rows without an id are predicted only.",
    )

    def __init__(self, *args, may_save_students: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if not may_save_students:
            del self.fields["save_students"]


def _visible_job(request: HttpRequest, pk) -> BatchJob:
    return get_object_or_404(batch_job_list_for_user(user=request.user), pk=pk)


def _progress(job: BatchJob) -> dict:
    percent = 100 if job.rows_total == 0 else int(job.rows_done * 100 / job.rows_total)
    return {
        "status": job.status, "rows_total": job.rows_total, "rows_done": job.rows_done,
        "rows_failed": job.rows_failed, "percent": percent,
        "finished": job.status in (BatchJob.Status.DONE, BatchJob.Status.FAILED),
    }


@login_required
@permission_required(BATCH_VIEW, raise_exception=True)
def batch_list(request: HttpRequest) -> HttpResponse:
    jobs = batch_job_list_for_user(user=request.user)[:RECENT_JOBS]
    return render(request, "predictions/batch_list.html", {"jobs": jobs})


@login_required
@permission_required(BATCH_ADD, raise_exception=True)
def batch_new(request: HttpRequest) -> HttpResponse:
    may_save_students = request.user.has_perm(STUDENT_ADD)
    if request.method != "POST":
        return _upload_page(request, BatchUploadForm(may_save_students=may_save_students))
    # The CSRF check has read the body already (it looks for the token among the fields): the file's own size
    # is what is checked here. A proxy in front (client_max_body_size) bounds what is read at all.
    form = BatchUploadForm(request.POST, request.FILES, may_save_students=may_save_students)
    form.is_valid()  # collects the upload: batch_job_create judges it
    try:
        upload = form.cleaned_data.get("file")
        if upload is None:
            raise ApplicationError("Choose a CSV file to upload.", fields={"file": ["is required: choose a file"]})
        batch_file_size_check(upload.size)
        job = batch_job_create(
            data=upload.read(), file_name=upload.name, source=Prediction.Source.WEB, user=request.user,
            save_students=bool(form.cleaned_data.get("save_students")),
        )
    except ApplicationError as exc:
        if exc.kind == "unavailable":
            return _upload_page(request, form, unavailable=exc.message, status=503)
        application_error_add(form, exc)
        error_mark(request, error_type="validation", fields=form.errors)
        return _upload_page(request, form)
    messages.success(request, f"{job.file_name} uploaded: {job.rows_total} students are being predicted.")
    return redirect("predictions:batch-detail", pk=job.pk)


def _upload_page(request: HttpRequest, form: BatchUploadForm, *, unavailable: str = "", status: int = 200):
    context = {
        "form": form, "unavailable": unavailable, "max_megabytes": settings.BATCH_MAX_BYTES // (1024 * 1024),
        "max_rows": settings.BATCH_MAX_ROWS, "required_columns": TEMPLATE_HEADER[1:-3],
        "may_be_unknown": MAY_BE_UNKNOWN,
    }
    return render(request, "predictions/batch_form.html", context, status=status)


@login_required
@permission_required(BATCH_ADD, raise_exception=True)
def batch_template(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(",".join(TEMPLATE_HEADER) + "\n", content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="studentperf-class-template.csv"'
    return response


@login_required
@permission_required(BATCH_VIEW, raise_exception=True)
def batch_detail(request: HttpRequest, pk) -> HttpResponse:
    job = _visible_job(request, pk)
    context = {"job": job, "progress": _progress(job)}
    if job.status == BatchJob.Status.DONE:
        context["summary"] = batch_job_summary(job=job)
        context["rejected"] = [
            (row, errors_ordered(row.errors)) for row in batch_row_rejected_list(job=job, limit=REJECTED_SHOWN)
        ]
        context["unusual"] = batch_row_unusual_list(job=job, limit=UNUSUAL_SHOWN)
        context["not_saved"] = batch_row_not_allowed_list(job=job, limit=REJECTED_SHOWN)
    return render(request, "predictions/batch_detail.html", context)


@login_required
@permission_required(BATCH_VIEW, raise_exception=True)
def batch_status(request: HttpRequest, pk) -> JsonResponse:
    """What the progress bar polls every second."""
    return JsonResponse(_progress(_visible_job(request, pk)))


@login_required
@permission_required(BATCH_VIEW, raise_exception=True)
def batch_results(request: HttpRequest, pk) -> HttpResponse:
    job = _visible_job(request, pk)
    try:
        rows = batch_results_csv(job=job)
    except ApplicationError as exc:
        return HttpResponse(exc.message, status=409, content_type="text/plain; charset=utf-8")
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{batch_results_file_name(job=job)}"'
    return response
