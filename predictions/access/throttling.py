"""Rate limits per API key and per logged-in user: REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] ("api_key", "user").

Counted by studentperf.ratelimit: atomic fixed windows in the shared cache (on Redis one round trip and no SQL;
without Redis, or while it does not answer, per process). A refused request gets 429 with `Retry-After`, the
seconds until its window ends.
"""
from __future__ import annotations

from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from predictions.access.authentication import request_api_key
from predictions.access.oauth import request_client_token
from studentperf.ratelimit import rate_hit, rate_parse


class _WindowRateThrottle(BaseThrottle):
    scope = ""

    def __init__(self) -> None:
        self.seconds_left: float | None = None

    def ident(self, request) -> str | None:
        """Whose budget the request spends; None: not this throttle's to count."""
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        # Read per request (DRF copies the rates once, at import), so that settings changes apply.
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        ident = self.ident(request)
        if rate is None or ident is None:
            return True
        rate = rate_parse(rate)
        window = rate_hit(f"{self.scope}:{ident}", rate=rate)
        self.seconds_left = window.seconds_left
        return window.count <= rate.limit

    def wait(self) -> float | None:
        return self.seconds_left


class ApiKeyRateThrottle(_WindowRateThrottle):
    """REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["api_key"] requests per key (by its prefix), and as many per OAuth2
    client (by its client id, whichever of its tokens it sends)."""

    scope = "api_key"

    def ident(self, request) -> str | None:
        api_key = request_api_key(request)
        if api_key is not None:
            return api_key.prefix
        client_token = request_client_token(request)
        return f"oauth:{client_token.client_id}" if client_token is not None else None


class UserRateThrottle(_WindowRateThrottle):
    """REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["user"] requests per logged-in user (sessions)."""

    scope = "user"

    def ident(self, request) -> str | None:
        if request_api_key(request) is not None or not request.user.is_authenticated:
            return None
        return str(request.user.pk)
