"""Every API error is JSON `{"error", "message", "fields"}` with the right status; nothing a client sends is a 500."""
from __future__ import annotations

import socket

import pytest
from django.test import RequestFactory
from rest_framework.test import APIClient

from studentperf.api.exceptions import handler500

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.studentperf.api_urls")]
ECHO = "/api/v1/test/echo"


def error_of(response, status: int, kind: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "message", "fields", "request_id"} and body["error"] == kind
    assert body["request_id"] == response["X-Request-ID"]
    assert body["message"].endswith(".")
    return body


@pytest.mark.parametrize(
    "kind, status", [("invalid", 400), ("not_found", 404), ("conflict", 409), ("unavailable", 503), ("odd", 400)]
)
def test_application_error_kind_sets_the_status(api_client, kind, status):
    response = api_client().get(ECHO, {"fail": kind})
    body = error_of(response, status, kind)
    assert body == {
        "error": kind, "message": f"Failed as {kind}.", "fields": {"thing": ["is wrong"]},
        "request_id": response["X-Request-ID"],
    }


def test_validation_errors_name_each_field_flat(api_client):
    response = api_client().post(ECHO, {"items": [{"age": 16}, {"age": 99}, {}]}, format="json")
    body = error_of(response, 400, "invalid")
    assert set(body["fields"]) == {"name", "items.1.age", "items.2.age"}
    assert body["fields"]["items.1.age"] == ["Ensure this value is less than or equal to 22."]
    assert "name" in body["message"] and "items.1.age" in body["message"]


def test_non_field_error_becomes_the_message(api_client):
    body = error_of(api_client().post(ECHO, {"name": "forbidden"}, format="json"), 400, "invalid")
    assert body["message"] == "This name is not allowed."
    assert body["fields"] == {}


@pytest.mark.parametrize("payload", [b'{"name": ', b"[1, 2", b"\xff\xfe", b"NaN"])
def test_malformed_json_is_400(api_client, payload):
    response = api_client().post(ECHO, payload, content_type="application/json")
    error_of(response, 400, "parse_error")


@pytest.mark.parametrize("payload", [
    b"[" * 10_000 + b"]" * 10_000,  # the attack: deeper than the parser's recursion
    b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    b'{"name": "x", "items": ' + b"[" * 40 + b"]" * 40 + b"}",  # parses, but deeper than MAX_DEPTH
])
def test_deeply_nested_json_is_a_400_parse_error_not_a_500(api_client, payload, caplog):
    response = api_client().post(ECHO, payload, content_type="application/json")

    body = error_of(response, 400, "parse_error")
    assert "more than 32 levels deep" in body["message"]
    assert "Traceback" not in caplog.text and "RecursionError" not in caplog.text


def test_json_as_deep_as_allowed_still_parses():
    from studentperf.api.parsers import MAX_DEPTH, json_depth_exceeds

    nested = [[]]
    for _ in range(MAX_DEPTH - 2):
        nested = [nested]
    assert not json_depth_exceeds(nested, MAX_DEPTH) and json_depth_exceeds([nested], MAX_DEPTH)
    assert not json_depth_exceeds({"instances": [{"age": 16}]}, 3) and json_depth_exceeds({"a": {"b": [{}]}}, 3)


def test_empty_body_is_400_naming_the_missing_field(api_client):
    body = error_of(api_client().post(ECHO, b"", content_type="application/json"), 400, "invalid")
    assert "name" in body["fields"]


def test_non_object_body_is_400(api_client):
    body = error_of(api_client().post(ECHO, [1, 2], format="json"), 400, "invalid")
    assert "expected a dictionary" in body["message"].lower()


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_other_content_types_are_415(api_client, content_type):
    response = api_client().post(ECHO, b"name=x", content_type=content_type)
    body = error_of(response, 415, "unsupported_media_type")
    assert content_type in body["message"]


def test_unsupported_method_is_405(api_client):
    response = api_client().delete(ECHO)
    error_of(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"] and "POST" in response["Allow"]


def test_body_over_the_limit_is_413(api_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    client = api_client()
    assert client.post(ECHO, {"name": "x" * 50}, format="json").status_code == 200
    error_of(client.post(ECHO, {"name": "x" * 200}, format="json"), 413, "too_large")


@pytest.mark.parametrize("method", ["get", "post", "delete"])
@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/models/", "/api/v2/predict", "/api/"])
def test_unknown_api_urls_are_json_404(path, method):
    client = APIClient(enforce_csrf_checks=True)
    body = error_of(getattr(client, method)(path), 404, "not_found")
    assert path in body["message"]


def test_pages_outside_the_api_keep_html_404(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "application/json" not in response["Content-Type"]


def test_server_error_is_json_under_api_and_html_elsewhere():
    factory = RequestFactory()
    response = handler500(factory.get("/api/v1/predict"))
    assert response.status_code == 500 and response["Content-Type"] == "application/json"
    assert b'"server_error"' in response.content
    page = handler500(factory.get("/"))
    assert page.status_code == 500 and "text/html" in page["Content-Type"]


class TestThrottling:
    @pytest.fixture(autouse=True)
    def tiny_rates(self, settings):
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_key": "2/min", "user": "1/min"}}

    def test_a_key_over_its_rate_gets_429_with_retry_after(self, api_client):
        client = api_client()
        assert [client.get(ECHO).status_code for _ in range(2)] == [200, 200]
        response = client.get(ECHO)
        error_of(response, 429, "throttled")
        assert 1 <= int(response["Retry-After"]) <= 60

    def test_each_key_has_its_own_budget(self, api_client):
        first, second = api_client(), api_client()
        for _ in range(2):
            first.get(ECHO)
        assert first.get(ECHO).status_code == 429
        assert second.get(ECHO).status_code == 200

    def test_without_an_answer_from_redis_each_process_counts_alone(self, api_client, settings, monkeypatch, caplog):
        from django.core.cache.backends.locmem import LocMemCache

        from studentperf import ratelimit

        with socket.socket() as unused:  # a port nothing listens on: connections are refused at once
            unused.bind(("127.0.0.1", 0))
            port = unused.getsockname()[1]
        settings.CACHES = {"default": {
            "BACKEND": "studentperf.cache.RedisCache", "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }}
        monkeypatch.setattr(ratelimit, "_shared_cache_down_until", 0.0)
        monkeypatch.setattr(ratelimit, "_local_counts", LocMemCache("test-fallback", {}))
        client = api_client()

        assert [client.get(ECHO).status_code for _ in range(2)] == [200, 200]
        error_of(client.get(ECHO), 429, "throttled")
        refusals = [r for r in caplog.records if r.getMessage().startswith("rate limits counted per process")]
        assert len(refusals) == 1  # Redis is tried again after SHARED_CACHE_RETRY_SECONDS, not on every request

    def test_a_session_user_over_the_user_rate_gets_429(self, user):
        client = APIClient()
        client.force_login(user)
        assert client.get(ECHO).status_code == 200
        response = client.get(ECHO)
        error_of(response, 429, "throttled")
        assert int(response["Retry-After"]) >= 1
