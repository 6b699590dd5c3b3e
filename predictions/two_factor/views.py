"""The two-factor pages: enrolment, verification, new recovery codes. Each parses the form, calls a service and
renders; who may see which page is the selectors' business (and the middleware's)."""
from __future__ import annotations

from base64 import b32encode
from urllib.parse import urlencode

import django_otp
import segno
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from predictions.two_factor import services
from predictions.two_factor.forms import CodeForm
from predictions.two_factor.selectors import authenticator_get, second_factor_required
from studentperf.errors import ApplicationError


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def setup(request):
    """Enrol an authenticator app (QR code, or the secret typed in), confirm it with a code, then show the recovery
    codes once. Only for an account that must use a second factor and has no authenticator yet: with one, a
    password alone must never add another."""
    next_url = _next_url(request)
    if not second_factor_required(user=request.user):
        return redirect(next_url)
    if authenticator_get(user=request.user) is not None:
        return redirect(next_url) if request.user.is_verified() else _to("two_factor:verify", next_url)
    device = services.authenticator_pending_get_or_create(user=request.user)
    form = CodeForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            device, codes = services.authenticator_confirm(
                user=request.user, device=device, code=form.cleaned_data["code"]
            )
        except ApplicationError as exc:
            form.add_error("code", exc.fields["code"])
        else:
            django_otp.login(request, device)
            return render(request, "two_factor/recovery_codes.html", {"codes": codes, "next": next_url})
    secret = b32encode(device.bin_key).decode("ascii")
    qr_code = segno.make(device.config_url, error="m").svg_inline(
        scale=4, light="#fff", title="QR code for your authenticator app"
    )
    return render(request, "two_factor/setup.html", {
        "form": form, "next": next_url, "qr_code": qr_code, "secret": _grouped(secret),
    })


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def verify(request):
    """Enter a code from the authenticator app, or a recovery code."""
    next_url = _next_url(request)
    if not second_factor_required(user=request.user) or request.user.is_verified():
        return redirect(next_url)
    if authenticator_get(user=request.user) is None:
        return _to("two_factor:setup", next_url)
    form = CodeForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            device = services.second_factor_verify(user=request.user, code=form.cleaned_data["code"])
        except ApplicationError as exc:
            form.add_error("code", exc.fields["code"])
        else:
            django_otp.login(request, device)
            return redirect(next_url)
    return render(request, "two_factor/verify.html", {"form": form, "next": next_url})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def recovery_codes(request):
    """New recovery codes, the old ones invalidated. The middleware lets only a verified session this far."""
    if not second_factor_required(user=request.user) or authenticator_get(user=request.user) is None:
        return redirect(settings.LOGIN_REDIRECT_URL)
    if request.method == "POST":
        codes = services.recovery_codes_regenerate(user=request.user)
        return render(request, "two_factor/recovery_codes.html", {"codes": codes, "next": _next_url(request)})
    return render(request, "two_factor/recovery_codes_new.html", {"next": _next_url(request)})


def _next_url(request) -> str:
    """The page asked for before the two-factor step, if it is on this site; else the dashboard."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    allowed_hosts = {request.get_host()}
    if url_has_allowed_host_and_scheme(candidate, allowed_hosts=allowed_hosts, require_https=request.is_secure()):
        return candidate
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _to(view_name: str, next_url: str):
    return redirect(f"{resolve_url(view_name)}?{urlencode({'next': next_url})}")


def _grouped(secret: str) -> str:
    """The base32 secret in groups of four, easier to type into an app by hand."""
    return " ".join(secret[start:start + 4] for start in range(0, len(secret), 4))
