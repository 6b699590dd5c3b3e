"""The CSV batch endpoints: upload a file (202, processed by a worker), follow the job, download the results.

Sessions need their role's batch permission on top of the scope (teachers upload and see their own jobs,
model admins see every job); an API key goes by its scope and sees every job, as it sees every student.
"""
from __future__ import annotations

from django.conf import settings
from django.http import StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from predictions.access.requester import request_credential, requester
from predictions.access.roles import BATCH_ADD, BATCH_VIEW
from predictions.api.examples import response
from predictions.batches.files import batch_file_size_check
from predictions.batches.results import batch_results_csv, batch_results_file_name
from predictions.batches.selectors import batch_job_get_for_requester, batch_job_summary
from predictions.batches.services import batch_job_create
from predictions.models import BatchJob, Prediction
from studentperf.api.base import ApiView
from studentperf.api.schema import error_responses
from studentperf.errors import ApplicationError

# What multipart framing may add around the file before the body counts as too large unread.
MULTIPART_SLACK = 64 * 1024
JOB_ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The job's id.")
UPLOAD_DESCRIPTION = """\
Send a CSV file in the multipart field `file`: the UCI file as published (`;`-separated, quoted values) or a
comma-separated file, UTF-8 with or without BOM, the first line naming the columns as in `student.txt`.
The 30 attributes are required columns (an empty cell of a sensitive one, `Pstatus`, `famrel`, `romantic`,
`freetime`, `goout`, `Dalc`, `Walc`, `health`, means unknown: the model then does without it; with
`save_students`, it keeps the value a student already has); `G1`, `G2` (empty: not known yet), `G3` (a known final grade, kept
as the row's outcome) and `external_id` are optional; any other column is refused.

The file is checked at once: not CSV, no header, missing or unknown columns, no data rows or more rows than
allowed answer 400 naming `file`; a file above the size limit 413; the task queue unreachable 503, with
nothing saved. Otherwise the answer is 202: a worker predicts the rows, chunk by chunk. Follow `status_url`
(also the `Location` header) until the status is `done`, then download `results_url`. With
`save_students=true` (a form field beside `file`) the upload is a class: its rows become students (below). A row with a bad
value does not stop the others: the results give its reason per field.
"""
RESULTS_DESCRIPTION = """\
One line per data row, in file order: `row` (1 is the first row after the header), `external_id`,
`predicted_grade`, `pass_probability`, `risk`, `interval_low`, `interval_high`, `setup`, `unusual` (`true` when
the record is unlike the students the model learned from: treat the prediction with care; empty for a model
version older than this check), `unusual_reasons` (why, `reason; reason`), `student` (what a class upload did
with the row's student: `added`, `updated`, `not saved: no external_id`, `not saved: the uploader may not add or
change students`; empty when saving was not asked or the row was rejected), and `errors` for a rejected row
(`field: reason; field: reason`, the prediction columns then empty). 409 until the job is done.
"""
EXAMPLE_ID = "6f1d2c3b-9a8e-4f7d-8c6b-5a4e3d2c1b0a"
EXAMPLE_STATUS_URL = f"https://school.example/api/v1/batches/{EXAMPLE_ID}"
EXAMPLE_CREATED = {
    "id": EXAMPLE_ID, "status": "queued", "rows_total": 395,
    "status_url": EXAMPLE_STATUS_URL, "results_url": f"{EXAMPLE_STATUS_URL}/results",
}
EXAMPLE_JOB = {
    "id": EXAMPLE_ID, "status": "running", "file_name": "student-mat.csv", "rows_total": 395, "rows_done": 200,
    "rows_failed": 1, "students": {"created": 180, "updated": 12, "no_id": 7, "not_allowed": 0}, "rows_unusual": 4,
    "error": "", "created_at": "2026-11-20T14:05:00Z",
    "started_at": "2026-11-20T14:05:01Z", "finished_at": None, "results_url": f"{EXAMPLE_STATUS_URL}/results",
}
EXAMPLE_RESULTS = (
    "row,external_id,predicted_grade,pass_probability,risk,interval_low,interval_high,setup,unusual,unusual_reasons,"
    "student,errors\n"
    "1,2024-017,5.84,0.031,high,3.62,8.06,A,false,,added,\n"
    "2,2024-018,,,,,,,,,,age: must be an integer from 15 to 22\n"
    "3,2024-019,7.12,0.208,high,4.35,9.88,A,true,Age 22: only 1 of the 395 students the model learned from was 22 "
    "or older; School absences 75: only 1 of the 395 students the model learned from had as many or more,updated,\n"
)


class SessionRolePermission(BasePermission):
    """A person signed in also needs the view's `session_permission`: uploading needs BATCH_ADD, reading
    BATCH_VIEW. An API key is judged by its scope alone (HasScope, which runs first)."""

    message = "Your role does not allow batch predictions."

    def has_permission(self, request, view) -> bool:
        if request_credential(request) is not None or not request.user.is_authenticated:
            return True
        return request.user.has_perm(view.session_permission[request.method])


class _BatchApi(ApiView):
    permission_classes = [*ApiView.permission_classes, SessionRolePermission]
    session_permission = {"GET": BATCH_VIEW, "HEAD": BATCH_VIEW, "OPTIONS": BATCH_VIEW, "POST": BATCH_ADD}

    def job(self, pk) -> BatchJob:
        return batch_job_get_for_requester(pk=pk, **requester(self.request))

    def job_url(self, job: BatchJob, name: str) -> str:
        return self.request.build_absolute_uri(reverse(name, kwargs={"pk": job.pk}))


class BatchOptionsSerializer(serializers.Serializer):
    """The upload's fields besides the file (which batch_job_create judges)."""

    save_students = serializers.BooleanField(
        required=False, default=False,
        help_text="true: a class upload. Each row with an `external_id` creates or updates the student of that id at "
        "the row's school among the uploader's own students (a session: the person's; an API key: needs the "
        "`write` scope, and its students are those without a teacher), its prediction linked to the student; "
        "another teacher's student of the same id is never touched. Rows without an id are predicted, not saved; "
        "a row the uploader may no longer save (role or key changed) is predicted, not saved, and says so. "
        "Uploading the same file again updates the students, never duplicates them. 403 naming `save_students` "
        "when the uploader may not add students.",
    )


class BatchUploadSerializer(BatchOptionsSerializer):
    file = serializers.FileField(help_text="The CSV file (multipart field `file`).")


class BatchCreatedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    # Not an enum here: one component holding the choice set keeps its schema name free of collisions.
    status = serializers.CharField(help_text="queued: GET status_url to follow it.")
    rows_total = serializers.IntegerField(help_text="Data rows in the file.")
    status_url = serializers.URLField(help_text="GET it to follow the job (also the Location header).")
    results_url = serializers.URLField(help_text="GET it once the status is done: the results CSV.")


class BatchStudentsSerializer(serializers.Serializer):
    created = serializers.IntegerField(help_text="Students added.")
    updated = serializers.IntegerField(help_text="Students updated (their id was already known).")
    no_id = serializers.IntegerField(help_text="Rows predicted but not saved: no external_id.")
    not_allowed = serializers.IntegerField(
        help_text="Rows predicted but not saved: the uploader may not add or change students."
    )


class BatchJobSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(
        choices=BatchJob.Status.choices, help_text="queued, running, done (results ready) or failed (see error)."
    )
    file_name = serializers.CharField()
    rows_total = serializers.IntegerField(help_text="Data rows in the file.")
    rows_done = serializers.IntegerField(help_text="Rows processed so far: predicted or rejected.")
    rows_failed = serializers.IntegerField(help_text="Rows rejected, each with its reason in the results.")
    students = BatchStudentsSerializer(
        allow_null=True,
        help_text="What a class upload (save_students=true) did with its rows' students so far; null otherwise.",
    )
    rows_unusual = serializers.IntegerField(
        help_text="Rows predicted so far whose record is unlike the students the model learned from: treat their "
        "predictions with care (the results' `unusual` and `unusual_reasons` columns mark them)."
    )
    error = serializers.CharField(help_text="Why the job failed as a whole; empty otherwise.")
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    results_url = serializers.URLField()


class BatchListApi(_BatchApi):
    required_scope = "predict"
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="batches_create",
        summary="Upload a CSV of student records to predict in the background",
        description=UPLOAD_DESCRIPTION,
        request={"multipart/form-data": BatchUploadSerializer},
        responses={202: BatchCreatedSerializer, **error_responses(400, 403, 413, 415, 503)},
        examples=[response("The queued job", EXAMPLE_CREATED, 202)],
        tags=["batches"],
    )
    def post(self, request):
        # Refuse an oversized body from its declared length, before reading it (kind "too_large": 413).
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
        if declared > settings.BATCH_MAX_BYTES + MULTIPART_SLACK:
            batch_file_size_check(declared)
        upload = request.FILES.get("file")
        if upload is None:
            raise ApplicationError("Send the CSV file in the multipart field `file`.", fields={"file": ["is required"]})
        batch_file_size_check(upload.size)
        options = BatchOptionsSerializer(data=request.data)
        options.is_valid(raise_exception=True)
        job = batch_job_create(
            data=upload.read(), file_name=upload.name, source=Prediction.Source.API,
            save_students=options.validated_data["save_students"], **requester(request),
        )
        status_url = self.job_url(job, "api-batch")
        body = BatchCreatedSerializer({
            "id": job.pk, "status": job.status, "rows_total": job.rows_total,
            "status_url": status_url, "results_url": self.job_url(job, "api-batch-results"),
        }).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": status_url})


class BatchDetailApi(_BatchApi):
    required_scope = "read"

    @extend_schema(
        operation_id="batches_retrieve",
        summary="A batch job's status and progress",
        parameters=[JOB_ID],
        responses={200: BatchJobSerializer, **error_responses(404)},
        examples=[response("A running job", EXAMPLE_JOB)],
        tags=["batches"],
    )
    def get(self, request, pk):
        job = self.job(pk)
        summary = batch_job_summary(job=job)
        computed = {
            "rows_unusual": summary["unusual"], "students": summary["students"],
            "results_url": self.job_url(job, "api-batch-results"),
        }
        data = {name: computed[name] if name in computed else getattr(job, name)
                for name in BatchJobSerializer().fields}
        return Response(BatchJobSerializer(data).data)


class BatchResultsApi(_BatchApi):
    required_scope = "read"

    def perform_content_negotiation(self, request, force=False):
        # The file is text/csv whatever the Accept header; errors are JSON, like every other error.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        operation_id="batches_results",
        summary="A finished batch job's results, as CSV",
        description=RESULTS_DESCRIPTION,
        parameters=[JOB_ID],
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="The results file.",
                examples=[OpenApiExample("Results", value=EXAMPLE_RESULTS, media_type="text/csv",
                                         response_only=True, status_codes=["200"])],
            ),
            **error_responses(404, 409),
        },
        tags=["batches"],
    )
    def get(self, request, pk):
        job = self.job(pk)
        result = StreamingHttpResponse(batch_results_csv(job=job), content_type="text/csv; charset=utf-8")
        result["Content-Disposition"] = f'attachment; filename="{batch_results_file_name(job=job)}"'
        return result
