"""The JSON formatter of every log line (settings.LOGGING): python-json-logger's, made safe for requests."""
from __future__ import annotations

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter


class JsonFormatter(_JsonFormatter):
    """Django attaches the request to its own lines (django.request, django.security); written as is, it
    would show the query string, which may hold what a teacher searched for (a student's id). The line shows
    its method and path instead."""

    def process_log_record(self, log_data: dict) -> dict:
        request = log_data.get("request")
        if request is not None and not isinstance(request, str):
            log_data["request"] = f"{getattr(request, 'method', '')} {getattr(request, 'path', '')}".strip()
        return super().process_log_record(log_data)
