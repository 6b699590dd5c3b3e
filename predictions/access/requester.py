"""Who sends an API request, in the shapes the selectors and the prediction audit log take it.

An API key (request.auth, from predictions.access.authentication) or a person signed in with a session.
"""
from __future__ import annotations

from predictions.access.authentication import request_api_key


def requester(request) -> dict:
    """Who asks, as the selectors take it: {"api_key": key} or {"user": user}."""
    api_key = request_api_key(request)
    return {"api_key": api_key} if api_key is not None else {"user": request.user}


def requester_person(request):
    """The logged-in person asking; None for an API key."""
    return None if request_api_key(request) is not None else request.user


def requested_by(request) -> dict:
    """Who asks, as the prediction audit log records it: {"api_key_prefix": prefix} or {"user": user}."""
    api_key = request_api_key(request)
    return {"api_key_prefix": api_key.prefix} if api_key is not None else {"user": request.user}


def requester_may_read(request) -> bool:
    """Whether the answer may show stored records: a person (their role decided what they reach), or an API key
    with the "read" scope. A write-only key changes a student but is not shown it (issue 18, attack 8)."""
    api_key = request_api_key(request)
    return api_key is None or api_key.has_scope("read")
