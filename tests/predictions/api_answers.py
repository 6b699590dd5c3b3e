"""Reading the API's answers in tests."""
from __future__ import annotations


def refused(response, status: int = 400, kind: str | None = None) -> dict:
    """The `fields` of an error answer, after checking its status and the error shape."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error", "message", "fields", "request_id"} and body["message"]
    if kind is not None:
        assert body["error"] == kind
    return body["fields"]


def signed_in(person):
    """An API client logged in as `person` with a session (second factor passed, for those who need one)."""
    from rest_framework.test import APIClient

    from tests.conftest import sign_in

    return sign_in(APIClient(), person)
