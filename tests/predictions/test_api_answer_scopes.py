"""Every endpoint checks the scope of what it returns, not only of what it does (issue 18): an answer made from a
student's stored record goes only to a requester who may read it. The audit of every /api/v1 endpoint is in
docs/security.md; these are the answers it changed."""
from __future__ import annotations

import pytest

from predictions.models import Outcome, Prediction, Student
from predictions.services import outcome_record

from .api_answers import refused

pytestmark = pytest.mark.django_db


@pytest.fixture
def student(user, record) -> Student:
    return Student.objects.create(external_id="s1", teacher=user, **dict(record, studytime=1, absences=11))


def predict_url(student) -> str:
    return f"/api/v1/students/{student.pk}/predict"


def what_if_url(student) -> str:
    return f"/api/v1/students/{student.pk}/what-if"


def test_a_predict_only_key_is_not_shown_a_stored_students_prediction(api_client, student, active_version):
    # Before: 200 with the grade, risk and top factors (the stored attribute values) of the stored record.
    response = api_client("predict").post(predict_url(student))

    refused(response, 403, "forbidden")
    assert "'read'" in response.json()["message"] and "absences" not in response.content.decode()
    assert not Prediction.objects.exists()
    assert api_client("predict", "read").post(predict_url(student)).status_code == 200


def test_a_predict_only_key_is_not_shown_a_stored_students_what_if(api_client, student, active_version):
    body = {"changes": {"studytime": 4}}

    response = api_client("predict").post(what_if_url(student), body, format="json")

    refused(response, 403, "forbidden")
    assert not Prediction.objects.exists()
    assert api_client("predict", "read").post(what_if_url(student), body, format="json").status_code == 200


def test_a_predict_only_key_learns_nothing_of_an_unknown_student_either(api_client, active_version):
    # Refused before the student is looked up: the same 403 whether the id exists or not.
    refused(api_client("predict").post(predict_url(Student(pk=999))), 403, "forbidden")


def test_a_write_only_key_recording_a_grade_is_not_told_of_the_earlier_one(api_client, student, user):
    earlier = outcome_record(student=student, final_grade=9, user=user)

    response = api_client("write").post("/api/v1/outcomes", {"student_id": student.pk, "final_grade": 12},
                                        format="json")

    assert response.status_code == 201, response.content
    outcome = Outcome.objects.get(is_current=True)
    assert response.json() == {
        "id": outcome.pk, "student_id": student.pk, "final_grade": 12, "recorded_at": response.json()["recorded_at"],
    }
    assert outcome.supersedes == earlier  # the correction was made; only its answer is smaller


def test_a_key_that_may_read_gets_the_whole_outcome(api_client, student, user):
    earlier = outcome_record(student=student, final_grade=9, user=user)

    response = api_client("read", "write").post("/api/v1/outcomes", {"student_id": student.pk, "final_grade": 12},
                                                format="json")

    assert response.json()["supersedes"] == earlier.pk and response.json()["is_current"] is True


def test_a_write_only_key_creating_a_student_gets_back_only_what_it_sent_and_the_ids(api_client, record):
    response = api_client("write").post("/api/v1/students", {"external_id": "k1", **record}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) - {"id", "created_at", "updated_at"} == {"external_id", *record}
    assert {name: body[name] for name in record} == record
