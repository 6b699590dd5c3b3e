"""Behind the TLS proxy: which forwarded headers to believe, the client's address, probes before host checks.

The proxy (deploy/nginx/) terminates TLS and passes `X-Forwarded-Proto` and `X-Forwarded-For`. Those headers
are believed only from the addresses in settings.FORWARDED_ALLOW_IPS (the variable gunicorn reads too:
addresses or networks, or `*` where only the proxy can reach the web processes). From anyone else they are
removed before Django reads them, so a client talking to gunicorn directly cannot claim HTTPS
(SECURE_PROXY_SSL_HEADER) or another address (the login lockout's key).
"""
from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import resolve

FORWARDED_META = ("HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PORT")


@lru_cache(maxsize=8)
def _networks(allowed: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] | None:
    """The trusted networks; None means every address (`*`)."""
    if "*" in allowed:
        return None
    return tuple(ipaddress.ip_network(item, strict=False) for item in allowed)


def address_trusted(address: str | None, *, allowed: Iterable[str]) -> bool:
    """True when `address` is one of the trusted proxies (`allowed`: addresses, networks or `*`)."""
    networks = _networks(tuple(allowed))
    if networks is None:
        return True
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:  # a Unix socket peer, or nothing
        return False
    return any(ip in network for network in networks)


def client_address(request: HttpRequest) -> str | None:
    """The address of the client as the trusted proxies saw it.

    From a trusted proxy: the right-most `X-Forwarded-For` entry that is not itself a trusted proxy (entries to
    its left were written by the client and may be forged); with `*`, the entry the proxy added (the last one).
    Otherwise the connection's own address. Used as the login lockout's key (AXES_CLIENT_IP_CALLABLE)."""
    remote = request.META.get("REMOTE_ADDR")
    allowed = settings.FORWARDED_ALLOW_IPS
    chain = [item.strip() for item in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if item.strip()]
    if not chain or not address_trusted(remote, allowed=allowed):
        return remote
    if _networks(tuple(allowed)) is None:
        return chain[-1]
    for hop in reversed(chain):
        if not address_trusted(hop, allowed=allowed):
            return hop
    return chain[0]


class ForwardedHeadersMiddleware:
    """Drops the forwarding headers of a request that did not come from a trusted proxy (module docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not address_trusted(request.META.get("REMOTE_ADDR"), allowed=settings.FORWARDED_ALLOW_IPS):
            for key in FORWARDED_META:
                request.META.pop(key, None)
        return self.get_response(request)


class HealthProbeMiddleware:
    """Answers the probes (settings.HEALTH_PROBE_PATHS) before anything checks the Host header.

    Kubernetes probes and load balancers send an IP address (or nothing useful) as Host; ALLOWED_HOSTS must not
    turn that into a 400 that takes a healthy process out of service. Nothing else is exempt: every other path
    goes on to the host validation of CommonMiddleware and the views. Placed after the request log middleware,
    so a probe is still logged and counted under its route.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.paths = frozenset(settings.HEALTH_PROBE_PATHS)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info not in self.paths:
            return self.get_response(request)
        request.resolver_match = resolve(request.path_info)  # the route the access line and metrics name
        return request.resolver_match.func(request)
