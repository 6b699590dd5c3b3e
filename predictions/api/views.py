"""The data endpoints: predictions, students and outcomes. Each view parses, calls a service or selector, shapes.

A request comes with an API key (it belongs to the installation: it sees every student) or a session (the
person sees what the *_for_user selectors give). Predictions record who asked: the key's prefix or the user.
"""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import status
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response

from predictions.access.requester import (
    requested_by,
    requester,
    requester_may_read,
    requester_person,
    requester_read_require,
)
from predictions.models import Prediction
from predictions.selectors import (
    outcome_list_for_requester,
    prediction_list_for_student,
    student_get_for_requester,
    student_list_for_requester,
    student_record_get,
)
from predictions.services import (
    outcome_record,
    prediction_create,
    prediction_create_many,
    student_create,
    student_update,
)
from studentperf.api.base import ApiView
from studentperf.api.schema import error_responses, page_of

from . import examples
from .serializers import (
    MAX_INSTANCES,
    OutcomeFilterSerializer,
    OutcomeInputSerializer,
    OutcomeSerializer,
    OutcomeWrittenSerializer,
    PredictBatchSerializer,
    PredictInputSerializer,
    PredictionBatchSerializer,
    PredictionSerializer,
    PredictRecordSerializer,
    StudentFilterSerializer,
    StudentInputSerializer,
    StudentPredictionSerializer,
    StudentSerializer,
    StudentWrittenSerializer,
    prediction_data,
)

PAGE_PARAMETERS = [
    OpenApiParameter("page", int, description="Page number, from 1."),
    OpenApiParameter("page_size", int, description="Items per page (default 50, at most 500)."),
]
STUDENT_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="The id this API gave the student.")
PREDICT_DESCRIPTION = f"""\
Send one student record as a flat object, or `{{"instances": [...]}}` with 1 to {MAX_INSTANCES:,} records.

Fields are the UCI attribute names; `G1` and `G2` may be left out or null while not known, and pick the
setup: A (both known), B (G1 only) or C (neither). An optional `student_id` (the id this API gave a stored
student) links the prediction to that student.

**A batch is all or nothing**: if any record is invalid, the answer is 400 naming each problem as
`"<index>.<field>"` (0-based) and no record is predicted or logged. Otherwise the answer holds one
prediction per instance, in input order, each written to the audit log.
"""


class ReadWriteApi(ApiView):
    # Reading (GET) needs the "read" scope; changing anything needs "write".
    @property
    def required_scope(self) -> str:
        return "read" if self.request.method in SAFE_METHODS else "write"


class PredictApi(ApiView):
    required_scope = "predict"

    @extend_schema(
        operation_id="predict",
        summary="Predict one student record or a batch of up to 1,000",
        description=PREDICT_DESCRIPTION,
        request=PolymorphicProxySerializer(
            "Predict", serializers=[PredictRecordSerializer, PredictBatchSerializer],
            resource_type_field_name=None,
        ),
        responses={
            200: PolymorphicProxySerializer(
                "PredictResponse", serializers=[PredictionSerializer, PredictionBatchSerializer],
                resource_type_field_name=None,
            ),
            **error_responses(400, 413, 415, 503),
        },
        examples=examples.PREDICT,
        tags=["predictions"],
    )
    def post(self, request):
        body = PredictInputSerializer(
            data=request.data, context={"students": student_list_for_requester(**requester(request))}
        )
        body.is_valid(raise_exception=True)
        records, students = body.validated_data["records"], body.validated_data["students"]
        if body.validated_data["many"]:
            predictions = prediction_create_many(
                records=records, students=students, source=Prediction.Source.API, **requested_by(request)
            )
            return Response({"predictions": [prediction_data(prediction) for prediction in predictions]})
        prediction = prediction_create(
            record=records[0], student=students[0], source=Prediction.Source.API, **requested_by(request)
        )
        return Response(prediction_data(prediction))


class StudentListApi(ReadWriteApi):
    @extend_schema(
        operation_id="students_list",
        summary="List students, by school and external id",
        parameters=[StudentFilterSerializer, *PAGE_PARAMETERS],
        responses={200: page_of(StudentSerializer), **error_responses(400, 404)},
        examples=examples.STUDENT_LIST,
        tags=["students"],
    )
    def get(self, request):
        filters = StudentFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        students = student_list_for_requester(**requester(request), **filters.validated_data)
        return self.paginate(students, StudentSerializer)

    @extend_schema(
        operation_id="students_create",
        summary="Store a student",
        description="`external_id` must be unique among the requester's students of the school: a person's own "
        "students, or for an API key the students without a teacher (409 `conflict` naming `external_id` "
        "otherwise). Another teacher's student of the same id is no conflict and is never revealed.",
        request=StudentInputSerializer,
        responses={201: StudentSerializer, **error_responses(400, 409, 413, 415)},
        examples=examples.STUDENT_CREATE,
        tags=["students"],
    )
    def post(self, request):
        body = StudentInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        student = student_create(data=body.validated_data, teacher=requester_person(request))
        return Response(StudentSerializer(student).data, status=status.HTTP_201_CREATED)


class StudentDetailApi(ReadWriteApi):
    @extend_schema(
        operation_id="students_retrieve",
        summary="A student",
        parameters=[STUDENT_ID],
        responses={200: StudentSerializer, **error_responses(404)},
        examples=examples.STUDENT_DETAIL,
        tags=["students"],
    )
    def get(self, request, pk: int):
        return Response(StudentSerializer(student_get_for_requester(pk=pk, **requester(request))).data)

    @extend_schema(
        operation_id="students_partial_update",
        summary="Change some of a student's fields",
        description="Send only the fields that change; the whole resulting record is validated again. The "
        "answer is the whole record for a key with the `read` scope (and a person); a key with `write` only gets "
        "`{\"id\", \"updated_at\"}`: it may change a student, not read one.",
        parameters=[STUDENT_ID],
        request=StudentInputSerializer(partial=True),
        responses={200: StudentSerializer, **error_responses(400, 404, 409, 413, 415)},
        examples=examples.STUDENT_UPDATE,
        tags=["students"],
    )
    def patch(self, request, pk: int):
        student = student_get_for_requester(pk=pk, **requester(request))
        body = StudentInputSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        student = student_update(student=student, data=body.validated_data)
        # The whole record only to whoever may read it: a write-only key learns that the change was saved.
        shown = StudentSerializer if requester_may_read(request) else StudentWrittenSerializer
        return Response(shown(student).data)


class StudentPredictionsApi(ApiView):
    required_scope = "read"

    @extend_schema(
        operation_id="students_predictions",
        summary="A student's predictions, newest first",
        parameters=[STUDENT_ID, *PAGE_PARAMETERS],
        responses={200: page_of(StudentPredictionSerializer), **error_responses(404)},
        examples=examples.STUDENT_PREDICTIONS,
        tags=["students"],
    )
    def get(self, request, pk: int):
        student = student_get_for_requester(pk=pk, **requester(request))
        return self.paginate(prediction_list_for_student(student=student), StudentPredictionSerializer)


class StudentPredictApi(ApiView):
    required_scope = "predict"

    @extend_schema(
        operation_id="students_predict",
        summary="Predict a stored student from their record",
        description="No body: the student's stored record is predicted, and the prediction linked to them. The "
        "answer is made from the stored record, so a key or token needs the `read` scope beside `predict` (403 "
        "otherwise).",
        parameters=[STUDENT_ID],
        request=None,
        responses={200: PredictionSerializer, **error_responses(404, 503)},
        examples=examples.STUDENT_PREDICT,
        tags=["students"],
    )
    def post(self, request, pk: int):
        requester_read_require(request)
        student = student_get_for_requester(pk=pk, **requester(request))
        prediction = prediction_create(
            record=student_record_get(student=student), student=student, source=Prediction.Source.API,
            **requested_by(request),
        )
        return Response(prediction_data(prediction))


class OutcomeListApi(ReadWriteApi):
    @extend_schema(
        operation_id="outcomes_list",
        summary="Recorded final grades, newest first, corrected ones included",
        parameters=[OutcomeFilterSerializer, *PAGE_PARAMETERS],
        responses={200: page_of(OutcomeSerializer), **error_responses(400, 404)},
        examples=examples.OUTCOME_LIST,
        tags=["outcomes"],
    )
    def get(self, request):
        filters = OutcomeFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        outcomes = outcome_list_for_requester(**requester(request), **filters.validated_data)
        return self.paginate(outcomes, OutcomeSerializer)

    @extend_schema(
        operation_id="outcomes_create",
        summary="Record a student's final grade",
        description=(
            "A second outcome for the same student is a correction: it becomes the current one, the earlier one "
            "stays in the history with `is_current` false, and the new one names it in `supersedes`. A key or "
            "token without the `read` scope gets `{\"id\", \"student_id\", \"final_grade\", \"recorded_at\"}` "
            "only: whether an earlier grade was recorded is stored data."
        ),
        request=OutcomeInputSerializer,
        responses={201: OutcomeSerializer, **error_responses(400, 413, 415)},
        examples=examples.OUTCOME_CREATE,
        tags=["outcomes"],
    )
    def post(self, request):
        body = OutcomeInputSerializer(
            data=request.data, context={"students": student_list_for_requester(**requester(request))}
        )
        body.is_valid(raise_exception=True)
        outcome = outcome_record(**body.validated_data, user=requester_person(request))
        shown = OutcomeSerializer if requester_may_read(request) else OutcomeWrittenSerializer
        return Response(shown(outcome).data, status=status.HTTP_201_CREATED)
