"""Request bodies sent chunked, without a Content-Length (issue 18, attack 5; studentperf/chunked.py).

In this process, through the whole middleware stack: the WSGI environ is what gunicorn gives for a chunked body
(no CONTENT_LENGTH, `Transfer-Encoding: chunked`, `wsgi.input_terminated`), or what runserver gives (not
terminated). tests/integration/test_chunked_gunicorn.py sends real chunked requests to a real gunicorn.
"""
from __future__ import annotations

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

from predictions.models import BatchJob, Prediction
from tests.predictions.batches.support import broker, csv_text  # noqa: F401  (broker: a fixture)

pytestmark = pytest.mark.django_db
PREDICT = "/api/v1/predict"


def chunked(body: bytes, *, terminated: bool = True) -> dict:
    """The environ of a chunked request as a WSGI server gives it: the body in wsgi.input, no length."""
    return {
        "CONTENT_LENGTH": "", "HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": terminated,
    }


def post_chunked(client, path: str, body: bytes, content_type: str, *, terminated: bool = True):
    return client.generic("POST", path, body, content_type, **chunked(body, terminated=terminated))


def test_a_chunked_record_gets_its_prediction(api_client, active_version, record):
    """The attack: the record was read as empty and answered "every field is required"."""
    response = post_chunked(api_client("predict"), PREDICT, json.dumps(record).encode(), "application/json")

    assert response.status_code == 200, response.content
    assert response.json()["model_version"] == active_version.version
    assert Prediction.objects.count() == 1


def test_a_chunked_body_over_api_max_body_bytes_is_answered_413_json(api_client, active_version, record, settings):
    body = json.dumps(record).encode()
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = len(body) - 1

    response = post_chunked(api_client("predict"), PREDICT, body, "application/json")

    assert response.status_code == 413
    assert response.json() | {"request_id": None} == {
        "error": "too_large", "message": f"The request body is larger than the {len(body) - 1:,} bytes this server "
        "accepts.", "fields": {}, "request_id": None,
    }
    assert response.json()["request_id"] == response["X-Request-ID"]
    assert Prediction.objects.count() == 0


def test_a_chunked_body_of_exactly_the_limit_is_read(api_client, active_version, record, settings):
    body = json.dumps(record).encode()
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = len(body)

    assert post_chunked(api_client("predict"), PREDICT, body, "application/json").status_code == 200


def test_without_a_terminated_stream_a_chunked_body_is_answered_411_json(api_client, active_version, record):
    """runserver cannot say where a chunked body ends: ask for a Content-Length rather than read nothing."""
    body = json.dumps(record).encode()

    response = post_chunked(api_client("predict"), PREDICT, body, "application/json", terminated=False)

    assert response.status_code == 411
    answer = response.json()
    assert answer["error"] == "length_required" and answer["message"].startswith("Send a Content-Length header")
    assert answer["fields"] == {} and answer["request_id"] == response["X-Request-ID"]
    assert Prediction.objects.count() == 0


def test_outside_the_api_the_411_is_plain_text(client, user):
    client.force_login(user)

    response = post_chunked(client, "/batches/new/", b"file=x", "application/x-www-form-urlencoded", terminated=False)

    assert response.status_code == 411 and response["Content-Type"].startswith("text/plain")
    assert "Send a Content-Length header" in response.content.decode()


def test_a_request_with_a_content_length_is_left_alone(api_client, active_version, record):
    body = json.dumps(record).encode()
    client = api_client("predict")

    response = client.generic("POST", PREDICT, body, "application/json", HTTP_TRANSFER_ENCODING="chunked",
                              **{"wsgi.input_terminated": False})

    assert response.status_code == 200, response.content


def multipart_file(data: bytes) -> bytes:
    return encode_multipart(BOUNDARY, {"file": SimpleUploadedFile("class.csv", data, content_type="text/csv")})


def test_a_chunked_batch_upload_through_the_api_is_queued(api_client, broker, record, settings):
    data = csv_text([record, dict(record, age="99")]).encode()
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100  # JSON's limit: a multipart upload is bound by the upload limits

    response = post_chunked(api_client("predict"), "/api/v1/batches", multipart_file(data), MULTIPART_CONTENT)

    assert response.status_code == 202, response.content
    assert BatchJob.objects.get().rows_total == 2


def test_a_chunked_batch_upload_over_batch_max_bytes_is_refused_by_the_endpoint(api_client, broker, record, settings):
    data = csv_text([record] * 200).encode()
    settings.BATCH_MAX_BYTES = 1000

    response = post_chunked(api_client("predict"), "/api/v1/batches", multipart_file(data), MULTIPART_CONTENT)

    assert response.status_code == 413 and response.json()["fields"]["file"]
    assert not BatchJob.objects.exists()


def test_a_chunked_upload_over_every_upload_limit_is_answered_413(api_client, broker, record, settings):
    body = multipart_file(csv_text([record] * 200).encode())
    settings.CHUNKED_UPLOAD_MAX_BYTES = len(body) - 1

    response = post_chunked(api_client("predict"), "/api/v1/batches", body, MULTIPART_CONTENT)

    assert response.status_code == 413 and response.json()["error"] == "too_large"
    assert not BatchJob.objects.exists()


def test_a_chunked_batch_upload_through_the_web_form_is_queued(client, user, broker, record):
    client.force_login(user)
    data = csv_text([record]).encode()

    response = post_chunked(client, "/batches/new/", multipart_file(data), MULTIPART_CONTENT)

    assert response.status_code == 302, response.content
    assert BatchJob.objects.get().rows_total == 1
