"""OAuth2 client credentials end to end over real HTTP, with plain `requests` exactly as docs/api.md shows it."""
from __future__ import annotations

import pytest
import requests

from predictions.access.oauth_clients import oauth_client_create

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_documented_client_credentials_example_works(live_server, active_version, record):
    client, secret = oauth_client_create(name="school information system", scopes=["predict", "read"])
    base, client_id, client_secret = live_server.url, client.client_id, secret

    # -- as in docs/api.md, "OAuth2 client credentials" --
    token = requests.post(
        f"{base}/oauth/token/",
        data={"grant_type": "client_credentials", "scope": "predict read"},
        auth=(client_id, client_secret),  # HTTP Basic, as RFC 6749 prefers
        timeout=10,
    )
    token.raise_for_status()
    access_token = token.json()["access_token"]
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {access_token}"
    prediction = session.post(f"{base}/api/v1/predict", json=record, timeout=10)
    # -- end of the example --

    assert prediction.status_code == 200, prediction.text
    assert 0 <= prediction.json()["predicted_grade"] <= 20
    assert session.get(f"{base}/api/v1/students", timeout=10).status_code == 200
    refused = session.post(f"{base}/api/v1/students", json={"external_id": "X", **record}, timeout=10)
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    assert requests.post(
        f"{base}/oauth/revoke_token/", data={"token": access_token}, auth=(client_id, client_secret), timeout=10
    ).status_code == 200
    gone = session.get(f"{base}/api/v1/students", timeout=10)
    assert gone.status_code == 401 and "revoked" in gone.json()["message"]
