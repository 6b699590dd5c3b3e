"""Liveness and readiness for load balancers and orchestrators; no key needed."""
from __future__ import annotations

from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from modelstore.selectors import active_model_get
from studentperf.errors import ApplicationError


@require_GET
def live(request) -> JsonResponse:
    """The process answers."""
    return JsonResponse({"status": "ok"})


@require_GET
def ready(request) -> JsonResponse:
    """200 when the database answers and the active model is loaded; 503 naming what is wrong otherwise."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return _unavailable("database", f"The database does not answer ({type(exc).__name__}).")
    try:
        model = active_model_get()
    except ApplicationError as exc:
        return _unavailable("model", exc.message)
    return JsonResponse({"status": "ok", "database": "ok", "model_version": model.version.version})


def _unavailable(check: str, message: str) -> JsonResponse:
    return JsonResponse(
        {"status": "unavailable", "error": "unavailable", "message": message, "fields": {check: [message]}}, status=503
    )
