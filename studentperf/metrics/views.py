"""GET /metrics: the Prometheus text format, for a scraper that sends `Authorization: Bearer <METRICS_TOKEN>`."""
from __future__ import annotations

import hmac

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client.exposition import choose_encoder

from .registry import scrape_registry

NOT_CONFIGURED = "Metrics are disabled: METRICS_TOKEN is not configured on the server (docs/monitoring.md).\n"
UNAUTHORIZED = "Send the metrics token: Authorization: Bearer <METRICS_TOKEN>.\n"


@login_not_required
@require_GET
def metrics(request) -> HttpResponse:
    """403 while METRICS_TOKEN is unset (the series include figures a stranger should not read), 401 without
    the right bearer token, else the series."""
    token = settings.METRICS_TOKEN
    if not token:
        return HttpResponse(NOT_CONFIGURED, status=403, content_type="text/plain; charset=utf-8")
    scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(sent.strip().encode(), token.encode()):
        response = HttpResponse(UNAUTHORIZED, status=401, content_type="text/plain; charset=utf-8")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    # The format the scraper asks for (Accept): Prometheus text 0.0.4 by default, 1.0.0 or OpenMetrics on request.
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encoder(scrape_registry()), content_type=content_type)
