"""The request middleware (first in settings.MIDDLEWARE): request id, access line, error line, request metrics.

First, so that it sees every response (static files, 404s, 500s, axes' lockout page) and every log line of
the request carries the id.
"""
from __future__ import annotations

import logging
import sys
import time

from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.core.signals import got_request_exception, request_finished
from django.dispatch import receiver

from studentperf import metrics
from studentperf.proxy import client_address

from .error_types import error_for, error_mark
from .request_ids import HEADER, META_KEY, request_id_bind, request_id_clear, request_id_for

access_logger = logging.getLogger("studentperf.access")
error_logger = logging.getLogger("studentperf.errors")
# Refused field names written in one error line; a 1,000-record body may refuse thousands.
FIELDS_LOGGED_MAX = 100
# Client errors are the client's to fix: a warning. The service failing is an error.
_LEVELS = {"model_unavailable": logging.ERROR, "internal": logging.ERROR}
_EXC_INFO = "_studentperf_exc_info"


class RequestLogMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        request.request_id = request_id_for(request.META.get(META_KEY))
        # Bound until the response is closed (request_finished), not only until it leaves this middleware:
        # Django's own django.request line about the response is written after that, and carries it too.
        request_id_bind(request.request_id)
        response = self.get_response(request)
        response[HEADER] = request.request_id
        _request_done(request, response.status_code, time.perf_counter() - started)
        return response


def endpoint_of(request) -> str:
    """The route pattern that served the request ("api/v1/predict", "students/<int:pk>/", "/" for the
    dashboard), "static" for a static file, "unmatched" when no URL matched. Never the path: a bounded set."""
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return match.route or "/"
    if request.path.startswith("/" + settings.STATIC_URL.lstrip("/")):
        return "static"
    return "unmatched"


def _request_done(request, status: int, seconds: float) -> None:
    endpoint = endpoint_of(request)
    # The path only: a query string may hold what a teacher searched for (a student's id).
    access_logger.info("request", extra={
        "method": request.method, "path": request.path, "status": status, "latency_ms": round(seconds * 1000, 2),
        "user": _username(request), "api_key": getattr(request, "api_key_name", None),
        "client": client_address(request), "endpoint": endpoint,
    })
    metrics.request_observe(endpoint=endpoint, method=request.method, status=status, seconds=seconds)
    error = error_for(request, status=status)
    if error is None:
        return
    error_type, fields = error
    line = {"error_type": error_type, "status": status, "endpoint": endpoint, "method": request.method}
    if error_type == "validation":
        line |= {"fields": list(fields[:FIELDS_LOGGED_MAX]), "fields_total": len(fields)}
    exc_info = request.__dict__.pop(_EXC_INFO, None)  # dropped once logged: a traceback holds every frame alive
    error_logger.log(_LEVELS.get(error_type, logging.WARNING), "request error", extra=line, exc_info=exc_info)
    metrics.error_observe(error_type=error_type)
    if error_type == "validation" and fields:
        source = "api" if request.path.startswith("/api/") else "web"
        metrics.validation_errors_observe(fields=fields, source=source)


def _username(request) -> str | None:
    user = getattr(request, "user", None)  # none for a response given before AuthenticationMiddleware
    try:
        return user.get_username() if user is not None and user.is_authenticated else None
    except Exception:  # the session store failing (the database down): the response must still go out
        return None


@receiver(request_finished, dispatch_uid="studentperf.observability.finished")
def _request_finished(sender, **kwargs) -> None:
    request_id_clear()


@receiver(got_request_exception, dispatch_uid="studentperf.observability.exception")
def _request_failed(sender, request=None, **kwargs) -> None:
    """An exception no view handled: the error line carries its traceback."""
    if request is not None:
        error_mark(request, error_type="internal")
        setattr(request, _EXC_INFO, sys.exc_info())


@receiver(user_login_failed, dispatch_uid="studentperf.observability.login_failed")
def _login_failed(sender, request=None, **kwargs) -> None:
    """A wrong password (any login form, django-axes' lockouts too). Nothing of what was typed is logged."""
    if request is not None:
        error_mark(request, error_type="auth")
