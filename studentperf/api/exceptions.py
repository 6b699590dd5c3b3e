"""Every API error as `{"error": kind, "message": sentence, "fields": {name: [reasons]}, "request_id": id}`.

`api_exception_handler` is DRF's EXCEPTION_HANDLER: it shapes ApplicationError from the services and DRF's
own exceptions, and marks the request with its error type for the error log line; a refusal of credentials
(AuthenticationFailed, NotAuthenticated) is also counted against the client's address (credential_budget.py)
and in /metrics. Unknown URLs under /api/,
requests Django refuses before any view (a wrong Host) and server errors get the same shape from the views
below (a person gets Django's 400 page, or the 500 page with the id).
Anything else a view raises is a bug: it is not hidden here (it surfaces as a 500, in tests as a failure).
"""
from __future__ import annotations

import math

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpResponse, HttpResponseServerError, JsonResponse
from django.template import loader
from django.utils.html import escape
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.settings import api_settings

from studentperf.api.credential_budget import credential_failure_record
from studentperf.errors import ApplicationError
from studentperf.metrics.events import AUTH_FAILURE_REASONS
from studentperf.observability import error_mark, request_id_get
from studentperf.observability.error_types import error_type_for_status

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
# The reasons an authentication class may give (the others are the exception handler's and the budget's own).
REJECTION_REASONS = tuple(reason for reason in AUTH_FAILURE_REASONS if reason not in ("missing", "throttled"))


class CredentialsRejected(exceptions.AuthenticationFailed):
    """401 for credentials an authentication class refuses, labelled with why: `reason` is one of
    REJECTION_REASONS ("wrong_scheme", "malformed", "unknown", "expired", "invalid"), the label under
    which the refusal is counted (studentperf_auth_failures_total) and charged to the client's address
    (studentperf/api/credential_budget.py). A plain AuthenticationFailed counts as "invalid", NotAuthenticated as
    "missing"."""

    def __init__(self, detail=None, code=None, *, reason: str):
        if reason not in REJECTION_REASONS:
            raise ValueError(f"reason must be one of {', '.join(REJECTION_REASONS)}, not {reason!r}.")
        super().__init__(detail, code)
        self.reason = reason


def credentials_reason(exc) -> str | None:
    """Why `exc` refuses a request's credentials (AUTH_FAILURE_REASONS), or None when it is not about them."""
    if isinstance(exc, exceptions.NotAuthenticated):
        return "missing"
    if isinstance(exc, exceptions.AuthenticationFailed):
        return getattr(exc, "reason", "invalid")
    return None


def set_rollback() -> None:
    # DRF's, imported when called: rest_framework.views loads the authentication classes of the settings, which
    # import this module (CredentialsRejected), so importing it at the top would be circular.
    from rest_framework.views import set_rollback as drf_set_rollback

    drf_set_rollback()


def error_body(kind: str, message: str, fields: dict | None = None) -> dict:
    """The error shape, with the id of the request being answered (also its X-Request-ID header)."""
    return {"error": kind, "message": message, "fields": fields or {}, "request_id": request_id_get()}


def api_exception_handler(exc, context) -> Response | None:
    reason = credentials_reason(exc)
    if reason is not None:
        credential_failure_record(context["request"], reason=reason)
    response = _error_response(exc)
    if response is not None:
        error_type = _error_type(exc, response.status_code)
        if error_type is not None:
            fields = response.data["fields"] if error_type == "validation" else ()
            error_mark(context["request"], error_type=error_type, fields=fields)
    return response


def _error_type(exc, status_code: int) -> str | None:
    if isinstance(exc, ApplicationError) and exc.kind == "unavailable":
        # No active model, or its package refused: raised by the model store. Anything else unavailable (the
        # task queue down) is the service failing, not the model.
        return "model_unavailable" if _raised_in_modelstore(exc) else "internal"
    return error_type_for_status(status_code)


def _raised_in_modelstore(exc: BaseException) -> bool:
    traceback = exc.__traceback__
    while traceback is not None and traceback.tb_next is not None:
        traceback = traceback.tb_next
    return traceback is not None and traceback.tb_frame.f_globals.get("__name__", "").startswith("modelstore.")


def _error_response(exc) -> Response | None:
    if isinstance(exc, ApplicationError):
        set_rollback()
        return Response(error_body(exc.kind, exc.message, exc.fields), status=KIND_STATUS.get(exc.kind, 400))
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
    elif isinstance(exc, exceptions.ParseError):  # a body that is not JSON, or nests too deep
        body = error_body("parse_error", _sentence(exc.detail))
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


def handler400(request, exception=None) -> HttpResponse:
    """A request Django refuses before any view (a Host header outside ALLOWED_HOSTS, another suspicious
    operation): JSON under /api/ like every API error (issue 18, attack 11), Django's page elsewhere. The
    message names no header value: the Host is the client's and is never echoed."""
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("bad_request", "The request was refused: check its Host header and URL."),
                            status=400)
    return defaults.bad_request(request, exception)


def handler500(request) -> JsonResponse | HttpResponseServerError:
    """JSON for API clients, templates/500.html for people; both give the request id to quote."""
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("server_error", "The server failed to answer; the error was logged."), status=500)
    request_id = request_id_get()
    try:
        # No request context: its processors read the session and the database, which may be what failed.
        return HttpResponseServerError(loader.get_template("500.html").render({"request_id": request_id}))
    except Exception:  # the error page must not fail in turn
        return HttpResponseServerError(f"<h1>Server error (500)</h1><p>Reference: {escape(request_id)}</p>")
