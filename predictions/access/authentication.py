"""API-key authentication: `Authorization: Api-Key <prefix>.<secret>`.

A key is found by its prefix (one indexed query) and checked against its SHA-512 hash (microseconds), so
checking it costs about as much as reading a session. Only the hash is stored.
"""
from __future__ import annotations

import re

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication
from rest_framework_api_key.permissions import KeyParser

from predictions.access.api_keys import api_key_use_note
from predictions.models import ApiKey
from studentperf.api.exceptions import CredentialsRejected

KEYWORD = KeyParser.keyword  # "Api-Key"
BEARER = "Bearer"  # OAuth2 tokens (predictions.access.oauth)
# What `create_key` makes: an 8-character prefix, a dot, a 32-character secret (letters and digits).
_KEY_FORMAT = re.compile(r"[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}")


class ApiKeyAuthentication(BaseAuthentication):
    """`request.auth` is the `ApiKey` and `request.user` an `AnonymousUser` on success.

    No `Authorization` header, or a `Bearer` one (predictions.access.oauth's class takes it): None, so the
    others may try. A header of any other scheme (401 naming both), a malformed, unknown, revoked or expired key:
    401.
    """

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        keyword, _, key = header.partition(" ")
        if keyword.lower() == BEARER.lower():
            return None
        if keyword.lower() != KEYWORD.lower():
            raise CredentialsRejected(
                f"Send an API key as 'Authorization: {KEYWORD} <key>' or an OAuth2 token as "
                f"'Authorization: {BEARER} <token>'.",
                reason="wrong_scheme",
            )
        key = key.strip()
        if not _KEY_FORMAT.fullmatch(key):
            raise CredentialsRejected(
                "The API key is malformed: expected <8-character prefix>.<32-character secret>.", reason="malformed"
            )
        try:
            api_key = ApiKey.objects.get_from_key(key)  # unrevoked keys only; verifies the hash
        except ApiKey.DoesNotExist:
            raise CredentialsRejected("The API key is unknown or has been revoked.", reason="unknown") from None
        if api_key.has_expired:
            raise CredentialsRejected(
                f"The API key expired on {api_key.expiry_date:%Y-%m-%d %H:%M} UTC.", reason="expired"
            )
        # For the access log line (studentperf.observability), which sees the Django request: the name only.
        getattr(request, "_request", request).api_key_name = api_key.name
        api_key_use_note(api_key=api_key)  # the admin's "last used", written after the response
        return AnonymousUser(), api_key

    def authenticate_header(self, request) -> str:
        # A value here makes DRF answer 401 (not 403) to unauthenticated requests.
        return KEYWORD


def request_api_key(request) -> ApiKey | None:
    """The API key a request was authenticated with, if any."""
    return request.auth if isinstance(request.auth, ApiKey) else None


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """The Api-Key scheme in the OpenAPI schema (registered by being defined; this module is loaded with the
    REST_FRAMEWORK authentication classes)."""

    target_class = ApiKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`, the key printed once by `manage.py create_api_key` or the admin.",
        }
