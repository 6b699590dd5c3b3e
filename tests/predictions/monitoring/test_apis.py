"""GET /api/v1/monitoring/accuracy: who may read it, and what it answers."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from modelstore import services as model_services
from predictions.monitoring.services import accuracy_check_run

from tests.conftest import sign_in
from tests.predictions.monitoring.accuracy_helpers import (
    agreeing_grades,
    graded_students,
    opposite_grades,
    unusual_students,
)

pytestmark = pytest.mark.django_db
URL = "/api/v1/monitoring/accuracy"


def session(user) -> APIClient:
    client = APIClient()
    sign_in(client, user)
    return client


@pytest.fixture
def checked(active_version, dataset, user):
    """Two runs over 30 pairs whose grades contradict the predictions: two checks and an accuracy alert."""
    graded_students(dataset, teacher=user, n=30, grades_for=opposite_grades, seed=21)
    accuracy_check_run()
    return accuracy_check_run()


def test_a_model_admin_session_reads_the_latest_check_and_the_history(checked, model_admin, active_version):
    response = session(model_admin).get(URL)

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["count"] == 2 and body["next"] is None
    [latest] = body["latest"]
    assert latest["id"] == checked[0].pk == body["results"][0]["id"]
    assert latest["model_version"] == active_version.version
    assert latest["pairs"] == 30 and latest["metrics"]["accuracy"] == 0 and latest["metrics"]["pairs"] == 30
    assert set(latest["subgroups"]) == {"sex", "school", "address"}
    assert latest["drift"]["status"] == "ok" and latest["drift"]["samples"] == 30
    assert "accuracy" in {alert["kind"] for alert in latest["alerts"]}
    assert "student" not in str(latest["alerts"]).lower()


def test_the_check_gives_its_brier_score_and_reliability_table(active_version, dataset, user, api_client):
    predictions = graded_students(dataset, teacher=user, n=40, grades_for=opposite_grades, seed=22)
    accuracy_check_run()

    metrics = api_client("read").get(URL).json()["latest"][0]["metrics"]

    chances = [prediction.pass_probability for prediction in predictions]
    passed = [grade >= 10 for grade in opposite_grades(predictions)]
    assert metrics["brier"] == pytest.approx(sum((c - p) ** 2 for c, p in zip(chances, passed)) / len(chances))
    bands = {}
    for chance, did_pass in zip(chances, passed):
        bands.setdefault(min(int(chance * 10), 9), []).append((chance, did_pass))
    assert metrics["reliability"] == [
        {"low": band / 10, "high": (band + 1) / 10,
         "mean_pass_probability": pytest.approx(sum(c for c, _ in members) / len(members)),
         "pass_rate": pytest.approx(sum(p for _, p in members) / len(members)), "pairs": len(members)}
        for band, members in sorted(bands.items())
    ]


def test_a_check_made_before_calibration_was_measured_has_no_brier_and_no_bands(checked, api_client):
    for check in checked:  # as stored before the Brier score and the reliability table were measured
        del check.metrics["brier"], check.metrics["reliability"]
        for groups in check.subgroups.values():
            for metrics in groups.values():
                del metrics["brier"]
        check.save()

    [check] = api_client("read").get(URL).json()["latest"]

    assert check["metrics"]["brier"] is None and check["metrics"]["reliability"] == []
    assert all(metrics["brier"] is None for groups in check["subgroups"].values() for metrics in groups.values())


def test_the_check_gives_the_figures_of_unusual_records_apart(active_version, dataset, user, odd_record, api_client):
    typical = graded_students(dataset, teacher=user, n=20, grades_for=agreeing_grades, seed=23)
    odd = unusual_students(odd_record, [4, 12, 11, 6], teacher=user)
    [check] = accuracy_check_run()

    unusual = api_client("read").get(URL).json()["latest"][0]["metrics"]["unusual"]

    assert unusual == check.metrics["unusual"]
    flagged = [prediction for prediction in typical + odd if prediction.unusual]
    assert unusual["flagged"]["pairs"] == len(flagged) >= 4
    assert unusual["flagged"]["pairs"] + unusual["unflagged"]["pairs"] == 24
    assert unusual["unknown"] == {"pairs": 0, "accuracy": None, "mae": None, "interval_coverage": None}
    assert 0 <= unusual["flagged"]["accuracy"] <= 1 and unusual["flagged"]["mae"] > 0


def test_a_check_made_before_unusual_records_were_measured_has_them_null(checked, api_client):
    for check in checked:
        del check.metrics["unusual"]
        check.save()

    [check] = api_client("read").get(URL).json()["latest"]

    assert check["metrics"]["unusual"] is None and check["metrics"]["accuracy"] == 0


def test_a_teacher_session_is_refused(checked, user):
    response = session(user).get(URL)

    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


def test_a_superuser_session_reads_it(checked, superuser):
    assert session(superuser).get(URL).status_code == 200


def test_an_api_key_with_the_read_scope_reads_it(checked, api_client):
    response = api_client("read").get(URL)

    assert response.status_code == 200
    assert len(response.json()["latest"]) == 1


def test_an_api_key_without_the_read_scope_is_refused(checked, api_client):
    response = api_client("predict", "write").get(URL)

    assert response.status_code == 403
    assert "'read' scope" in response.json()["message"]


def test_anonymous_is_unauthenticated(checked):
    assert APIClient().get(URL).status_code == 401


def test_version_filters_latest_and_history(checked, active_version, small_pipelines, api_client):
    newer = model_services.model_version_activate(
        version=model_services.model_version_register(pipelines=small_pipelines, name="newer"), user=None
    )
    accuracy_check_run()  # checks both: the old one has pairs, the new one is active
    client = api_client("read")

    everything = client.get(URL).json()
    assert [check["model_version"] for check in everything["latest"]] == [newer.version, active_version.version]
    assert everything["count"] == 4

    old_only = client.get(URL, {"version": active_version.version}).json()
    assert [check["model_version"] for check in old_only["latest"]] == [active_version.version]
    assert old_only["count"] == 3 and {check["model_version"] for check in old_only["results"]} == {active_version.version}

    assert client.get(URL, {"version": 999}).status_code == 404
    assert client.get(URL, {"version": "x"}).json()["fields"] == {"version": ["A valid integer is required."]}


def test_history_is_paginated(checked, api_client):
    body = api_client("read").get(URL, {"page_size": 1}).json()

    assert body["count"] == 2 and len(body["results"]) == 1 and body["next"].endswith("page=2&page_size=1")
    assert len(body["latest"]) == 1


def test_no_checks_yet_answers_empty_lists(db, api_client):
    assert api_client("read").get(URL).json() == {
        "count": 0, "next": None, "previous": None, "results": [], "latest": [], "challenger": None,
    }


def test_the_endpoint_is_in_the_openapi_schema(client):
    spec = client.get("/api/v1/schema", HTTP_ACCEPT="application/json").json()

    operation = spec["paths"][URL]["get"]
    assert operation["operationId"] == "monitoring_accuracy"
    assert {"200", "400", "401", "403", "404"} <= set(operation["responses"])
    assert "version" in {parameter["name"] for parameter in operation["parameters"]}
    schemas = spec["components"]["schemas"]
    assert "brier" in schemas["AccuracyMetrics"]["properties"]
    band = schemas["AccuracyCheckMetrics"]["properties"]["reliability"]["items"]["$ref"].rsplit("/", 1)[-1]
    assert set(schemas[band]["properties"]) == {"low", "high", "mean_pass_probability", "pass_rate", "pairs"}
    unusual = schemas["AccuracyCheckMetrics"]["properties"]["unusual"]
    assert "flagged unusual" in unusual["description"]
    assert set(schemas["AccuracyUnusualMetrics"]["properties"]) == {"flagged", "unflagged", "unknown"}
    group = schemas["AccuracyUnusualGroup"]["properties"]
    assert set(group) == {"pairs", "accuracy", "mae", "interval_coverage"}
    assert all(field.get("description") for field in group.values())
    example = operation["responses"]["200"]["content"]["application/json"]["examples"]
    [value] = [example["value"] for example in example.values()]
    assert set(value["latest"][0]["metrics"]["unusual"]) == {"flagged", "unflagged", "unknown"}
