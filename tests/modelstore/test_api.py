"""GET /api/v1/models and /api/v1/models/active: read-only model versions for keys with the read scope."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from modelstore.schema import FEATURES, SETUP_FEATURES

pytestmark = pytest.mark.django_db


def test_models_lists_versions_newest_first(api_client, register, active_version):
    newer = register(name="newer")
    response = api_client("read").get("/api/v1/models")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2 and body["next"] is None
    assert [row["version"] for row in body["results"]] == [newer.version, active_version.version]
    first = body["results"][1]
    assert set(first) == {"version", "name", "status", "setups", "created_at", "metrics", "artifact_sha256"}
    assert first["status"] == "active" and first["setups"] == ["A", "B", "C"]
    assert first["artifact_sha256"] == active_version.artifact_sha256
    assert "reference" in first["metrics"]


def test_models_pages_and_caps_the_page_size(api_client, register):
    for _ in range(3):
        register()
    client = api_client("read")
    page = client.get("/api/v1/models", {"page_size": 2}).json()
    assert [row["version"] for row in page["results"]] == [3, 2]
    assert "page=2" in page["next"]
    assert [row["version"] for row in client.get("/api/v1/models", {"page_size": 2, "page": 2}).json()["results"]] == [1]
    assert len(client.get("/api/v1/models", {"page_size": 100000}).json()["results"]) == 3
    missing = client.get("/api/v1/models", {"page": 9})
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_active_model_has_setups_feature_schema_and_metrics(api_client, active_version):
    response = api_client("read").get("/api/v1/models/active")
    assert response.status_code == 200
    body = response.json()
    assert body["version"] == active_version.version and body["name"] == "test-default"
    assert body["setups"] == ["A", "B", "C"]
    schema_a = {feature["name"]: feature for feature in body["feature_schema"]["A"]}
    assert list(schema_a) == list(SETUP_FEATURES["A"])
    assert schema_a["Mjob"]["allowed"] == list(FEATURES["Mjob"].choices)
    assert (schema_a["age"]["min"], schema_a["age"]["max"]) == (15, 22)
    assert "reference" in body["metrics"]


def test_active_model_is_503_when_none_is_active(api_client, register):
    register()
    response = api_client("read").get("/api/v1/models/active")
    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "unavailable" and "No model version is active" in body["message"]


@pytest.mark.parametrize("path", ["/api/v1/models", "/api/v1/models/active"])
def test_models_need_the_read_scope(api_client, active_version, path):
    assert api_client("predict").get(path).status_code == 403
    assert APIClient().get(path).status_code == 401


def test_models_cannot_be_uploaded_or_activated(api_client, active_version):
    client = api_client()
    assert client.post("/api/v1/models", {}, format="json").status_code == 405
    assert client.post("/api/v1/models/active", {"version": 1}, format="json").status_code == 405


def test_a_logged_in_user_reads_models(user, active_version):
    client = APIClient()
    client.force_login(user)
    assert client.get("/api/v1/models/active").json()["version"] == active_version.version
