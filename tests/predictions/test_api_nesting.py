"""Issue 18, attack 1: 10,000 nested arrays or objects sent to the endpoints that take a JSON body answer
400 `parse_error`, never a 500 with tracebacks in the log."""
from __future__ import annotations

import pytest

from predictions.services import student_create

from .api_answers import refused

pytestmark = pytest.mark.django_db
DEEP_ARRAYS = b"[" * 10_000 + b"]" * 10_000
DEEP_OBJECTS = b'{"a":' * 10_000 + b"1" + b"}" * 10_000


@pytest.fixture
def student(record):
    return student_create(data={"external_id": "s-1", **record}, teacher=None)


@pytest.mark.parametrize("body", [DEEP_ARRAYS, DEEP_OBJECTS], ids=["arrays", "objects"])
@pytest.mark.parametrize(("method", "path", "scope"), [
    ("post", "/api/v1/predict", "predict"),
    ("post", "/api/v1/students", "write"),
    ("patch", "/api/v1/students/{id}", "write"),
    ("post", "/api/v1/outcomes", "write"),
    ("post", "/api/v1/students/{id}/what-if", "predict read"),  # a stored record's answer needs `read` too
])
def test_a_deeply_nested_body_is_a_parse_error(api_client, student, active_version, caplog, body, method, path, scope):
    client = api_client(*scope.split())

    response = getattr(client, method)(path.format(id=student.pk), body, content_type="application/json")

    refused(response, 400, kind="parse_error")
    assert "RecursionError" not in caplog.text and "Traceback" not in caplog.text
