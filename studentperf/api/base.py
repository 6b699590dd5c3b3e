"""The base of every API view: what it reads and writes, and how it pages.

Who may call it and how fast is the apps' business, wired in by REST_FRAMEWORK's DEFAULT_AUTHENTICATION_CLASSES,
DEFAULT_PERMISSION_CLASSES and DEFAULT_THROTTLE_CLASSES (studentperf/settings.py): the ground floor imports no app.
"""
from __future__ import annotations

from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from .credential_budget import credential_budget_check
from .pagination import ApiPagination
from .parsers import BoundedJSONParser


class ApiView(APIView):
    # Set `required_scope` ("predict", "read" or "write") on each subclass: the permission class of the settings
    # (predictions.access.permissions.HasScope) reads it.
    # JSON in (any other content type: 415; nesting bounded, studentperf.api.parsers) and out. Services raise ApplicationError; the exception handler
    # (studentperf.api.exceptions) turns it into the JSON error, so views just call them.
    # (Comments, not a docstring: drf-spectacular would print a docstring as every endpoint's description.)

    required_scope: str = ""
    parser_classes = [BoundedJSONParser]  # nesting bounded: a deep body is a 400, never a RecursionError
    renderer_classes = [JSONRenderer]
    pagination_class = ApiPagination

    def perform_authentication(self, request) -> None:
        # An address that sent too many requests without valid credentials is refused before any credential is
        # looked up (429, no SQL): studentperf/api/credential_budget.py.
        credential_budget_check(request)
        super().perform_authentication(request)

    def paginate(self, queryset, serializer_class):
        """A page of `queryset` shaped by `serializer_class`, as `{"count", "next", "previous", "results"}`."""
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, self.request, view=self)
        return paginator.get_paginated_response(serializer_class(page, many=True).data)
