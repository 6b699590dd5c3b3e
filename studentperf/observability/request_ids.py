"""The request id: the client's `X-Request-ID` when well-formed, a new one otherwise.

It lives in a context variable for the request's duration (and in `request.request_id`), so that every log
line written meanwhile carries it (RequestIdFilter, on the handlers of settings.LOGGING). A task queued by the
request takes it along in a message header and binds it while it runs, so a batch job's worker lines and
audit rows carry the id of the upload that created it.
"""
from __future__ import annotations

import contextvars
import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from celery import signals

HEADER = "X-Request-ID"
META_KEY = "HTTP_X_REQUEST_ID"
TASK_HEADER = "request_id"
# What a client's id may be: safe in a header, a log line, a URL and a database column, never echoed otherwise.
WELL_FORMED = re.compile(r"[A-Za-z0-9._:-]{8,128}")

_current: contextvars.ContextVar[str] = contextvars.ContextVar("studentperf_request_id", default="")
# Celery task id -> the token that undoes its binding when the task ends.
_task_tokens: dict[str, contextvars.Token] = {}


def request_id_get() -> str:
    """The id of the request (or of the task queued by a request) being served; "" outside any."""
    return _current.get()


def request_id_for(value: str | None) -> str:
    """`value` when well-formed (8-128 of A-Z a-z 0-9 . _ : -), otherwise a new id (uuid4 hex)."""
    if isinstance(value, str) and WELL_FORMED.fullmatch(value):
        return value
    return uuid.uuid4().hex


def request_id_bind(request_id: str) -> None:
    """Make `request_id` current, until request_id_clear() or another request's id in this thread."""
    _current.set(request_id)


def request_id_clear() -> None:
    _current.set("")


@contextmanager
def request_id_bound(request_id: str) -> Iterator[None]:
    """`request_id` current within the block (when it is one: "" leaves the current id), the previous one after."""
    if not request_id:
        yield
        return
    token = _current.set(request_id)
    try:
        yield
    finally:
        _current.reset(token)


class RequestIdFilter(logging.Filter):
    """Adds `request_id` (the current id, or None outside requests and tasks) to every record a handler emits."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _current.get() or None
        return True


@signals.before_task_publish.connect(dispatch_uid="studentperf.request_id.publish")
def _task_publish(headers: dict | None = None, **kwargs) -> None:
    request_id = _current.get()
    if request_id and headers is not None:
        headers.setdefault(TASK_HEADER, request_id)


@signals.task_prerun.connect(dispatch_uid="studentperf.request_id.task_start")
def _task_start(task_id: str | None = None, task=None, **kwargs) -> None:
    # A worker sees the header as an attribute of the task's request, and among its custom `headers` (as
    # `apply(headers=...)` gives it too). Tasks queued outside a request (beat's) have none and keep "".
    context = getattr(task, "request", None)
    request_id = getattr(context, TASK_HEADER, None) or (getattr(context, "headers", None) or {}).get(TASK_HEADER)
    if task_id and isinstance(request_id, str) and WELL_FORMED.fullmatch(request_id):
        _task_tokens[task_id] = _current.set(request_id)


@signals.task_postrun.connect(dispatch_uid="studentperf.request_id.task_end")
def _task_end(task_id: str | None = None, **kwargs) -> None:
    token = _task_tokens.pop(task_id, None) if task_id else None
    if token is None:
        return
    try:
        _current.reset(token)
    except ValueError:  # ended in another context than it started (not with the prefork or thread pools)
        _current.set("")
