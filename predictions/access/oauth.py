"""OAuth2 bearer tokens for external systems (issue 18), on django-oauth-toolkit (DOT).

A client (predictions.models.OAuthClient beside DOT's Application) posts its id and secret to `/oauth/token/` and
gets a short-lived token holding the scopes it asked for among those it was granted; it sends the token as
`Authorization: Bearer <token>`. A token is judged like an API key: the same scopes, the same students (every
student: both belong to the installation, not to a teacher).

DOT is plugged in through its settings (studentperf/settings.py OAUTH2_PROVIDER): `ClientScopes` says which
scopes a client may get, `ClientCredentialsValidator` refuses revoked and expired clients at the token endpoint.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser
from django.http import JsonResponse
from drf_spectacular.contrib.django_oauth_toolkit import DjangoOAuthToolkitScheme
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.scopes import SettingsScopes
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.views import TokenView
from oauthlib.common import Request as OAuthRequest
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import Throttled

from predictions.access.authentication import BEARER
from predictions.models import OAuthClient
from studentperf.api.credential_budget import credential_budget_check, credential_failure_record
from studentperf.api.exceptions import CredentialsRejected, error_body


@dataclass(frozen=True)
class ClientToken:
    """`request.auth` for a bearer token: who holds it and what it may do now (the scopes granted with the token
    that its client still holds, so taking a scope from a client applies to its live tokens too)."""

    client_id: str
    name: str
    scopes: frozenset[str]

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


def oauth_client_usable(client: OAuthClient | None) -> bool:
    """Whether a client may get and use tokens: it exists, is not revoked and has not expired."""
    return client is not None and not client.revoked and not client.has_expired


def _client_of(application) -> OAuthClient | None:
    try:
        return application.studentperf_client
    except OAuthClient.DoesNotExist:
        return None  # an Application made outside studentperf (e.g. DOT's own admin): no rights


class ClientScopes(SettingsScopes):
    """DOT's scopes backend: a client may ask for the scopes it was granted; asking for none gives them all."""

    def get_available_scopes(self, application=None, request=None, *args, **kwargs) -> list[str]:
        client = _client_of(application) if application is not None else None
        return list(client.scopes) if oauth_client_usable(client) else []

    def get_default_scopes(self, application=None, request=None, *args, **kwargs) -> list[str]:
        return self.get_available_scopes(application, request)


class ClientCredentialsValidator(OAuth2Validator):
    """DOT's validator, refusing a revoked or expired client as it refuses a wrong secret (invalid_client)."""

    def authenticate_client(self, request, *args, **kwargs) -> bool:
        return super().authenticate_client(request, *args, **kwargs) and oauth_client_usable(
            _client_of(request.client)
        )


class OAuthTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <token>`: `request.auth` is a ClientToken and `request.user` an AnonymousUser.

    Another scheme or no header: None, for the other authentication classes. A bearer token that is unknown
    (never issued, revoked, or its client deleted), expired, or whose client is revoked or expired: 401 with a
    sentence saying which, where DOT's own class lets such a request through unauthenticated. The token is
    checked by DOT's validator alone: unlike DOT's class, this one never reads the request body, which the API's
    parsers read later with their own limits.
    """

    def authenticate(self, request):
        keyword, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if keyword.lower() != BEARER.lower():
            return None
        token = token.strip()
        if not token:
            raise CredentialsRejected("Send the token as 'Authorization: Bearer <token>'.", reason="malformed")
        checked = OAuthRequest(request.build_absolute_uri(), http_method=request.method)
        if not oauth2_settings.OAUTH2_VALIDATOR_CLASS().validate_bearer_token(token, [], checked):
            error = getattr(checked, "oauth2_error", {}).get("error_description", "")
            if "expired" in str(error):
                raise CredentialsRejected(
                    "The access token has expired: ask /oauth/token/ for a new one.", reason="expired"
                )
            raise CredentialsRejected("The access token is unknown or has been revoked.", reason="unknown")
        access_token = checked.access_token
        client = _client_of(access_token.application) if access_token.application_id else None
        if client is None or client.revoked:
            raise CredentialsRejected("The OAuth2 client of this token has been revoked.", reason="unknown")
        if client.has_expired:
            raise CredentialsRejected(
                f"The OAuth2 client of this token expired on {client.expiry_date:%Y-%m-%d %H:%M} UTC.", reason="expired"
            )
        scopes = frozenset(access_token.scope.split()) & set(client.scopes)
        # For the access log line (studentperf.observability), as for an API key: the client's name only.
        getattr(request, "_request", request).api_key_name = client.name
        return AnonymousUser(), ClientToken(client_id=client.client_id, name=client.name, scopes=scopes)

    def authenticate_header(self, request) -> str:
        # A value here makes DRF answer 401 (not 403) to unauthenticated requests.
        return f'{BEARER} realm="api"'


def request_client_token(request) -> ClientToken | None:
    """The bearer token a request was authenticated with, if any."""
    return request.auth if isinstance(request.auth, ClientToken) else None


class OAuthTokenScheme(DjangoOAuthToolkitScheme):
    """The oauth2 scheme in the OpenAPI schema: the client-credentials flow (SPECTACULAR_SETTINGS OAUTH2_*), and
    on each operation the one scope its view requires (registered by being defined, like the Api-Key scheme)."""

    target_class = OAuthTokenAuthentication
    priority = 1

    def get_security_requirement(self, auto_schema) -> dict:
        scope = getattr(auto_schema.view, "required_scope", None)
        return {self.name: [scope] if scope else []}


class BudgetedTokenView(TokenView):
    """DOT's token endpoint, charged to the address's budget of failed credentials like the API (issue 18, attack 2):
    a client id and secret refused (401 `invalid_client`) counts against the address, and an address over its budget
    is answered 429 before its secret is hashed (each check of a secret costs a slow password hash)."""

    def post(self, request, *args, **kwargs):
        try:
            credential_budget_check(request)
        except Throttled as exc:
            response = JsonResponse(error_body("throttled", str(exc.detail)), status=429)
            response["Retry-After"] = str(math.ceil(exc.wait or 1))
            return response
        response = super().post(request, *args, **kwargs)
        if response.status_code == 401:
            credential_failure_record(request, reason="invalid")
        return response
