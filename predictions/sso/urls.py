"""/oidc/: included by studentperf/urls.py whatever the settings; each page answers 404 while single sign-on is
off. Only the two pages of a login: logging out is /accounts/logout/, as for everyone."""
from django.urls import path
from mozilla_django_oidc.views import OIDCAuthenticationRequestView

from .views import CallbackView, only_when_enabled

# The library finds the callback by this name (OIDC_AUTHENTICATION_CALLBACK_URL's default). The start redirects to
# the provider with a fresh state, nonce and PKCE challenge kept in the session.
urlpatterns = [
    path(
        "authenticate/", only_when_enabled(OIDCAuthenticationRequestView.as_view()), name="oidc_authentication_init"
    ),
    path("callback/", only_when_enabled(CallbackView.as_view()), name="oidc_authentication_callback"),
]
