"""Who may call the API: API keys (scopes, expiry, revocation) and logged-in users (CSRF enforced)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient, APIRequestFactory

from predictions.access.authentication import ApiKeyAuthentication

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.studentperf.api_urls")]
ECHO = "/api/v1/test/echo"


def client_with(authorization: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=authorization)
    return client


def assert_error(response, status: int, kind: str, *, message_has: str = "") -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "message", "fields", "request_id"}
    assert body["error"] == kind
    assert message_has.lower() in body["message"].lower()
    return body


def test_valid_key_with_scope_is_served(api_client):
    client = api_client("write")
    response = client.get(ECHO)
    assert response.status_code == 200
    assert response.json()["key"] == client.api_key.prefix


def test_missing_key_is_401_with_api_key_challenge():
    response = APIClient().get(ECHO)
    assert_error(response, 401, "unauthenticated")
    assert response["WWW-Authenticate"] == "Api-Key"


@pytest.mark.parametrize(
    "authorization, message",
    [
        ("Api-Key", "malformed"),
        ("Api-Key not-a-key", "malformed"),
        ("Api-Key abcdefgh.short", "malformed"),
        ("Basic dXNlcjpwYXNzd29yZA==", "'Authorization: Api-Key <key>' or an OAuth2 token as 'Authorization: Bearer"),
        ("Bearer abcdefgh.0123456789abcdef0123456789abcdef", "access token is unknown"),
    ],
)
def test_malformed_authorization_is_401(authorization, message):
    assert_error(client_with(authorization).get(ECHO), 401, "unauthenticated", message_has=message)


def test_unknown_key_is_401(make_api_key):
    make_api_key()
    response = client_with("Api-Key abcdefgh.0123456789abcdef0123456789abcdef").get(ECHO)
    assert_error(response, 401, "unauthenticated", message_has="unknown")


def test_known_prefix_with_wrong_secret_is_401(make_api_key):
    api_key, key = make_api_key()
    forged = f"{api_key.prefix}.{'x' * 32}"
    assert forged != key
    assert_error(client_with(f"Api-Key {forged}").get(ECHO), 401, "unauthenticated", message_has="unknown")


def test_expired_key_is_401(make_api_key):
    _, key = make_api_key(expiry_date=timezone.now() - timedelta(minutes=1))
    assert_error(client_with(f"Api-Key {key}").get(ECHO), 401, "unauthenticated", message_has="expired")


def test_key_not_yet_expired_is_served(make_api_key):
    _, key = make_api_key(expiry_date=timezone.now() + timedelta(days=1))
    assert client_with(f"Api-Key {key}").get(ECHO).status_code == 200


def test_revoked_key_is_401(make_api_key):
    api_key, key = make_api_key()
    client = client_with(f"Api-Key {key}")
    assert client.get(ECHO).status_code == 200
    api_key.revoked = True
    api_key.save()
    assert_error(client.get(ECHO), 401, "unauthenticated", message_has="revoked")


def test_key_without_the_scope_is_403_naming_it(api_client):
    body = assert_error(api_client("predict", "read").get(ECHO), 403, "forbidden", message_has="'write'")
    assert body["fields"] == {}


def test_key_needs_no_csrf_token(api_client):
    response = api_client("write").post(ECHO, {"name": "x"}, format="json")
    assert response.status_code == 200
    assert response.json() == {"name": "x"}


def test_checking_a_key_costs_one_query(make_api_key, django_assert_num_queries):
    _, key = make_api_key()
    request = APIRequestFactory().get(ECHO, HTTP_AUTHORIZATION=f"Api-Key {key}")
    with django_assert_num_queries(1):
        user, api_key = ApiKeyAuthentication().authenticate(request)
    assert not user.is_authenticated
    assert api_key.name == "test system"


def test_logged_in_user_is_served_with_the_session(user):
    client = APIClient()
    client.force_login(user)
    response = client.get(ECHO)
    assert response.status_code == 200
    assert response.json() == {"user": "teacher", "key": None}


def test_session_post_without_csrf_token_is_refused(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(ECHO, {"name": "x"}, content_type="application/json")
    assert_error(response, 403, "forbidden", message_has="csrf")


def test_session_post_with_csrf_token_is_served(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/accounts/login/")  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    response = client.post(ECHO, {"name": "x"}, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200
    assert response.json() == {"name": "x"}
