"""Every API error as `{"error": kind, "message": sentence, "fields": {name: [reasons]}}`.

`api_exception_handler` is DRF's EXCEPTION_HANDLER: it shapes ApplicationError from the services and DRF's
own exceptions. Unknown URLs under /api/ and server errors get the same shape from the two views below.
Anything else a view raises is a bug: it is not hidden here (it surfaces as a 500, in tests as a failure).
"""
from __future__ import annotations

import math

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.defaults import server_error
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import set_rollback

from studentperf.errors import ApplicationError

# ApplicationError kinds and their status; any other kind is the client's mistake (400).
KIND_STATUS = {
    "invalid": 400,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "too_large": 413,
    "unavailable": 503,
    "integrity": 503,
}
# The error word of each status DRF answers with.
STATUS_KIND = {
    400: "invalid",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "too_large",
    415: "unsupported_media_type",
    429: "throttled",
}
MAX_NAMED_FIELDS = 10


def error_body(kind: str, message: str, fields: dict | None = None) -> dict:
    return {"error": kind, "message": message, "fields": fields or {}}


def api_exception_handler(exc, context) -> Response | None:
    if isinstance(exc, ApplicationError):
        set_rollback()
        return Response(exc.as_dict(), status=KIND_STATUS.get(exc.kind, 400))
    if isinstance(exc, RequestDataTooBig):
        return Response(
            error_body("too_large", "The request body is larger than this server accepts (API_MAX_BODY_BYTES)."),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None) is not None:
        headers["Retry-After"] = str(max(1, math.ceil(exc.wait)))
    if isinstance(exc, exceptions.ValidationError):
        body = _validation_body(exc.detail)
    else:
        body = error_body(STATUS_KIND.get(exc.status_code, "error"), _sentence(exc.detail))
    set_rollback()
    return Response(body, status=exc.status_code, headers=headers)


def _validation_body(detail) -> dict:
    fields: dict[str, list[str]] = {}
    _flatten(detail, "", fields)
    general = fields.pop("", [])
    if general:
        message = " ".join(_sentence(reason) for reason in general)
    else:
        names = list(fields)
        shown = ", ".join(names[:MAX_NAMED_FIELDS]) + (", ..." if len(names) > MAX_NAMED_FIELDS else "")
        message = f"The request is invalid: {len(names)} field(s) refused ({shown})."
    return error_body("invalid", message, fields)


def _flatten(detail, name: str, fields: dict[str, list[str]]) -> None:
    """Nested serializer errors as flat names: `age`, `instances.3.age`; non-field errors under the parent."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            child = name if key == api_settings.NON_FIELD_ERRORS_KEY else f"{name}.{key}" if name else str(key)
            _flatten(value, child, fields)
    elif isinstance(detail, list) and any(isinstance(item, (dict, list)) for item in detail):
        for index, item in enumerate(detail):
            _flatten(item, f"{name}.{index}" if name else str(index), fields)
    elif isinstance(detail, list):
        fields.setdefault(name, []).extend(str(item) for item in detail)
    else:
        fields.setdefault(name, []).append(str(detail))


def _sentence(text) -> str:
    text = str(text).strip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


@csrf_exempt
def api_not_found(request, *args, **kwargs) -> JsonResponse:
    """Any URL under /api/ that no endpoint serves, whatever the method."""
    return JsonResponse(error_body("not_found", f"There is no API endpoint at {request.path}."), status=404)


def handler500(request) -> JsonResponse:
    """JSON for API clients, Django's page for people."""
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("server_error", "The server failed to answer; the error was logged."), status=500)
    return server_error(request)
