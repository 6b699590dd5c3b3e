"""Optional error tracking with Sentry (docs/monitoring.md, "Error tracking"): settings call sentry_init() when
SENTRY_DSN is set; without it the SDK is never initialised and nothing leaves the server.

Sentry is a third party, so an event carries where the code failed, never what it was working on. The SDK is
told not to collect user details, cookies, query strings, request bodies or local variables
(`data_collection`), and every event, transaction and breadcrumb is scrubbed again here before it is sent, in
case an integration or a future SDK collects more than it was told to:

- the request keeps its method, URL path and a few harmless headers: no body, cookies, query string, user or
  client address;
- an exception keeps its type and its stack (files, functions, lines of code), not its message: messages from
  pandas, scikit-learn or a parser may quote the values of a student's record. The full message is in the
  application's own log line, found by the `request_id` tag every event carries;
- a log line keeps its template (the code's text), not its arguments or `extra` fields;
- breadcrumbs keep their kind, level and time; of their messages, only the parametrised SQL of database queries
  (the values are parameters, never sent) and the templates of log lines are kept.

This module imports no app: it cannot know the attribute names of a record, so it removes whole places where a
record's values can appear rather than named fields.
"""
from __future__ import annotations

from typing import Any

import sentry_sdk
from django.core.exceptions import ImproperlyConfigured
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.django import DjangoIntegration

from .request_ids import request_id_get

FILTERED = "[Filtered]"
# Request headers an event keeps; the others (cookies, credentials, client addresses, a Referer with its query
# string) may identify a person or hold what they searched for.
HEADERS_KEPT = ("accept", "content-length", "content-type", "host", "user-agent", "x-request-id")
# Span data keys kept (by prefix): where in the code, which database or queue. Others may hold query strings,
# parameters or message bodies.
SPAN_DATA_KEPT = (
    "code.", "thread.", "db.system", "db.operation", "http.method", "http.request.method",
    "http.response.status_code", "messaging.system", "messaging.destination",
)
# sentry-sdk 2.x replaces the deprecated `send_default_pii` with this: every category of personal or request
# data off. Source lines around each frame stay (they are the code, not its data).
DATA_COLLECTION = {
    "user_info": False,
    "cookies": {"mode": "off"},
    "http_headers": {"request": {"mode": "allowlist", "terms": list(HEADERS_KEPT)}},
    "http_bodies": [],
    "url_query_params": {"mode": "off"},
    "database_query_data": False,
    "queues": False,
    "stack_frame_variables": False,
    "gen_ai": {"inputs": False, "outputs": False},
    "graphql": {"document": False, "variables": False},
}


def sentry_init(*, dsn: str, environment: str, release: str | None, traces_sample_rate: float) -> None:
    """Start sending errors (and, with a positive `traces_sample_rate`, that share of request and task traces)
    of this process to the Sentry project at `dsn`, scrubbed of student data."""
    if not 0 <= traces_sample_rate <= 1:
        raise ImproperlyConfigured(f"SENTRY_TRACES_SAMPLE_RATE must be between 0 and 1, not {traces_sample_rate}.")
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        # None, not 0: no tracing instrumentation at all rather than traces that are all dropped.
        traces_sample_rate=traces_sample_rate or None,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        data_collection=DATA_COLLECTION,
        include_local_variables=False,
        before_send=event_scrub,
        before_send_transaction=transaction_scrub,
        before_breadcrumb=breadcrumb_scrub,
    )


def event_scrub(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """An error event as it may leave the server (before_send)."""
    _common_scrub(event)
    for exception in (event.get("exception") or {}).get("values") or ():
        if exception.get("value"):
            exception["value"] = FILTERED
    logentry = event.get("logentry")
    if logentry:
        # The template stays; the arguments, and the message formatted with them, go.
        event["logentry"] = {"message": logentry.get("message") or FILTERED}
    return event


def transaction_scrub(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """A trace as it may leave the server (before_send_transaction)."""
    _common_scrub(event)
    for span in event.get("spans") or ():
        _span_data_scrub(span)
    return event


def breadcrumb_scrub(breadcrumb: dict[str, Any], hint: dict[str, Any] | None) -> dict[str, Any]:
    """A breadcrumb as it is recorded (before_breadcrumb), so before it is in any event: here, not in before_send,
    the log record is still at hand, so a log line's breadcrumb can keep its template rather than lose its message."""
    breadcrumb.pop("data", None)
    record = (hint or {}).get("log_record")
    if record is not None:
        breadcrumb["message"] = str(record.msg)
    elif breadcrumb.get("category") != "query":
        breadcrumb.pop("message", None)
    return breadcrumb


def _common_scrub(event: dict[str, Any]) -> None:
    """What errors and traces share: the request, the user, `extra`, the trace's data and the stack frames'
    variables."""
    event.pop("user", None)
    event.pop("extra", None)  # log records' extra fields, the task's arguments, the command line
    request = event.get("request")
    if request:
        event["request"] = _request_scrub(request)
    _span_data_scrub((event.get("contexts") or {}).get("trace") or {})
    for frame in _frames(event):
        frame.pop("vars", None)
    request_id = request_id_get()
    if request_id:
        event.setdefault("tags", {})["request_id"] = request_id


def _request_scrub(request: dict[str, Any]) -> dict[str, Any]:
    """Method, URL path and HEADERS_KEPT: no body, cookies, query string (a search may be a student's id) nor
    environment (the client's address)."""
    kept = {key: request[key] for key in ("method", "url") if key in request}
    if "url" in kept and isinstance(kept["url"], str):
        kept["url"] = kept["url"].split("?", 1)[0]
    headers = request.get("headers")
    if isinstance(headers, dict):
        kept["headers"] = {name: value for name, value in headers.items() if name.lower() in HEADERS_KEPT}
    return kept


def _span_data_scrub(span: dict[str, Any]) -> None:
    if isinstance(span.get("data"), dict):
        span["data"] = {key: value for key, value in span["data"].items() if key.startswith(SPAN_DATA_KEPT)}


def _frames(event: dict[str, Any]) -> list[dict[str, Any]]:
    stacktraces = [event.get("stacktrace")]
    for container in ("exception", "threads"):
        stacktraces += [value.get("stacktrace") for value in (event.get(container) or {}).get("values") or ()]
    return [frame for stacktrace in stacktraces if stacktrace for frame in stacktrace.get("frames") or ()]
