"""Rate limits per API key and per logged-in user, counted in the shared cache (settings.CACHES).

On Redis (the default when REDIS_URL is set) a check costs two round trips and no SQL. Should Redis stop
answering, each process counts in its own memory for SHARED_CACHE_RETRY_SECONDS before it tries Redis again,
and logs an error: the limits then hold per process rather than across them, and the API keeps serving, as it
does without Redis for everything but batch uploads.
"""
from __future__ import annotations

import logging
import time

from django.core.cache.backends.locmem import LocMemCache
from redis.exceptions import RedisError
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from predictions.access.authentication import request_api_key

logger = logging.getLogger(__name__)
SHARED_CACHE_RETRY_SECONDS = 10
_local_counts = LocMemCache("studentperf-throttle-fallback", {})
_shared_cache_down_until = 0.0  # time.monotonic() before which the shared cache is not tried


class _SettingsRateThrottle(SimpleRateThrottle):
    def get_rate(self) -> str | None:
        # DRF copies the rates once, at import; reading them per request lets settings changes apply.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view) -> bool:
        global _shared_cache_down_until
        if time.monotonic() >= _shared_cache_down_until:
            try:
                return super().allow_request(request, view)
            except RedisError as exc:
                _shared_cache_down_until = time.monotonic() + SHARED_CACHE_RETRY_SECONDS
                logger.error(
                    "rate limits counted per process: the shared cache does not answer",
                    extra={"reason": repr(exc), "retry_seconds": SHARED_CACHE_RETRY_SECONDS},
                )
        self.cache = _local_counts
        return super().allow_request(request, view)


class ApiKeyRateThrottle(_SettingsRateThrottle):
    """REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["api_key"] requests per key (by its prefix)."""

    scope = "api_key"

    def get_cache_key(self, request, view) -> str | None:
        api_key = request_api_key(request)
        if api_key is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": api_key.prefix}


class UserRateThrottle(_SettingsRateThrottle):
    """REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["user"] requests per logged-in user (sessions)."""

    scope = "user"

    def get_cache_key(self, request, view) -> str | None:
        if request_api_key(request) is not None or not request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}
