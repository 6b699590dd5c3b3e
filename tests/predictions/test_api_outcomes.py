"""/api/v1/outcomes: record a student's final grade (a second one corrects it, keeping history) and list them."""
from __future__ import annotations

import json

import pytest

from predictions.models import Outcome
from predictions.services import outcome_record, student_create

from .api_answers import refused

OUTCOMES = "/api/v1/outcomes"


@pytest.fixture
def student(user, record):
    return student_create(data={"external_id": "7", **record}, teacher=user)


def test_a_key_with_the_write_scope_records_an_outcome(api_client, student):
    response = api_client("read", "write").post(OUTCOMES, {"student_id": student.pk, "final_grade": 12}, format="json")

    assert response.status_code == 201, response.content
    outcome = Outcome.objects.get()
    assert response.json() == {
        "id": outcome.pk, "student_id": student.pk, "final_grade": 12, "is_current": True, "supersedes": None,
        "recorded_at": response.json()["recorded_at"],
    }
    assert outcome.recorded_by is None and outcome.student == student


def test_a_teacher_records_an_outcome_of_their_student(session_client, user, student):
    response = session_client.post(OUTCOMES, {"student_id": student.pk, "final_grade": "9"}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["final_grade"] == 9
    assert Outcome.objects.get().recorded_by == user


def test_a_second_outcome_is_a_correction_that_keeps_the_history(api_client, student):
    client = api_client("read", "write")

    first = client.post(OUTCOMES, {"student_id": student.pk, "final_grade": 12}, format="json").json()
    correction = client.post(OUTCOMES, {"student_id": student.pk, "final_grade": 14}, format="json").json()
    listed = client.get(OUTCOMES).json()

    assert correction["supersedes"] == first["id"] and correction["is_current"]
    assert listed["count"] == 2
    assert [(o["id"], o["final_grade"], o["is_current"], o["supersedes"]) for o in listed["results"]] == [
        (correction["id"], 14, True, first["id"]),
        (first["id"], 12, False, None),
    ]


@pytest.mark.parametrize("grade", [21, -1, 12.5, "twelve", True])
def test_a_bad_final_grade_is_named(api_client, student, grade):
    fields = refused(api_client("write").post(OUTCOMES, {"student_id": student.pk, "final_grade": grade}, format="json"))

    assert fields == {"final_grade": ["must be an integer from 0 to 20"]}
    assert not Outcome.objects.exists()


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"final_grade": 12}, {"student_id": ["is required"]}),
        ({"student_id": 999, "final_grade": 12}, {"student_id": ["no student with this id"]}),
        ({"student_id": 2**70, "final_grade": 12}, {"student_id": ["no student with this id"]}),
        ({"student_id": "seven", "final_grade": 12}, {"student_id": ["must be the id of a student (an integer)"]}),
        ({"student_id": None, "final_grade": None}, {"student_id": ["is required"], "final_grade": ["is required"]}),
    ],
)
def test_a_bad_outcome_request_names_the_field(api_client, student, body, fields):
    assert refused(api_client("write").post(OUTCOMES, body, format="json")) == fields
    assert not Outcome.objects.exists()


def test_an_unknown_field_in_an_outcome_is_named(api_client, student):
    body = {"student_id": student.pk, "final_grade": 12, "grade": 12}

    assert refused(api_client("write").post(OUTCOMES, body, format="json")) == {"grade": ["unknown field"]}
    assert not Outcome.objects.exists()


@pytest.mark.parametrize("body", [[], "12", 12, None])
def test_an_outcome_must_be_an_object(api_client, student, body):
    response = api_client("write").post(OUTCOMES, json.dumps(body), content_type="application/json")

    assert refused(response) == {}


def test_a_teacher_cannot_record_an_outcome_of_a_colleagues_student(session_client, colleague, record):
    theirs = student_create(data={"external_id": "8", **record}, teacher=colleague)

    fields = refused(session_client.post(OUTCOMES, {"student_id": theirs.pk, "final_grade": 12}, format="json"))

    assert fields == {"student_id": ["no student with this id"]}


def test_outcomes_are_filtered_by_student(api_client, student, record):
    other = student_create(data={"external_id": "8", **record}, teacher=None)
    mine = outcome_record(student=student, final_grade=12, user=None)
    outcome_record(student=other, final_grade=15, user=None)
    client = api_client("read")

    assert client.get(OUTCOMES).json()["count"] == 2
    assert [o["id"] for o in client.get(OUTCOMES, {"student_id": student.pk}).json()["results"]] == [mine.pk]
    assert client.get(OUTCOMES, {"student_id": 999}).json()["count"] == 0


@pytest.mark.parametrize("student_id", ["seven", "0", str(2**70)])
def test_a_bad_student_filter_is_named(api_client, student_id):
    assert list(refused(api_client("read").get(OUTCOMES, {"student_id": student_id}))) == ["student_id"]


def test_a_teacher_lists_only_the_outcomes_of_their_students(session_client, student, colleague, record):
    theirs = student_create(data={"external_id": "8", **record}, teacher=colleague)
    mine = outcome_record(student=student, final_grade=12, user=None)
    outcome_record(student=theirs, final_grade=15, user=None)

    response = session_client.get(OUTCOMES)

    assert [o["id"] for o in response.json()["results"]] == [mine.pk]


def test_outcomes_need_read_to_list_and_write_to_record(api_client, student):
    refused(api_client("read").post(OUTCOMES, {"student_id": student.pk, "final_grade": 12}, format="json"), 403)
    refused(api_client("write", "predict").get(OUTCOMES), 403, "forbidden")
    assert not Outcome.objects.exists()
