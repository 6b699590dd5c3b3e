"""The API for people signed in with a session: what each role may do (predictions.access.permissions)."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from predictions.api.examples import RECORD
from predictions.models import Outcome, Student
from predictions.services import student_create
from tests.conftest import sign_in

STUDENTS = "/api/v1/students"
OUTCOMES = "/api/v1/outcomes"
PREDICT = "/api/v1/predict"


@pytest.fixture
def signed_in():
    """signed_in(user) -> an APIClient with that user's session."""

    def make(user) -> APIClient:
        client = APIClient()
        sign_in(client, user)
        return client

    return make


@pytest.fixture
def student(make_user):
    """A student of some teacher's, for recording an outcome."""
    return student_create(data={"external_id": "7", **RECORD}, teacher=make_user("class-teacher"))


def forbidden(response) -> None:
    assert response.status_code == 403, response.content
    assert response.json()["error"] == "forbidden"


def test_a_model_admin_lists_students_but_cannot_write_students_or_outcomes(signed_in, model_admin, student):
    client = signed_in(model_admin)

    assert client.get(STUDENTS).status_code == 200
    forbidden(client.post(STUDENTS, {"external_id": "8", **RECORD}, format="json"))
    forbidden(client.post(OUTCOMES, {"student_id": student.pk, "final_grade": 12}, format="json"))
    assert Student.objects.count() == 1 and not Outcome.objects.exists()


def test_an_account_without_a_role_can_neither_list_students_nor_predict(signed_in, make_user, active_version):
    client = signed_in(make_user("newcomer", None))

    forbidden(client.get(STUDENTS))
    forbidden(client.post(PREDICT, RECORD, format="json"))
    assert "role" in client.get(STUDENTS).json()["message"]


def test_a_teacher_lists_and_stores_students_records_outcomes_and_predicts(signed_in, user, active_version):
    client = signed_in(user)

    assert client.get(STUDENTS).status_code == 200
    created = client.post(STUDENTS, {"external_id": "8", **RECORD}, format="json")
    assert created.status_code == 201, created.content
    outcome = client.post(OUTCOMES, {"student_id": created.json()["id"], "final_grade": 12}, format="json")
    assert outcome.status_code == 201, outcome.content
    predicted = client.post(PREDICT, RECORD, format="json")
    assert predicted.status_code == 200, predicted.content
