"""Liveness and readiness for load balancers and orchestrators; no key needed."""
from __future__ import annotations

from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from modelstore.selectors import active_model_get
from studentperf.celery import broker_ping
from studentperf.errors import ApplicationError
from studentperf.observability import error_mark

# Readiness is probed every few seconds: a broker that does not answer within this is reported down.
BROKER_PING_TIMEOUT = 0.5


@require_GET
def live(request) -> JsonResponse:
    """The process answers."""
    return JsonResponse({"status": "ok"})


@require_GET
def ready(request) -> JsonResponse:
    """200 when the database answers and the active model is loaded; 503 naming what is wrong otherwise.

    The broker is reported ("ok" or "unavailable") but does not decide readiness: without Redis single
    predictions, the API and the site keep working and only batch uploads are refused (503), so taking web
    processes out of the load balancer would turn a partial outage into a full one.
    """
    try:
        body = readiness_check()
    except ApplicationError as exc:
        # Counted by type like any error: no servable model is "model_unavailable", a silent database "internal".
        error_mark(request, error_type="model_unavailable" if "model" in exc.fields else "internal")
        return JsonResponse({"status": "unavailable", **exc.as_dict()}, status=503)
    body["broker"] = "ok" if broker_ping(timeout=BROKER_PING_TIMEOUT) else "unavailable"
    return JsonResponse({"status": "ok", **body})


def readiness_check() -> dict:
    """{"database": "ok", "model_version": N, "engines": {setup: "onnxruntime" or "scikit-learn"}} as this
    process sees them (a web process or a Celery worker).

    Raises ApplicationError(kind="unavailable") whose `fields` name the check that failed.
    """
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        raise _unavailable("database", f"The database does not answer ({type(exc).__name__}).") from exc
    try:
        model = active_model_get()
    except ApplicationError as exc:
        raise _unavailable("model", exc.message) from exc
    return {"database": "ok", "model_version": model.version.version, "engines": model.engines}


def _unavailable(check: str, message: str) -> ApplicationError:
    return ApplicationError(message, kind="unavailable", fields={check: [message]})
