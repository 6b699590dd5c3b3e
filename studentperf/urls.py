from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path, reverse_lazy

from studentperf import health
from studentperf.accounts import LockoutPasswordChangeView
from studentperf.api.exceptions import api_not_found
from studentperf.metrics.views import metrics

# The admin's titles (issue 19): the browser tab's, the header's on every admin page, the index page's heading.
admin.site.site_title = admin.site.site_header = admin.site.index_title = "studentperf administration"

urlpatterns = [
    # The admin's own password change, with the login lockout on its old-password field (studentperf/accounts.py).
    path("admin/password_change/", admin.site.admin_view(LockoutPasswordChangeView.as_view(
        success_url=reverse_lazy("admin:password_change_done")))),
    path("admin/", admin.site.urls),
    # Log in, log out and change password. No self-service password reset: it needs outgoing e-mail,
    # which is not configured; an administrator sets a new password instead (docs/security.md).
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/two-factor/", include("predictions.two_factor.urls")),  # docs/security.md
    path("accounts/password_change/", LockoutPasswordChangeView.as_view(), name="password_change"),
    path("accounts/password_change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    # Single sign-on through OpenID Connect: always routed, 404 while the OIDC_* variables are unset.
    path("oidc/", include("predictions.sso.urls")),
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("metrics", metrics, name="metrics"),  # Prometheus, with a bearer token (docs/monitoring.md)
    path("api/v1/", include("studentperf.api.urls")),
    path("oauth/", include("predictions.access.urls")),  # OAuth2 client credentials for school systems
    re_path(r"^api/", api_not_found),  # JSON 404 for any other path under /api/, whatever the method
    path("", include("predictions.urls")),
]

handler400 = "studentperf.api.exceptions.handler400"
handler500 = "studentperf.api.exceptions.handler500"
