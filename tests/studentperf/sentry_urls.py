"""A view that fails while it holds a student's record, for tests/studentperf/test_sentry.py (tests only)."""
import logging

from django.contrib.auth.models import Group
from django.urls import path
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

logger = logging.getLogger("tests.sentry")


class SessionAuthenticationWithoutCsrf(SessionAuthentication):
    """The request comes straight through Django's WSGI handler, without the test client that waives CSRF."""

    def enforce_csrf(self, request):
        return None


class FailingScoreApi(APIView):
    """Reads a record from the JSON body and fails on it, leaving its values everywhere Sentry could look: a
    local variable, a query's parameters, a log line's arguments and extra fields, the exception's message."""

    authentication_classes = [SessionAuthenticationWithoutCsrf]
    permission_classes = [AllowAny]

    def post(self, request):
        record = dict(request.data)
        Group.objects.filter(name=record["school"]).exists()  # a value as a query parameter, as a search has
        logger.info("scoring the student from %s", record["school"], extra={"record": record})
        raise ValueError(f"could not score a student absent {record['absences']} times")


urlpatterns = [path("test/sentry/score", FailingScoreApi.as_view())]
