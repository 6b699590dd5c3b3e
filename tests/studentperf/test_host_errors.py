"""Issue 18, attack 11: a request with a Host outside ALLOWED_HOSTS is refused before any view; under /api/ the
refusal is the JSON error contract, elsewhere Django's page."""
from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def strict_hosts(settings):
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["studentperf.school.example"]


@pytest.mark.parametrize("path", ["/api/v1/predict", "/api/v1/students", "/api/v1/no-such-endpoint"])
def test_a_wrong_host_on_the_api_answers_json(strict_hosts, path):
    response = Client().get(path, HTTP_HOST="attacker.example")

    assert response.status_code == 400 and response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "message", "fields", "request_id"} and body["error"] == "bad_request"
    assert "attacker.example" not in response.content.decode()  # the client's Host is never echoed


def test_a_wrong_host_on_a_page_answers_the_html_page(strict_hosts):
    response = Client().get("/accounts/login/", HTTP_HOST="attacker.example")

    assert response.status_code == 400 and response["Content-Type"].startswith("text/html")


def test_the_right_host_is_served(strict_hosts):
    response = Client().get("/api/v1/predict", HTTP_HOST="studentperf.school.example")

    assert response.status_code in (401, 403) and response["Content-Type"] == "application/json"
