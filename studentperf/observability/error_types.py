"""Error types: what kind of error a request was answered with, so error rates can be counted by type.

Code that knows why it refuses a request says so with error_mark() (the API's exception handler, the forms);
the request middleware classifies the rest by status once the response is ready (error_for).
"""
from __future__ import annotations

from collections.abc import Iterable

# The error types every error log line and the error metrics use.
ERROR_TYPES = ("validation", "auth", "throttled", "model_unavailable", "internal")
# Statuses that are an error of a type whoever answered them. 404, 405 and 409 are not: a wrong address or a
# conflict with stored data is an answer, not a failure. 503 is model_unavailable only when marked so.
STATUS_ERROR_TYPES = {
    400: "validation", 413: "validation", 415: "validation", 422: "validation",
    401: "auth", 403: "auth",
    429: "throttled",
}
_MARK = "_studentperf_error"


def error_type_for_status(status: int) -> str | None:
    """The error type of a response nobody marked: by STATUS_ERROR_TYPES, any other 5xx is internal."""
    if status in STATUS_ERROR_TYPES:
        return STATUS_ERROR_TYPES[status]
    return "internal" if status >= 500 else None


def error_mark(request, *, error_type: str, fields: Iterable[str] = ()) -> None:
    """Note on a (Django or DRF) request that it is being answered with an error of `error_type`, refusing
    `fields` (names only, never values); the middleware writes the error log line and counts it once the
    response is ready. A later mark replaces an earlier one."""
    if error_type not in ERROR_TYPES:
        raise ValueError(f"error_type must be one of {', '.join(ERROR_TYPES)}.")
    request = getattr(request, "_request", request)  # a DRF Request wraps the Django one the middleware sees
    setattr(request, _MARK, (error_type, tuple(str(name) for name in fields)))


def error_for(request, *, status: int) -> tuple[str, tuple[str, ...]] | None:
    """(error type, refused fields) of a response with `status`: as marked, else by its status; None if none."""
    marked = getattr(request, _MARK, None)
    if marked is not None:
        return marked
    error_type = error_type_for_status(status)
    return (error_type, ()) if error_type else None
