"""The project's URLs plus a page and an API endpoint that fail with a bug, for the 500 answers (tests only)."""
from django.urls import path

from studentperf.urls import urlpatterns as project_urlpatterns


def _boom(request):
    raise RuntimeError("a bug in a view")


urlpatterns = [path("boom/", _boom), path("api/v1/boom", _boom), *project_urlpatterns]
handler400 = "studentperf.api.exceptions.handler400"
handler500 = "studentperf.api.exceptions.handler500"
