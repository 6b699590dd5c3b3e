"""POST /api/v1/students/{id}/what-if: roles, scopes, the answer's shape and the 400s naming the field."""
from __future__ import annotations

import pytest

from predictions.models import Prediction, Student

from tests.predictions.api_answers import refused, signed_in

pytestmark = pytest.mark.django_db
PREDICTION_KEYS = {
    "prediction_id", "model_version", "setup", "predicted_grade", "pass_probability", "confidence", "risk",
    "interval", "top_factors", "unusual", "unusual_reasons", "unknown_attributes",
}


@pytest.fixture
def student(user, record) -> Student:
    return Student.objects.create(external_id="s1", teacher=user, **dict(record, studytime=1))


def url(student) -> str:
    return f"/api/v1/students/{student.pk}/what-if"



def test_a_teacher_compares_their_student_as_is_and_changed(student, user, active_version):
    response = signed_in(user).post(url(student), {"changes": {"studytime": 4, "goout": 1}}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"current", "changed", "changes", "difference"}
    assert set(body["current"]) == set(body["changed"]) == PREDICTION_KEYS
    assert body["changes"] == {"studytime": 4, "goout": 1}
    assert body["difference"]["predicted_grade"] == pytest.approx(
        body["changed"]["predicted_grade"] - body["current"]["predicted_grade"]
    )
    changed = Prediction.objects.get(pk=body["changed"]["prediction_id"])
    assert (changed.source, changed.what_if_for, changed.input["studytime"]) == ("what_if", student, 4)


def test_another_teachers_student_does_not_exist(student, colleague, active_version):
    refused(signed_in(colleague).post(url(student), {"changes": {"studytime": 4}}, format="json"), 404, "not_found")
    assert not Prediction.objects.exists()


def test_a_model_admin_may_try_any_student(student, model_admin, active_version):
    assert signed_in(model_admin).post(url(student), {"changes": {"studytime": 4}}, format="json").status_code == 200


def test_a_key_needs_the_predict_scope(student, api_client, active_version):
    refused(api_client("read", "write").post(url(student), {"changes": {"studytime": 4}}, format="json"), 403,
            "forbidden")
    response = api_client("predict", "read").post(url(student), {"changes": {"studytime": 4}}, format="json")
    assert response.status_code == 200
    assert Prediction.objects.get(pk=response.json()["changed"]["prediction_id"]).api_key_prefix


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"changes": {"age": 16}}, "changes.age"),
        ({"changes": {"studytime": 0}}, "changes.studytime"),
        ({"changes": {"studytime": 1}}, "changes"),
        ({"changes": "studytime=4"}, "changes"),
        ({}, "changes"),
    ],
)
def test_a_bad_change_answers_400_naming_the_field(student, user, active_version, body, field):
    fields = refused(signed_in(user).post(url(student), body, format="json"), 400, "invalid")

    assert field in fields
    assert not Prediction.objects.exists()


def test_a_body_that_is_not_an_object_answers_400(student, user, active_version):
    refused(signed_in(user).post(url(student), ["studytime"], format="json"), 400)


def test_the_endpoint_is_in_the_openapi_schema(client):
    schema = client.get("/api/v1/schema", HTTP_ACCEPT="application/json").json()

    operation = schema["paths"]["/api/v1/students/{id}/what-if"]["post"]
    assert operation["operationId"] == "students_what_if"
    assert set(operation["responses"]) >= {"200", "400", "404"}
