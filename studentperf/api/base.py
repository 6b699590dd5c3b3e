"""The base of every API view: who may call it, how fast, what it reads and writes."""
from __future__ import annotations

from rest_framework.authentication import SessionAuthentication
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from .authentication import ApiKeyAuthentication
from .pagination import ApiPagination
from .permissions import HasScope
from .schema import ApiKeyAuthenticationScheme  # noqa: F401  (registers the Api-Key scheme in the schema)
from .throttling import ApiKeyRateThrottle, UserRateThrottle


class ApiView(APIView):
    # Set `required_scope` ("predict", "read" or "write") on each subclass.
    # API keys first, then the session (with CSRF checked on unsafe methods, by SessionAuthentication);
    # JSON in (any other content type: 415) and out. Services raise ApplicationError; the exception handler
    # (studentperf.api.exceptions) turns it into the JSON error, so views just call them.
    # (Comments, not a docstring: drf-spectacular would print a docstring as every endpoint's description.)

    required_scope: str = ""
    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]
    permission_classes = [HasScope]
    throttle_classes = [ApiKeyRateThrottle, UserRateThrottle]
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]
    pagination_class = ApiPagination

    def paginate(self, queryset, serializer_class):
        """A page of `queryset` shaped by `serializer_class`, as `{"count", "next", "previous", "results"}`."""
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, self.request, view=self)
        return paginator.get_paginated_response(serializer_class(page, many=True).data)
