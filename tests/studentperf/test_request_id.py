"""The request id: taken from X-Request-ID when well-formed, generated otherwise; in the response header, the
API's error bodies, the error pages, the audit row, every log line of the request and the tasks it queues."""
from __future__ import annotations

import logging
import re
from types import SimpleNamespace

import pytest
from celery import signals
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from predictions.models import Prediction
from studentperf.celery import worker_check
from studentperf.observability import request_id_get
from studentperf.observability.request_ids import request_id_bind, request_id_clear

from .log_capture import log_lines  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db
GENERATED = re.compile(r"[0-9a-f]{32}")
PREDICT = "/api/v1/predict"


def boom(*args, **kwargs):
    raise RuntimeError("a bug")


@pytest.fixture
def failing_client() -> Client:
    """A client that gets the 500 answer instead of the exception."""
    return Client(raise_request_exception=False)


def test_an_id_is_generated_when_the_client_sends_none(client):
    first, second = client.get("/health/live"), client.get("/health/live")

    assert GENERATED.fullmatch(first["X-Request-ID"]) and GENERATED.fullmatch(second["X-Request-ID"])
    assert first["X-Request-ID"] != second["X-Request-ID"]


@pytest.mark.parametrize("sent", ["abcd1234", "req:2026-11-26.batch_7", "f" * 128])
def test_a_well_formed_client_id_is_echoed(client, sent):
    assert client.get("/health/live", HTTP_X_REQUEST_ID=sent)["X-Request-ID"] == sent


@pytest.mark.parametrize(
    "sent",
    ["short", "has spaces in it", "f" * 129, "line\nbreak-injected", "<script>alert(1)</script>", "éléphant-1"],
)
def test_a_malformed_client_id_is_replaced_never_echoed(client, sent):
    answered = client.get("/health/live", HTTP_X_REQUEST_ID=sent)["X-Request-ID"]

    assert GENERATED.fullmatch(answered) and answered != sent


def test_pages_and_error_pages_carry_the_id(client, failing_client, monkeypatch):
    monkeypatch.setattr("predictions.views.risk_counts_for_user", boom)
    client.force_login(_teacher())
    failing_client.force_login(_teacher(username="teacher2"))

    responses = [client.get("/no-such-page/"), client.get("/monitoring/accuracy/"), failing_client.get("/")]

    assert [response.status_code for response in responses] == [404, 403, 500]
    assert all(GENERATED.fullmatch(response["X-Request-ID"]) for response in responses)


def test_a_static_file_carries_the_id_whitenoise_serving_it_after_the_middleware(settings, tmp_path, log_lines):
    settings.STATIC_ROOT = tmp_path / "static"
    call_command("collectstatic", interactive=False, verbosity=0)

    response = Client().get("/static/css/studentperf.css?v=2", HTTP_X_REQUEST_ID="req-static-1")  # a new client
    # builds the middleware afresh, whitenoise finding the files

    assert response.status_code == 200 and response["X-Request-ID"] == "req-static-1"
    access = log_lines.one("studentperf.access")
    assert (access["endpoint"], access["path"], access["request_id"]) == (
        "static", "/static/css/studentperf.css", "req-static-1"
    )


def _teacher(username="teacher"):
    from predictions.access.roles import user_create

    return user_create(username=username, password="a-long-test-password", role="teacher")


def test_api_error_bodies_carry_the_id(api_client, make_api_key, record, monkeypatch):
    client = api_client("predict")
    bad_key = APIClient()
    bad_key.credentials(HTTP_AUTHORIZATION="Api-Key not-a-key")
    failing = APIClient(raise_request_exception=False)
    failing.credentials(HTTP_AUTHORIZATION=f"Api-Key {make_api_key(name='other')[1]}")

    responses = {
        400: client.post(PREDICT, dict(record, age=99), format="json", HTTP_X_REQUEST_ID="req-400-abc"),
        401: bad_key.post(PREDICT, record, format="json", HTTP_X_REQUEST_ID="req-401-abc"),
        404: client.get("/api/v1/no-such-endpoint", HTTP_X_REQUEST_ID="req-404-abc"),
    }
    monkeypatch.setattr("predictions.api.views.prediction_create", boom)
    responses[500] = failing.post(PREDICT, record, format="json", HTTP_X_REQUEST_ID="req-500-abc")

    for status, response in responses.items():
        assert response.status_code == status, response.content
        assert response.json()["request_id"] == response["X-Request-ID"] == f"req-{status}-abc"


def test_the_500_page_gives_the_id_to_quote(failing_client, monkeypatch):
    monkeypatch.setattr("predictions.views.risk_counts_for_user", boom)
    failing_client.force_login(_teacher())

    response = failing_client.get("/", HTTP_X_REQUEST_ID="req-page-500")

    assert response.status_code == 500 and "text/html" in response["Content-Type"]
    assert 'Reference: <code class="request-id">req-page-500</code>' in response.content.decode()


def test_the_403_page_gives_the_id_to_quote(client):
    client.force_login(_teacher())

    response = client.get("/monitoring/accuracy/", HTTP_X_REQUEST_ID="req-page-403")

    assert response.status_code == 403
    assert 'Reference: <code class="request-id">req-page-403</code>' in response.content.decode()


def test_the_audit_row_records_the_id(api_client, active_version, record):
    response = api_client("predict").post(
        PREDICT, {"instances": [record, record]}, format="json", HTTP_X_REQUEST_ID="req-audit-1234"
    )

    assert response.status_code == 200, response.content
    assert list(Prediction.objects.values_list("request_id", flat=True)) == ["req-audit-1234"] * 2


def test_every_log_line_of_a_request_carries_its_id_and_none_after(api_client, record, log_lines):
    client = api_client("predict")

    client.post(PREDICT, dict(record, age=99), format="json", HTTP_X_REQUEST_ID="req-lines-1234")
    client.get("/api/v1/nowhere", HTTP_X_REQUEST_ID="req-lines-5678")

    lines = log_lines.all()
    assert {line["name"] for line in lines} >= {"studentperf.access", "studentperf.errors", "django.request"}
    assert [line["request_id"] for line in lines] == ["req-lines-1234"] * 3 + ["req-lines-5678"] * 2
    assert request_id_get() == ""


def test_a_task_queued_while_an_id_is_bound_takes_it_along_in_a_header(monkeypatch):
    sent: list[dict] = []

    def record_headers(headers=None, **kwargs):
        sent.append(dict(headers))

    signals.before_task_publish.connect(record_headers, weak=False)
    try:
        request_id_bind("req-publish-1234")
        worker_check.delay()  # to the in-memory broker of the test settings
        request_id_clear()
        worker_check.delay()
    finally:
        signals.before_task_publish.disconnect(record_headers)

    assert [headers.get("request_id") for headers in sent] == ["req-publish-1234", None]


class FakeTask:
    """What the task_prerun/task_postrun handlers read of a task: its request, as a worker builds it."""

    def __init__(self, **headers):
        self.request = SimpleNamespace(headers=None, **headers)


def test_a_task_runs_with_the_id_of_its_request_and_forgets_it_after(log_lines):
    task, beat_task = FakeTask(request_id="req-task-1234"), FakeTask()

    signals.task_prerun.send(sender=task, task_id="t-1", task=task, args=(), kwargs={})
    during = request_id_get()
    logging.getLogger("predictions.batches.services").info("batch job started")
    signals.task_postrun.send(sender=task, task_id="t-1", task=task, args=(), kwargs={}, retval=None, state="SUCCESS")
    after = request_id_get()
    signals.task_prerun.send(sender=beat_task, task_id="t-2", task=beat_task, args=(), kwargs={})
    beat = request_id_get()
    signals.task_postrun.send(sender=beat_task, task_id="t-2", task=beat_task, args=(), kwargs={})

    assert (during, after, beat) == ("req-task-1234", "", "")
    assert log_lines.one("predictions.batches.services")["request_id"] == "req-task-1234"


def test_an_eager_task_reads_the_id_from_its_headers():
    seen = []

    def note(**kwargs):
        seen.append(request_id_get())

    # Connected after ours: before the task the id is bound, after it unbound again.
    signals.task_prerun.connect(note, weak=False)
    signals.task_postrun.connect(note, weak=False)
    try:
        worker_check.apply(headers={"request_id": "req-eager-1234"})
    finally:
        signals.task_prerun.disconnect(note)
        signals.task_postrun.disconnect(note)

    assert seen == ["req-eager-1234", ""]
