"""Request bodies without a Content-Length: `Transfer-Encoding: chunked` (issue 18, attack 5).

Django reads CONTENT_LENGTH bytes of a body, so a chunked body, which has no length, read as empty: a valid
record was answered "every field is required". gunicorn ends its input stream where the body ends
(`wsgi.input_terminated`), so there ChunkedBodyMiddleware reads the body first and hands it to Django with its
length, as if the client had sent one; every limit that reads CONTENT_LENGTH (Django's DATA_UPLOAD_MAX_MEMORY_SIZE,
the batch upload's BATCH_MAX_BYTES) then applies as usual. It reads at most one byte past API_MAX_BODY_BYTES
(DATA_UPLOAD_MAX_MEMORY_SIZE) or, for a multipart upload, CHUNKED_UPLOAD_MAX_BYTES (the largest upload any page
takes), in memory up to FILE_UPLOAD_MAX_MEMORY_SIZE and in a temporary file beyond: a larger body is answered 413.
A server that does not end the stream (runserver) gives no way to find the body's end: the answer there is 411,
asking for a Content-Length, never an empty body. Under /api/ both are the API's JSON error.
Behind the nginx proxy (deploy/nginx/) gunicorn never sees a chunked body: nginx buffers it and sends its length.
"""
from __future__ import annotations

import tempfile
from collections.abc import Callable

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpRequest, HttpResponse, JsonResponse

from studentperf.api.exceptions import error_body
from studentperf.observability import error_mark

READ_SIZE = 64 * 1024
LENGTH_REQUIRED = (
    "Send a Content-Length header: this server cannot read a request body sent without one "
    "(Transfer-Encoding: chunked)."
)
TOO_LARGE = "The request body is larger than the {limit:,} bytes this server accepts."


class ChunkedBodyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "HTTP_TRANSFER_ENCODING" not in request.META or request.META.get("CONTENT_LENGTH"):
            return self.get_response(request)
        if "wsgi.input" not in request.META:  # ASGI: the server gave Django the whole body already
            return self.get_response(request)
        if not request.META.get("wsgi.input_terminated"):
            return _refusal(request, 411, "length_required", LENGTH_REQUIRED)
        limit = _limit(request)
        body = tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE)
        try:
            size = _copy(request.META["wsgi.input"], body, limit=limit)
            if size > limit:
                return _refusal(request, 413, "too_large", TOO_LARGE.format(limit=limit))
            body.seek(0)
            request.META["CONTENT_LENGTH"] = str(size)
            # WSGIRequest made its stream from CONTENT_LENGTH (then none: 0 bytes) before any middleware ran.
            request._stream = LimitedStream(body, size)
            return self.get_response(request)
        finally:
            body.close()


def _limit(request: HttpRequest) -> int:
    if request.META.get("CONTENT_TYPE", "").lower().startswith("multipart/"):
        return settings.CHUNKED_UPLOAD_MAX_BYTES
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def _copy(source, target, *, limit: int) -> int:
    """Copy `source` to its end into `target`, stopping one byte past `limit`; the number of bytes copied."""
    size = 0
    while size <= limit:
        chunk = source.read(min(READ_SIZE, limit + 1 - size))
        if not chunk:
            break
        target.write(chunk)
        size += len(chunk)
    return size


def _refusal(request: HttpRequest, status: int, kind: str, message: str) -> HttpResponse:
    error_mark(request, error_type="validation")
    if request.path.startswith("/api/"):
        return JsonResponse(error_body(kind, message), status=status)
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
