"""Content-Security-Policy and Permissions-Policy on every response (docs/security.md, "Content-Security-Policy").

The policy itself is settings.CONTENT_SECURITY_POLICY (django-csp's format). Two things it cannot say there: ask
browsers to upgrade insecure requests only on answers that went out over HTTPS (a plain-HTTP development server
would otherwise send every stylesheet and script to an https:// address nobody serves), and the
Permissions-Policy header, which Django does not send by itself.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, plus `upgrade-insecure-requests` on requests that came in over HTTPS (the TLS
    proxy's `X-Forwarded-Proto`, believed only from the proxy: studentperf/proxy.py)."""

    def get_policy_parts(self, request: HttpRequest, response: HttpResponseBase,
                         report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request=request, response=response, report_only=report_only)
        if request.is_secure():
            parts.replace = {**(parts.replace or {}), "upgrade-insecure-requests": True}
        return parts


def permissions_policy_header(features: Mapping[str, list[str]]) -> str:
    """`{"camera": [], "fullscreen": ["self"]}` -> `camera=(), fullscreen=(self)` (origins other than `self`
    and `*` are quoted, as the header's structured-field syntax wants)."""
    def allow_list(origins: list[str]) -> str:
        return "(" + " ".join(origin if origin in ("self", "*") else f'"{origin}"' for origin in origins) + ")"

    return ", ".join(f"{feature}={allow_list(origins)}" for feature, origins in features.items())


class PermissionsPolicyMiddleware:
    """Sends settings.PERMISSIONS_POLICY as the `Permissions-Policy` header, unless a view set its own."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.header = permissions_policy_header(settings.PERMISSIONS_POLICY)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.header:
            response.headers.setdefault("Permissions-Policy", self.header)
        return response
