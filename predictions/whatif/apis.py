"""POST /api/v1/students/{id}/what-if: the student's prediction as it is and with some actionable attributes
changed, side by side (predictions.whatif.services)."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from modelstore.schema import ACTIONABLE
from predictions.access.requester import requested_by, requester, requester_read_require
from predictions.api.examples import PREDICTION, request, response
from predictions.api.serializers import PredictionSerializer, RawObjectSerializer, prediction_data
from predictions.selectors import student_get_for_requester
from predictions.whatif.services import student_what_if
from studentperf.api.base import ApiView
from studentperf.api.schema import error_responses

DESCRIPTION = f"""\
`{{"changes": {{"studytime": 3, "absences": 2}}}}`: new values for some of the attributes a student or family can
change ({", ".join(f"`{name}`" for name in ACTIONABLE)}), values as in `/predict`. The answer holds the
student's prediction from their stored record (`current`) and with the changes (`changed`), from the same model
version and read from one predictive distribution each, the `changes` that altered the record, and the
`difference` (changed minus current). Both predictions are kept in the audit log with source `what_if`; neither
becomes the student's latest prediction. Another attribute, an unknown one or a value outside its range answers
400 naming it as `changes.<name>`; changes that alter nothing answer 400 naming `changes`. The answer is made from
the stored record, so a key or token needs the `read` scope beside `predict` (403 otherwise).
"""
CHANGED = dict(PREDICTION, predicted_grade=10.2, pass_probability=0.56, risk="medium")
EXAMPLE = {
    "current": PREDICTION, "changed": CHANGED, "changes": {"studytime": 3, "absences": 2},
    "difference": {"predicted_grade": round(10.2 - PREDICTION["predicted_grade"], 2),
                   "pass_probability": round(0.56 - PREDICTION["pass_probability"], 3)},
}


class WhatIfInputSerializer(RawObjectSerializer):
    """{"changes": {...}}: judged by the service, which names each bad change."""

    changes = serializers.DictField(help_text="Attribute name -> new value, actionable attributes only.")


class WhatIfDifferenceSerializer(serializers.Serializer):
    predicted_grade = serializers.FloatField(help_text="Changed minus current grade, in points.")
    pass_probability = serializers.FloatField(help_text="Changed minus current chance to pass.")


class WhatIfSerializer(serializers.Serializer):
    current = PredictionSerializer(help_text="The student as stored.")
    changed = PredictionSerializer(help_text="The student with the changes.")
    changes = serializers.DictField(help_text="The changes that altered the record, validated.")
    difference = WhatIfDifferenceSerializer()


class StudentWhatIfApi(ApiView):
    required_scope = "predict"

    @extend_schema(
        operation_id="students_what_if",
        summary="Try changes a student or family could make: the prediction before and after",
        description=DESCRIPTION,
        request=WhatIfInputSerializer,
        responses={200: WhatIfSerializer, **error_responses(400, 404, 413, 415, 503)},
        examples=[request("Study more, miss fewer classes", {"changes": {"studytime": 3, "absences": 2}}),
                  response("Before and after", EXAMPLE)],
        tags=["students"],
    )
    def post(self, request, pk: int):
        requester_read_require(request)  # the answer shows the prediction of the stored record
        student = student_get_for_requester(pk=pk, **requester(request))
        body = request.data if isinstance(request.data, dict) else {}
        answer = student_what_if(student=student, changes=body.get("changes"), **requested_by(request))
        return Response({
            "current": prediction_data(answer.current), "changed": prediction_data(answer.changed),
            "changes": answer.changes, "difference": answer.difference,
        })
