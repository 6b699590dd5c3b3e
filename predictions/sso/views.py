"""The provider's two pages: the start of a login (a redirect to the provider) and its return (the callback).

Both answer 404 while single sign-on is off (settings.OIDC_ENABLED), so the URLs can always be included. A
callback that does not end in a login (a forged or replayed state, a token signed by another key, a wrong
nonce or audience, an unknown account, a provider that does not answer) goes back to the login page with a
message, never to a 500.
"""
from __future__ import annotations

import functools
import logging

import jwt
import requests
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse
from mozilla_django_oidc import views as oidc_views

from . import texts

logger = logging.getLogger(__name__)


def only_when_enabled(view):
    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        if not getattr(settings, "OIDC_ENABLED", False):
            raise Http404("Single sign-on is off.")
        return view(request, *args, **kwargs)

    return wrapped


class CallbackView(oidc_views.OIDCAuthenticationCallbackView):
    def get(self, request):
        try:
            return super().get(request)
        except (requests.ConnectionError, requests.Timeout) as exc:
            logger.warning("Single sign-on provider unreachable: %s", exc.__class__.__name__)
            messages.error(request, texts.PROVIDER_UNREACHABLE)
            return HttpResponseRedirect(reverse("login"))
        except requests.RequestException as exc:  # the provider refused the code; its answer is not logged
            logger.warning("Single sign-on refused by the provider: %s", exc.__class__.__name__)
            return self.login_failure()
        except (SuspiciousOperation, jwt.PyJWTError, ValueError, KeyError) as exc:
            # The reason only (these messages name no one): a bad signature, nonce, audience, state or answer.
            logger.warning("Single sign-on refused: %s: %s", exc.__class__.__name__, str(exc)[:200])
            return self.login_failure()

    def login_failure(self):
        messages.error(self.request, texts.LOGIN_FAILED)
        return HttpResponseRedirect(reverse("login"))
