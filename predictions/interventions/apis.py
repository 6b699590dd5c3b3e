"""GET/POST /api/v1/students/{id}/interventions: what was done for a student (predictions.interventions.services).

Roles as for students: a teacher sees and records only their own students' (another's is 404), a model admin
reads every student's but records none (POST needs the write scope's permission: 403). Interventions are
personal data: nothing of them is logged here.
"""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from predictions.access.requester import requester, requester_person
from predictions.api.examples import page, request, response
from predictions.api.serializers import RawObjectSerializer
from predictions.api.views import PAGE_PARAMETERS, STUDENT_ID, ReadWriteApi
from predictions.interventions.services import NOTE_MAX, intervention_kind_name, intervention_record
from predictions.selectors import intervention_list_for_student, student_get_for_requester
from studentperf.api.schema import error_responses, page_of

CREATE_DESCRIPTION = f"""\
`kind` is a code of the installation's list (INTERVENTION_KINDS; by default `tutoring`, `parent_meeting`,
`counselling`, `study_plan`, `peer_mentoring`, `other`), `date` when it was done as `YYYY-MM-DD` (up to five years
back, a month ahead at most), `note` optional text up to {NOTE_MAX:,} characters. A bad value answers 400 naming
it (`kind`, `date`, `note`) and nothing is stored. Recorded by the person signed in; by nobody (null) for an API
key.
"""
EXAMPLE = {
    "id": 12, "kind": "tutoring", "kind_name": "Tutoring", "date": "2026-11-18",
    "note": "Weekly algebra sessions with Ms Costa until the exam.", "recorded_by": "teacher",
    "created_at": "2026-11-18T15:20:00Z",
}


class InterventionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField(help_text="A code of INTERVENTION_KINDS.")
    kind_name = serializers.SerializerMethodField(help_text="The kind's name in the installation's list.")
    date = serializers.DateField(help_text="When it was done (or began).")
    note = serializers.CharField(help_text="Free text; may be empty.")
    recorded_by = serializers.CharField(
        source="recorded_by.username", allow_null=True,
        help_text="The username of who recorded it; null when recorded with an API key (or the account is gone).",
    )
    created_at = serializers.DateTimeField(help_text="When it was recorded.")

    def get_kind_name(self, intervention) -> str:
        return intervention_kind_name(intervention.kind)


class InterventionInputSerializer(RawObjectSerializer):
    """{"kind", "date", "note"}: judged by the service, which names each bad field."""

    kind = serializers.CharField(help_text="A code of INTERVENTION_KINDS.")
    date = serializers.DateField(help_text="YYYY-MM-DD.")
    note = serializers.CharField(required=False, allow_blank=True, max_length=NOTE_MAX)

    def validate(self, body: dict) -> dict:
        # intervention_record judges every value, a `kind` that is not text included.
        return {
            "kind": body.get("kind"),
            "date_done": body.get("date"),
            "note": body.get("note", ""),
        }


class StudentInterventionsApi(ReadWriteApi):
    # As for students: reading needs the "read" scope (a session: STUDENT_VIEW), recording "write" (a session:
    # STUDENT_CHANGE, which model admins do not hold): predictions.access.permissions.HasScope checks both.

    @extend_schema(
        operation_id="students_interventions_list",
        summary="What was done for a student, the latest date first",
        parameters=[STUDENT_ID, *PAGE_PARAMETERS],
        responses={200: page_of(InterventionSerializer), **error_responses(404)},
        examples=[response("A page of interventions", page(EXAMPLE))],
        tags=["students"],
    )
    def get(self, request, pk: int):
        student = student_get_for_requester(pk=pk, **requester(request))
        return self.paginate(intervention_list_for_student(student=student), InterventionSerializer)

    @extend_schema(
        operation_id="students_interventions_create",
        summary="Record something done for a student",
        description=CREATE_DESCRIPTION,
        parameters=[STUDENT_ID],
        request=InterventionInputSerializer,
        responses={201: InterventionSerializer, **error_responses(400, 404, 413, 415)},
        examples=[
            request("Tutoring", {name: EXAMPLE[name] for name in ("kind", "date", "note")}),
            response("The recorded intervention", EXAMPLE, 201),
        ],
        tags=["students"],
    )
    def post(self, request, pk: int):
        student = student_get_for_requester(pk=pk, **requester(request))
        body = InterventionInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        intervention = intervention_record(student=student, **body.validated_data, user=requester_person(request))
        return Response(InterventionSerializer(intervention).data, status=status.HTTP_201_CREATED)
