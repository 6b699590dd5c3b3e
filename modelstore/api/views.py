"""Model versions, read only: no upload or activation through the API (that is the admin's)."""
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.response import Response

from modelstore.selectors import model_version_active_get, model_version_list
from studentperf.api.base import ApiView
from studentperf.api.schema import error_responses, page_of

from .serializers import ActiveModelSerializer, ModelVersionListSerializer

_METRICS_EXAMPLE = {
    "protocol": "1 run of 10-fold cross-validation on data/student-mat.csv",
    "A": {"rmse": 1.58, "pass_accuracy": 0.9247},
}
_VERSION_EXAMPLE = {
    "version": 3,
    "name": "default",
    "status": "active",
    "setups": ["A", "B", "C"],
    "created_at": "2026-11-26T09:30:00Z",
    "metrics": _METRICS_EXAMPLE,
    "artifact_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
}
_ACTIVE_EXAMPLE = {
    "version": 3,
    "name": "default",
    "setups": ["A", "B", "C"],
    "feature_schema": {
        "A": [
            {"name": "school", "type": "category", "label": "School", "actionable": False, "allowed": ["GP", "MS"]},
            {"name": "studytime", "type": "int", "label": "Weekly study time", "actionable": True, "min": 1, "max": 4},
        ],
    },
    "metrics": _METRICS_EXAMPLE,
    "created_at": "2026-11-26T09:30:00Z",
}


class ModelVersionListApi(ApiView):
    required_scope = "read"

    @extend_schema(
        operation_id="models_list",
        summary="List model versions, newest first",
        parameters=[
            OpenApiParameter("page", int, description="Page number, from 1."),
            OpenApiParameter("page_size", int, description="Versions per page (default 50, at most 500)."),
        ],
        responses={200: page_of(ModelVersionListSerializer), **error_responses(404)},
        examples=[
            OpenApiExample(
                "A page of versions",
                value={"count": 1, "next": None, "previous": None, "results": [_VERSION_EXAMPLE]},
                response_only=True,
            )
        ],
        tags=["models"],
    )
    def get(self, request):
        return self.paginate(model_version_list(), ModelVersionListSerializer)


class ActiveModelApi(ApiView):
    required_scope = "read"

    @extend_schema(
        operation_id="models_active",
        summary="The version serving predictions, with the attributes each setup reads",
        responses={200: ActiveModelSerializer, **error_responses(503)},
        examples=[OpenApiExample("The active version", value=_ACTIVE_EXAMPLE, response_only=True)],
        tags=["models"],
    )
    def get(self, request):
        return Response(ActiveModelSerializer(model_version_active_get()).data)
