"""Sentry (studentperf/observability/sentry.py): errors of requests and tasks are reported without a student's
data, and nothing is initialised without SENTRY_DSN.

The events are caught by a transport that keeps the envelopes the SDK would send; a test reads them as the bytes
that would go over the wire. Every value the failing request carries holds a token made for the test, so that
"the token is nowhere in what would be sent" covers every field, whatever its name.
"""
from __future__ import annotations

import functools
import json
import uuid
from unittest.mock import ANY

import pytest
import sentry_sdk
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client, RequestFactory
from sentry_sdk.envelope import Envelope
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.transport import Transport

from predictions.api.examples import RECORD
from studentperf.celery import app as celery_app
from studentperf.observability.sentry import breadcrumb_scrub, event_scrub, sentry_init, transaction_scrub
from tests.studentperf.test_settings import GOOD_KEY, GOOD_SECRET, load_settings

DSN = "https://public@sentry.invalid/1"
CLIENT_ADDRESS = "203.0.113.77"


class CapturingTransport(Transport):
    def __init__(self):
        super().__init__()
        self.envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)

    def sent(self) -> str:
        return b"".join(envelope.serialize() for envelope in self.envelopes).decode()

    def events(self) -> list[dict]:
        return [envelope.get_event() for envelope in self.envelopes if envelope.get_event() is not None]

    def transactions(self) -> list[dict]:
        return [
            envelope.get_transaction_event() for envelope in self.envelopes
            if envelope.get_transaction_event() is not None
        ]


@pytest.fixture
def transport(monkeypatch):
    """Every sentry_sdk.init of the test sends to this transport; afterwards the SDK is off again, as the rest of
    the suite expects (its integrations stay installed, but do nothing without a client)."""
    transport = CapturingTransport()
    monkeypatch.setattr(sentry_sdk, "init", functools.partial(sentry_sdk.init, transport=transport))
    with sentry_sdk.isolation_scope() as scope:  # this test's breadcrumbs only
        scope.clear_breadcrumbs()
        yield transport
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)


@pytest.fixture
def token() -> str:
    return uuid.uuid4().hex


@pytest.fixture
def failing_request(settings, django_user_model, token):
    """failing_request() -> (status, headers) of a logged-in teacher's POST of a record to a view that fails on
    it, through Django's WSGI handler (as gunicorn calls it, and as Sentry's integration wraps it). The record's
    values, the query string, a cookie, the Referer and the teacher's name and e-mail hold `token`."""
    settings.ROOT_URLCONF = "tests.studentperf.sentry_urls"
    teacher = django_user_model.objects.create_user(
        username=f"teacher-{token}", email=f"{token}@school.example", password="a-long-test-password"
    )

    def post() -> tuple[str, dict]:
        client = Client()
        client.force_login(teacher)
        session = client.cookies[settings.SESSION_COOKIE_NAME].value
        request = RequestFactory().post(
            f"/test/sentry/score?student={token}-query",
            data=json.dumps({name: f"{token}-{name}" for name in RECORD}), content_type="application/json",
            REMOTE_ADDR=CLIENT_ADDRESS, HTTP_REFERER=f"https://school.example/students/?search={token}-referer",
            HTTP_COOKIE=f"{settings.SESSION_COOKIE_NAME}={session}; preference={token}-cookie",
        )
        return _wsgi_call(request.environ)

    return post


def _wsgi_call(environ: dict) -> tuple[str, dict]:
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer.update(status=status, headers=dict(headers))

    # As Django's test client does: the request must not close the connection that holds the test's transaction.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        response = WSGIHandler()(environ, start_response)
        b"".join(response)
        response.close()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return answer["status"], answer["headers"]


def test_a_failing_request_is_reported_without_the_students_data_nor_the_users(db, transport, failing_request, token):
    sentry_init(dsn=DSN, environment="test", release="1.2.3", traces_sample_rate=1.0)

    status, headers = failing_request()

    assert status.startswith("500")
    assert token not in transport.sent() and CLIENT_ADDRESS not in transport.sent()
    (event,) = transport.events()
    assert "user" not in event and "extra" not in event
    # What a developer needs is still there: what failed, where, in which request and release, and the trace.
    (error,) = event["exception"]["values"]
    assert (error["type"], error["value"]) == ("ValueError", "[Filtered]")
    frames = error["stacktrace"]["frames"]
    assert any(frame["function"] == "post" and frame["module"] == "tests.studentperf.sentry_urls" for frame in frames)
    assert not any("vars" in frame for frame in frames)
    assert event["request"] == {
        "method": "POST", "url": "http://testserver/test/sentry/score",
        "headers": {"Content-Length": ANY, "Content-Type": "application/json"},
    }
    assert event["tags"]["request_id"] == headers["X-Request-ID"]
    assert (event["environment"], event["release"]) == ("test", "1.2.3")
    assert _breadcrumb(event, "tests.sentry") == {
        "type": "log", "level": "info", "category": "tests.sentry", "message": "scoring the student from %s",
        "timestamp": ANY,
    }
    (transaction,) = transport.transactions()
    assert transaction["transaction"] == "/test/sentry/score"
    assert transaction["tags"]["request_id"] == headers["X-Request-ID"]


def test_the_scrubbing_alone_removes_what_the_sdk_collects(db, transport, failing_request, token):
    """Even were the SDK to collect everything (a future default, an integration that ignores data_collection),
    the hooks leave none of it."""
    _init_collecting_everything(
        before_send=event_scrub, before_send_transaction=transaction_scrub, before_breadcrumb=breadcrumb_scrub
    )

    failing_request()

    assert transport.events() and transport.transactions()
    assert token not in transport.sent() and CLIENT_ADDRESS not in transport.sent()


def test_the_check_finds_the_token_wherever_the_sdk_collects_it(db, transport, failing_request, token):
    """Without sentry_init's settings and hooks, every place the tests above look at holds the token."""
    _init_collecting_everything()

    failing_request()

    (event,) = transport.events()
    request = event["request"]
    assert request["data"]["school"] == f"{token}-school" and token in request["query_string"]
    assert token in request["cookies"]["preference"] and token in request["headers"]["Referer"]
    assert (event["user"]["email"], event["user"]["ip_address"]) == (f"{token}@school.example", CLIENT_ADDRESS)
    (error,) = event["exception"]["values"]
    assert token in error["value"]
    (view_frame,) = [frame for frame in error["stacktrace"]["frames"] if frame["function"] == "post"]
    assert token in str(view_frame["vars"]["record"])
    log_line = _breadcrumb(event, "tests.sentry")
    assert token in log_line["message"] and token in str(log_line["data"]["record"])
    (transaction,) = transport.transactions()
    assert any(f"{token}-school" in span["data"].get("db.params", ()) for span in transaction["spans"])


def _init_collecting_everything(**hooks) -> None:
    sentry_sdk.init(
        dsn=DSN, integrations=[DjangoIntegration()], data_collection={"database_query_data": True},
        traces_sample_rate=1.0, **hooks,
    )


def _breadcrumb(event: dict, category: str) -> dict:
    (breadcrumb,) = [crumb for crumb in event["breadcrumbs"]["values"] if crumb["category"] == category]
    return breadcrumb


@celery_app.task(name="tests.studentperf.sentry_failing_task")
def failing_task(record: dict) -> None:
    raise ValueError(f"could not score a student absent {record['absences']} times")


def test_a_failing_celery_task_is_reported_without_its_arguments(transport, token):
    sentry_init(dsn=DSN, environment="test", release=None, traces_sample_rate=0)

    result = failing_task.apply(args=[{name: f"{token}-{name}" for name in RECORD}])

    assert result.failed()
    (event,) = transport.events()
    assert event["exception"]["values"][0]["type"] == "ValueError"
    assert event["tags"]["celery_task_id"] == result.id
    assert token not in transport.sent()


@pytest.mark.parametrize("traces_sample_rate", [-0.1, 1.5])
def test_a_traces_sample_rate_outside_0_to_1_is_refused(transport, traces_sample_rate):
    with pytest.raises(ImproperlyConfigured, match="SENTRY_TRACES_SAMPLE_RATE must be between 0 and 1"):
        sentry_init(dsn=DSN, environment="test", release=None, traces_sample_rate=traces_sample_rate)
    assert not sentry_sdk.get_client().is_active()


def _sentry_state(env: dict) -> list:
    """[active, environment, release, before_send's name] of the Sentry client once the production settings are
    loaded with `env` in a fresh process."""
    client = "__import__('sentry_sdk').get_client()"
    show = (
        f"__import__('json').dumps([{client}.is_active(), {client}.options.get('environment'), "
        f"{client}.options.get('release'), getattr({client}.options.get('before_send'), '__name__', None)])"
    )
    result = load_settings({"DJANGO_SECRET_KEY": GOOD_SECRET, "MODEL_ENCRYPTION_KEY": GOOD_KEY, **env}, show=show)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_without_sentry_dsn_sentry_is_not_initialised():
    assert _sentry_state({"SENTRY_ENVIRONMENT": "staging"})[0] is False
    assert _sentry_state({"SENTRY_DSN": "  "})[0] is False


def test_with_sentry_dsn_the_settings_initialise_sentry_with_the_scrubbing():
    state = _sentry_state({"SENTRY_DSN": DSN, "SENTRY_ENVIRONMENT": "staging", "SENTRY_RELEASE": "2.0.1"})

    assert state == [True, "staging", "2.0.1", "event_scrub"]
