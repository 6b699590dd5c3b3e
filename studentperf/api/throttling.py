"""Rate limits per API key and per logged-in user, counted in the shared cache (settings.CACHES)."""
from __future__ import annotations

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from .authentication import request_api_key


class _SettingsRateThrottle(SimpleRateThrottle):
    def get_rate(self) -> str | None:
        # DRF copies the rates once, at import; reading them per request lets settings changes apply.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


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
