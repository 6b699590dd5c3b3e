"""The login page's single sign-on button, shown only while single sign-on is on (settings.OIDC_ENABLED)."""
from __future__ import annotations

from urllib.parse import urlencode

from django import template
from django.conf import settings
from django.urls import reverse

from ..sso import texts

register = template.Library()


@register.inclusion_tag("registration/sso_button.html")
def sso_login_button(next_url: str = "") -> dict:
    """A plain link (no script, no form): the start page redirects to the provider, and keeps `next` only when it
    is a path of this site (the library checks it)."""
    if not getattr(settings, "OIDC_ENABLED", False):
        return {"href": None}
    href = reverse("oidc_authentication_init")
    if next_url:
        href += "?" + urlencode({"next": next_url})
    return {"href": href, "label": texts.LOGIN_BUTTON.format(provider=settings.OIDC_PROVIDER_NAME)}
