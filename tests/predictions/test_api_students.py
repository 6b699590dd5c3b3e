"""/api/v1/students: list (filters, pages), create, read, change, their predictions, predict from the record."""
from __future__ import annotations

import pytest

from modelstore.schema import FEATURES
from predictions.models import Prediction, Student
from predictions.selectors import student_record_get
from predictions.services import prediction_create, student_create

from .api_answers import refused

STUDENTS = "/api/v1/students"


def student_url(student_or_pk, tail: str = "") -> str:
    pk = getattr(student_or_pk, "pk", student_or_pk)
    return f"{STUDENTS}/{pk}{tail}"


@pytest.fixture
def new_student(user, record):
    """new_student(external_id, teacher=user, **changes) -> a stored Student."""

    def make(external_id: str, teacher=user, **changes) -> Student:
        return student_create(data={"external_id": external_id, **record, **changes}, teacher=teacher)

    return make


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [student["external_id"] for student in response.json()["results"]]


# --- create ---


def test_a_key_with_the_write_scope_stores_a_student(api_client, record):
    response = api_client("write").post(STUDENTS, {"external_id": "2024-017", **record}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    student = Student.objects.get()
    assert body["id"] == student.pk
    assert {name: body[name] for name in ["external_id", *FEATURES]} == {"external_id": "2024-017", **record}
    assert student.teacher is None and student_record_get(student=student) == record


def test_a_logged_in_teacher_stores_a_student_of_theirs(session_client, user, record):
    response = session_client.post(STUDENTS, {"external_id": "7", **dict(record, G1=None, G2=None)}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["G1"] is None
    assert Student.objects.get(pk=response.json()["id"]).teacher == user


def test_an_external_id_already_used_among_the_keys_students_is_a_conflict(api_client, new_student, record):
    new_student("7", teacher=None)  # an API key's students have no teacher: one namespace, the installation's

    fields = refused(api_client("write").post(STUDENTS, {"external_id": "7", **record}, format="json"), 409, "conflict")

    assert fields == {"external_id": ["is already used by another student without a teacher at school GP"]}
    assert Student.objects.count() == 1


def test_a_new_student_names_every_bad_field(api_client, record):
    body = dict(record, age=99, shoe_size=42)

    fields = refused(api_client("write").post(STUDENTS, body, format="json"))

    assert fields == {
        "external_id": ["is required"], "age": ["must be an integer from 15 to 22"], "shoe_size": ["unknown field"],
    }
    assert not Student.objects.exists()


def test_a_new_student_must_be_an_object(api_client, record):
    response = api_client("write").post(STUDENTS, [{"external_id": "7", **record}], format="json")

    assert refused(response) == {} and response.json()["message"] == "The request body must be a JSON object."


def test_storing_a_student_needs_the_write_scope(api_client, record):
    refused(api_client("read", "predict").post(STUDENTS, {"external_id": "7", **record}, format="json"), 403)

    assert not Student.objects.exists()


# --- list ---


def test_a_key_lists_every_student_a_teacher_only_theirs(api_client, session_client, new_student, colleague):
    new_student("mine")
    new_student("theirs", teacher=colleague)
    new_student("nobody's", teacher=None)

    assert ids(api_client("read").get(STUDENTS)) == ["mine", "nobody's", "theirs"]
    assert ids(session_client.get(STUDENTS)) == ["mine"]


def test_students_are_filtered_by_school_and_external_id(api_client, new_student):
    new_student("1")
    new_student("2")
    new_student("1", school="MS")
    client = api_client("read")

    assert ids(client.get(STUDENTS, {"school": "MS"})) == ["1"]
    assert client.get(STUDENTS, {"school": "MS"}).json()["results"][0]["school"] == "MS"
    assert ids(client.get(STUDENTS, {"external_id": "1"})) == ["1", "1"]
    assert ids(client.get(STUDENTS, {"school": "GP", "external_id": "2"})) == ["2"]


def test_students_are_filtered_by_the_risk_of_their_latest_prediction(api_client, new_student, active_version, settings):
    improved, worsened = new_student("improved"), new_student("worsened")
    new_student("never predicted")
    settings.RISK_HIGH_BELOW, settings.RISK_MEDIUM_BELOW = 2, 3  # every prediction is high risk
    prediction_create(record=student_record_get(student=improved), source="api", student=improved)
    settings.RISK_HIGH_BELOW, settings.RISK_MEDIUM_BELOW = -2, -1  # now every prediction is low risk
    prediction_create(record=student_record_get(student=improved), source="api", student=improved)
    prediction_create(record=student_record_get(student=worsened), source="api", student=worsened)
    settings.RISK_HIGH_BELOW, settings.RISK_MEDIUM_BELOW = 2, 3
    prediction_create(record=student_record_get(student=worsened), source="api", student=worsened)
    client = api_client("read")

    assert ids(client.get(STUDENTS, {"risk": "low"})) == ["improved"]
    assert ids(client.get(STUDENTS, {"risk": "high"})) == ["worsened"]
    assert ids(client.get(STUDENTS, {"risk": "medium"})) == []
    assert ids(client.get(STUDENTS)) == ["improved", "never predicted", "worsened"]


@pytest.mark.parametrize(("query", "field"), [({"risk": "extreme"}, "risk"), ({"school": "XX"}, "school")])
def test_a_bad_filter_is_named(api_client, query, field):
    assert list(refused(api_client("read").get(STUDENTS, query))) == [field]


def test_the_school_filter_takes_the_installations_schools(api_client, new_student, settings):
    settings.SCHOOLS = {"GP": "Gabriel Pereira", "ESL": "Escola Secundaria de Lisboa"}
    new_student("e-1", school="ESL")
    new_student("g-1")
    client = api_client("read")

    assert ids(client.get(STUDENTS, {"school": "ESL"})) == ["e-1"]
    assert refused(client.get(STUDENTS, {"school": "MS"})) == {"school": ["must be one of GP, ESL"]}


def test_students_come_in_pages(api_client, new_student):
    for number in range(3):
        new_student(f"s-{number}")
    client = api_client("read")

    first = client.get(STUDENTS, {"page_size": 2}).json()
    second = client.get(first["next"]).json()

    assert first["count"] == 3 and len(first["results"]) == 2 and first["previous"] is None
    assert [s["external_id"] for s in second["results"]] == ["s-2"] and second["next"] is None


def test_listing_students_needs_the_read_scope(api_client):
    refused(api_client("predict", "write").get(STUDENTS), 403, "forbidden")


# --- read and change ---


def test_a_student_is_read_by_id(api_client, new_student, record):
    student = new_student("7")

    response = api_client("read").get(student_url(student))

    assert response.status_code == 200
    assert response.json() == {
        "id": student.pk, "external_id": "7", **record,
        "created_at": response.json()["created_at"], "updated_at": response.json()["updated_at"],
    }


def test_an_unknown_student_is_not_found(api_client, new_student):
    new_student("7")
    client = api_client()

    for url in (student_url(999), student_url(2**70), student_url(999, "/predictions")):
        refused(client.get(url), 404, "not_found")
    refused(client.patch(student_url(999), {"G2": 7}, format="json"), 404, "not_found")
    refused(client.post(student_url(999, "/predict")), 404, "not_found")


def test_a_teacher_cannot_see_a_colleagues_student(session_client, new_student, colleague):
    theirs = new_student("7", teacher=colleague)

    refused(session_client.get(student_url(theirs)), 404, "not_found")
    refused(session_client.patch(student_url(theirs), {"G2": 7}, format="json"), 404, "not_found")


def test_patch_changes_only_the_fields_sent(api_client, new_student):
    student = new_student("7", G2=None)

    response = api_client("read", "write").patch(student_url(student), {"G2": 11, "absences": 2}, format="json")

    assert response.status_code == 200, response.content
    assert (response.json()["G2"], response.json()["absences"], response.json()["age"]) == (11, 2, 18)
    student.refresh_from_db()
    assert (student.G1, student.G2, student.absences, student.external_id) == (5, 11, 2, "7")


@pytest.mark.parametrize("body", [{}, {"absences": 3}])
def test_a_write_only_key_changes_a_student_but_is_not_shown_the_record(api_client, new_student, body):
    # Issue 18, attack 8: an empty PATCH read a whole student record with a key that may not read.
    student = new_student("8")

    response = api_client("write").patch(student_url(student), body, format="json")

    assert response.status_code == 200, response.content
    assert set(response.json()) == {"id", "updated_at"} and response.json()["id"] == student.pk
    student.refresh_from_db()
    assert student.absences == body.get("absences", student.absences)


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"G1": None}, {"G1": ["is required when G2 is given"]}),  # the whole resulting record is checked
        ({"age": 14}, {"age": ["must be an integer from 15 to 22"]}),
        ({"external_id": ""}, {"external_id": ["is required"]}),
        ({"id": 5}, {"id": ["unknown field"]}),
    ],
)
def test_patch_is_validated_again_and_changes_nothing_when_refused(api_client, new_student, record, change, fields):
    student = new_student("7")

    assert refused(api_client("write").patch(student_url(student), change, format="json")) == fields

    student.refresh_from_db()
    assert student_record_get(student=student) == record and student.external_id == "7"


def test_patch_to_an_external_id_in_use_is_a_conflict(api_client, new_student):
    new_student("7")
    student = new_student("8")

    fields = refused(api_client("write").patch(student_url(student), {"external_id": "7"}, format="json"), 409)

    assert list(fields) == ["external_id"]


def test_patch_needs_an_object(api_client, new_student):
    student = new_student("7")

    response = api_client("write").patch(student_url(student), ["G2", 7], format="json")

    assert refused(response) == {}


def test_reading_needs_read_and_changing_needs_write(api_client, new_student):
    student = new_student("7")

    refused(api_client("write").get(student_url(student)), 403, "forbidden")
    refused(api_client("read").patch(student_url(student), {"G2": 7}, format="json"), 403, "forbidden")
    assert api_client("read").get(student_url(student)).status_code == 200


# --- predictions of a student ---


def test_a_student_is_predicted_from_the_stored_record(api_client, new_student, active_version):
    student = new_student("7", G2=None)
    client = api_client("predict", "read")

    response = client.post(student_url(student, "/predict"))

    assert response.status_code == 200, response.content
    assert response.json()["setup"] == "B"
    row = Prediction.objects.get()
    assert str(row.pk) == response.json()["prediction_id"]
    assert row.student == student and row.input == student_record_get(student=student)
    assert (row.source, row.api_key_prefix, row.requested_by) == ("api", client.api_key.prefix, None)


def test_a_teacher_predicts_their_student(session_client, user, new_student, active_version):
    student = new_student("7")

    assert session_client.post(student_url(student, "/predict")).status_code == 200

    assert Prediction.objects.get().requested_by == user


def test_predicting_a_student_needs_the_predict_scope(api_client, new_student, active_version):
    student = new_student("7")

    refused(api_client("read", "write").post(student_url(student, "/predict")), 403, "forbidden")
    assert not Prediction.objects.exists()


def test_a_students_predictions_come_newest_first_in_pages(api_client, new_student, active_version, record):
    student, other = new_student("7"), new_student("8")
    made = [
        prediction_create(record=dict(record, absences=absences), source="api", student=student)
        for absences in (1, 2, 3)
    ]
    prediction_create(record=record, source="api", student=other)
    client = api_client("read")

    first = client.get(student_url(student, "/predictions"), {"page_size": 2}).json()
    second = client.get(first["next"]).json()

    assert first["count"] == 3
    listed = first["results"] + second["results"]
    assert [p["prediction_id"] for p in listed] == [str(p.pk) for p in reversed(made)]
    assert set(listed[0]) == {
        "prediction_id", "model_version", "setup", "predicted_grade", "pass_probability", "confidence", "risk",
        "interval", "top_factors", "unusual", "unusual_reasons", "unknown_attributes", "created_at",
    }


def test_listing_a_students_predictions_needs_the_read_scope(api_client, new_student):
    refused(api_client("predict").get(student_url(new_student("7"), "/predictions")), 403, "forbidden")
