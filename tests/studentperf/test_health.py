"""Liveness and readiness: no key needed; ready only with a database and a loadable active model. The broker is
reported, not required (tests/integration/test_worker.py checks it against a real Redis)."""
from __future__ import annotations

import pytest
from django.db import OperationalError


def test_live_answers_ok(client):
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_live_refuses_other_methods(client):
    assert client.post("/health/live").status_code == 405


@pytest.mark.django_db
def test_ready_is_503_without_an_active_model(client):
    response = client.get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "unavailable"
    assert "model" in body["fields"]
    assert "No model version is active" in body["message"]


def test_ready_is_200_with_the_active_model(client, active_version):
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok", "database": "ok", "model_version": active_version.version, "broker": "ok",
        "engines": {"A": "onnxruntime", "B": "onnxruntime", "C": "onnxruntime"},
    }


def test_ready_reports_the_broker_down_but_stays_ready(client, active_version, monkeypatch):
    """Without Redis only batch uploads stop; single predictions, the API and the site keep working."""
    asked = []
    monkeypatch.setattr("studentperf.health.broker_ping", lambda timeout: asked.append(timeout) or False)

    response = client.get("/health/ready")

    assert response.status_code == 200
    assert response.json()["broker"] == "unavailable"
    assert asked == [0.5]  # probed often: half a second at most


def test_ready_is_503_when_the_database_does_not_answer(client, active_version, monkeypatch):
    class DownDatabase:
        def cursor(self):
            raise OperationalError("connection refused")

    monkeypatch.setattr("studentperf.readiness.connection", DownDatabase())
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert "database" in response.json()["fields"]


def test_ready_is_503_when_the_active_package_is_refused(client, active_version, settings):
    from modelstore import loader

    loader._loaded = None  # this process must load the package again
    (settings.MODEL_STORE_DIR / active_version.artifact_file).write_bytes(b"tampered")
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert "cannot be loaded" in response.json()["fields"]["model"][0]


def queue_depth_check() -> dict:
    return {"queue_depth": 3}


def mail_check() -> dict:
    from studentperf.errors import ApplicationError

    raise ApplicationError("The mail relay does not answer.", kind="unavailable",
                           fields={"mail": ["The mail relay does not answer."]})


@pytest.mark.django_db
def test_readiness_runs_each_check_named_in_the_settings(client, settings):
    """The ground floor knows no app: what readiness asks beyond the database is settings.READINESS_CHECKS."""
    settings.READINESS_CHECKS = [f"{__name__}.queue_depth_check"]  # no model check: ready without a model
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["queue_depth"] == 3 and "model_version" not in response.json()

    settings.READINESS_CHECKS = [f"{__name__}.queue_depth_check", f"{__name__}.mail_check"]
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["fields"] == {"mail": ["The mail relay does not answer."]}
