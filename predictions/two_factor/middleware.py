"""Until a superuser's or model admin's session has passed its second factor, it reaches nothing but the two-factor
pages, login, logout, the OIDC login URLs, the probes and /metrics: pages answer a redirect to enrolment or
verification (keeping the page asked for as `next`), the API a 403 JSON error naming the second factor.

It runs after django_otp's OTPMiddleware, on whatever made the session (the login form, the admin's login, OIDC),
so no login path skips it. Static files never reach it (WhiteNoise answers them first).
"""
from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpResponseRedirect, JsonResponse
from django.urls import reverse

from predictions.two_factor import texts
from predictions.two_factor.selectors import second_factor_step
from studentperf.api.exceptions import error_body

# By URL name: what a session that has not passed its second factor may still reach.
OPEN_VIEWS = frozenset({
    "login", "logout", "two_factor:setup", "two_factor:verify", "health-live", "health-ready", "metrics",
})
OPEN_PREFIXES = ("/oidc/",)  # mozilla-django-oidc's login and callback (the OIDC user is asked afterwards)


class TwoFactorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not settings.OTP_REQUIRED or not request.user.is_authenticated or _open(request):
            return None
        step = second_factor_step(user=request.user)
        if step is None:
            return None
        if request.path_info.startswith("/api/"):
            url = reverse("two_factor:verify")
            return JsonResponse(
                error_body("forbidden", texts.API_REQUIRED.format(url=url), {"second_factor": [texts.API_FIELD]}),
                status=403,
            )
        query = urlencode({"next": request.get_full_path()})
        return HttpResponseRedirect(f"{reverse(f'two_factor:{step}')}?{query}")


def _open(request) -> bool:
    match = request.resolver_match
    return (match is not None and match.view_name in OPEN_VIEWS) or request.path_info.startswith(OPEN_PREFIXES)
