from django.contrib import admin
from django.urls import include, path, re_path

from studentperf import health
from studentperf.api.exceptions import api_not_found

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("api/v1/", include("studentperf.api.urls")),
    re_path(r"^api/", api_not_found),  # JSON 404 for any other path under /api/, whatever the method
    path("", include("predictions.urls")),
]

handler500 = "studentperf.api.exceptions.handler500"
