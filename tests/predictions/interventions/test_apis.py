"""/api/v1/students/{id}/interventions: roles as for students, scopes, validation naming the field, no note in logs."""
from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from predictions.interventions.services import intervention_record
from predictions.models import Intervention
from predictions.services import student_create

from ..api_answers import refused, signed_in

pytestmark = pytest.mark.django_db
NOTE = "Mother mentioned the family is moving house in March"


def url(student) -> str:
    return f"/api/v1/students/{student.pk}/interventions"



@pytest.fixture
def student(user, record):
    """A student of the teacher `user`."""
    return student_create(data={"external_id": "2024-017", **record}, teacher=user)


def days_ago(days: int) -> str:
    return (timezone.localdate() - timedelta(days=days)).isoformat()


def body(**changes) -> dict:
    return {"kind": "tutoring", "date": days_ago(2), "note": NOTE, **changes}


def test_a_teacher_records_an_intervention_for_their_student(session_client, student, user):
    response = session_client.post(url(student), body(), format="json")

    assert response.status_code == 201, response.content
    intervention = Intervention.objects.get()
    assert response.json() == {
        "id": intervention.pk, "kind": "tutoring", "kind_name": "Tutoring", "date": days_ago(2), "note": NOTE,
        "recorded_by": user.username, "created_at": response.json()["created_at"],
    }
    assert (intervention.student, intervention.recorded_by) == (student, user)


def test_a_teacher_reads_their_students_interventions_latest_date_first(session_client, student, user):
    intervention_record(student=student, kind="parent_meeting", date_done=days_ago(30), note="", user=user)
    intervention_record(student=student, kind="tutoring", date_done=days_ago(3), note=NOTE, user=None)

    response = session_client.get(url(student))

    assert response.status_code == 200, response.content
    page = response.json()
    assert page["count"] == 2
    assert [(item["kind"], item["kind_name"], item["date"], item["recorded_by"]) for item in page["results"]] == [
        ("tutoring", "Tutoring", days_ago(3), None), ("parent_meeting", "Parent meeting", days_ago(30), "teacher"),
    ]


@pytest.mark.parametrize("method", ["get", "post"])
def test_another_teachers_student_is_not_found(method, colleague, student):
    response = getattr(signed_in(colleague), method)(url(student), body(), format="json")

    refused(response, 404, "not_found")
    assert not Intervention.objects.exists()


def test_a_model_admin_reads_but_does_not_record(model_admin, student, user):
    intervention_record(student=student, kind="counselling", date_done=days_ago(5), user=user)
    client = signed_in(model_admin)

    assert client.get(url(student)).json()["count"] == 1
    refused(client.post(url(student), body(), format="json"), 403, "forbidden")
    assert Intervention.objects.count() == 1


def test_a_read_only_key_reads_but_does_not_record(api_client, student):
    client = api_client("read")

    assert client.get(url(student)).status_code == 200
    refused(client.post(url(student), body(), format="json"), 403, "forbidden")
    assert not Intervention.objects.exists()


def test_a_key_without_the_read_scope_does_not_read(api_client, student):
    refused(api_client("predict", "write").get(url(student)), 403, "forbidden")


def test_a_write_key_records_with_nobody_as_recorder(api_client, student):
    response = api_client("write").post(url(student), body(kind="study_plan"), format="json")

    assert response.status_code == 201, response.content
    assert response.json()["recorded_by"] is None and response.json()["kind_name"] == "Study plan"
    assert Intervention.objects.get().recorded_by is None


@pytest.mark.parametrize(("changes", "field"), [
    ({"kind": "detention"}, "kind"),
    ({"kind": ["tutoring"]}, "kind"),
    ({"kind": None}, "kind"),
    ({"date": "20/11/2026"}, "date"),
    ({"date": None}, "date"),
    ({"date": days_ago(-60)}, "date"),
    ({"note": "x" * 2001}, "note"),
    ({"note": {"text": NOTE}}, "note"),
])
def test_a_bad_value_is_a_400_naming_its_field_and_nothing_is_saved(session_client, student, changes, field):
    fields = refused(session_client.post(url(student), body(**changes), format="json"), 400, "invalid")

    assert list(fields) == [field]
    assert not Intervention.objects.exists()


def test_every_bad_field_is_named_at_once(session_client, student):
    fields = refused(session_client.post(url(student), {"kind": "x", "date": "soon", "note": 7}, format="json"))

    assert set(fields) == {"kind", "date", "note"}


@pytest.mark.parametrize("payload", [[body()], "tutoring", 3])
def test_a_body_that_is_not_an_object_is_a_400(session_client, student, payload):
    refused(session_client.post(url(student), payload, format="json"), 400)
    assert not Intervention.objects.exists()


def test_the_note_is_never_logged(session_client, student, caplog):
    caplog.set_level(logging.DEBUG)

    assert session_client.post(url(student), body(), format="json").status_code == 201
    assert session_client.get(url(student)).status_code == 200
    refused(session_client.post(url(student), body(kind="detention"), format="json"))

    assert caplog.records, "the requests were logged"
    assert NOTE not in caplog.text
    for line in caplog.records:
        assert NOTE not in str(vars(line)), line.name
