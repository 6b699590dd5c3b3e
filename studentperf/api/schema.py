"""What the OpenAPI schema says about every endpoint: the error shape (the Api-Key scheme is described beside its
authentication class, predictions/access/authentication.py)."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    """Every error the API answers with."""

    error = serializers.CharField(help_text="A machine word: invalid, unauthenticated, forbidden, not_found, ...")
    message = serializers.CharField(help_text="One human sentence.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text='The reasons per refused field; a record of a batch is named "<index>.<field>".',
    )
    request_id = serializers.CharField(
        help_text="The request's id, also its X-Request-ID header; quote it when reporting a problem.",
    )

    class Meta:
        ref_name = "Error"


_ERRORS = {
    400: ("invalid", "The request is invalid: 1 field(s) refused (age).", {"age": ["Must be between 15 and 22."]}),
    401: ("unauthenticated", "The API key is unknown or has been revoked.", {}),
    403: ("forbidden", "This API key lacks the 'read' scope this endpoint needs.", {}),
    404: ("not_found", "Not found.", {}),
    409: ("conflict", "The request conflicts with the stored data.", {}),
    413: ("too_large", "The request body is larger than this server accepts (API_MAX_BODY_BYTES).", {}),
    415: ("unsupported_media_type", 'Unsupported media type "text/plain" in request.', {}),
    429: ("throttled", "Request was throttled. Expected available in 12 seconds.", {}),
    503: ("unavailable", "No model version is active.", {}),
}
_DESCRIPTIONS = {
    400: "Invalid request: missing, unknown or wrong field, malformed JSON, non-object body.",
    401: "Missing, malformed, unknown, expired or revoked API key (or no session).",
    403: "The key lacks the scope, or a session request lacks its CSRF token.",
    404: "No such object or endpoint.",
    409: "Conflicts with stored data.",
    413: "Body over the configured limit.",
    415: "Content type other than application/json.",
    429: "Rate limit reached; retry after the `Retry-After` header's seconds.",
    503: "No model is active (or it cannot be loaded).",
}
COMMON_ERRORS = (401, 403, 429)
EXAMPLE_REQUEST_ID = "4f1c2a9e8b7d4c3e9a0b1c2d3e4f5a6b"


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """OpenAPI responses for these statuses (plus 401, 403, 429), each with the error shape and an example."""
    responses = {}
    for status in sorted(set(statuses) | set(COMMON_ERRORS)):
        kind, message, fields = _ERRORS[status]
        example = OpenApiExample(
            f"{status} {kind}",
            value={"error": kind, "message": message, "fields": fields, "request_id": EXAMPLE_REQUEST_ID},
            response_only=True,
            status_codes=[str(status)],
        )
        responses[status] = OpenApiResponse(ErrorSerializer, description=_DESCRIPTIONS[status], examples=[example])
    return responses


def page_of(item: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The schema of a page of `item` as ApiView.paginate answers it (`count`, `next`, `previous`, `results`)."""
    name = f"Paginated{item.__name__.removesuffix('Serializer')}List"
    return type(f"{name}Serializer", (serializers.Serializer,), {
        "count": serializers.IntegerField(help_text="Items on all pages."),
        "next": serializers.URLField(allow_null=True, help_text="The next page, null on the last."),
        "previous": serializers.URLField(allow_null=True, help_text="The previous page, null on the first."),
        "results": item(many=True),
    })
