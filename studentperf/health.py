"""Liveness and readiness for load balancers and orchestrators (views only: studentperf/readiness.py decides);
no key needed."""
from __future__ import annotations

from django.http import JsonResponse
from django.views.decorators.http import require_GET

from studentperf.celery import broker_ping
from studentperf.errors import ApplicationError
from studentperf.observability import error_mark
from studentperf.readiness import readiness_check

# Readiness is probed every few seconds: a broker that does not answer within this is reported down.
BROKER_PING_TIMEOUT = 0.5


@require_GET
def live(request) -> JsonResponse:
    """The process answers."""
    return JsonResponse({"status": "ok"})


@require_GET
def ready(request) -> JsonResponse:
    """200 when the database answers and every READINESS_CHECKS check passes (the active model is loaded); 503
    naming what is wrong otherwise.

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
