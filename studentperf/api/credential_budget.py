"""The budget of each client address for API requests without valid credentials (issue 18, attack 2).

Every API request answered 401 (no credentials; a malformed, unknown, revoked or expired API key; an invalid
bearer token: any AuthenticationFailed or NotAuthenticated) is counted against the address the trusted proxy
forwards (studentperf.proxy.client_address) and in /metrics by reason. Once an address has spent
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["anon"] (API_THROTTLE_ANON, 60/min) in the current window, every API
request from it is answered 429 before authentication, until the window ends: a refusal costs one cache read and
no SQL, where each wrong key cost a database lookup. Requests with valid credentials from that address are
refused too: telling them apart would take the very lookup the budget saves (docs/security.md says more).
"""
from __future__ import annotations

from rest_framework.exceptions import Throttled
from rest_framework.settings import api_settings

from studentperf.metrics import auth_failure_observe
from studentperf.proxy import client_address
from studentperf.ratelimit import Rate, rate_hit, rate_parse, rate_read

SCOPE = "anon"
REFUSED = "Too many API requests without valid credentials came from this address."


def credential_budget_check(request) -> None:
    """Raise Throttled (429, `Retry-After`) when the request's address has spent its budget in this window."""
    rate = _rate()
    if rate is None:
        return
    window = rate_read(_name(request), rate=rate)
    if window.count >= rate.limit:
        auth_failure_observe(reason="throttled")
        raise Throttled(wait=window.seconds_left, detail=REFUSED)


def credential_failure_record(request, *, reason: str) -> None:
    """Count a request refused for missing or wrong credentials (`reason`) against its address and in /metrics."""
    auth_failure_observe(reason=reason)
    rate = _rate()
    if rate is not None:
        rate_hit(_name(request), rate=rate)


def _rate() -> Rate | None:
    rate = api_settings.DEFAULT_THROTTLE_RATES.get(SCOPE)
    return rate_parse(rate) if rate else None


def _name(request) -> str:
    return f"{SCOPE}:{client_address(request) or 'unknown'}"
