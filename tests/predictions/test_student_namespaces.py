"""external_id is unique per teacher and school (issue 18, attack 7): a teacher creating or renaming a student to
another teacher's id neither learns that it exists nor is stopped by it; a teacher's own duplicate, and a
duplicate among the students without a teacher (an API key's), is a 409 naming `external_id`; the database holds
the rule under a race."""
from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from predictions import services
from predictions.models import Student
from predictions.services import student_create

from .api_answers import refused, signed_in

pytestmark = pytest.mark.django_db

STUDENTS = "/api/v1/students"


@pytest.fixture
def theirs(colleague, record):
    """Teacher A's (the colleague's) student 2024-001 at GP."""
    return student_create(data={"external_id": "2024-001", **dict(record, absences=17)}, teacher=colleague)


def test_creating_another_teachers_id_succeeds_in_the_teachers_own_namespace(user, theirs, record):
    response = signed_in(user).post(STUDENTS, {"external_id": "2024-001", **record}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    mine = Student.objects.get(pk=body["id"])
    assert (mine.teacher, mine.external_id, mine.school) == (user, "2024-001", "GP") and mine.pk != theirs.pk
    assert body["absences"] == record["absences"] != theirs.absences  # the answer is B's student, nothing of A's
    theirs.refresh_from_db()
    assert theirs.teacher.username == "colleague" and theirs.absences == 17


def test_renaming_to_another_teachers_id_succeeds_and_tells_nothing(user, theirs, record):
    mine = student_create(data={"external_id": "mine", **record}, teacher=user)

    response = signed_in(user).patch(f"{STUDENTS}/{mine.pk}", {"external_id": "2024-001"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["id"] == mine.pk and response.json()["external_id"] == "2024-001"
    assert Student.objects.filter(external_id="2024-001").count() == 2


def test_a_teachers_own_duplicate_is_a_409_naming_the_field(user, theirs, record):
    student_create(data={"external_id": "2024-001", **record}, teacher=user)
    mine = student_create(data={"external_id": "other", **record}, teacher=user)
    client = signed_in(user)

    created = client.post(STUDENTS, {"external_id": "2024-001", **record}, format="json")
    renamed = client.patch(f"{STUDENTS}/{mine.pk}", {"external_id": "2024-001"}, format="json")

    for response in (created, renamed):
        fields = refused(response, 409, "conflict")
        assert fields == {"external_id": ["is already used by another student of the same teacher at school GP"]}
        assert response.json()["message"] == "Another student of the same teacher already has this id at this school."
        assert "colleague" not in response.content.decode()


def test_the_same_id_at_another_school_is_another_student(user, record):
    student_create(data={"external_id": "7", **record}, teacher=user)

    student_create(data={"external_id": "7", **dict(record, school="MS")}, teacher=user)

    assert Student.objects.filter(teacher=user, external_id="7").count() == 2


def test_a_keys_students_have_no_teacher_and_share_one_namespace(api_client, theirs, record):
    client = api_client("read", "write")

    first = client.post(STUDENTS, {"external_id": "2024-001", **record}, format="json")
    again = client.post(STUDENTS, {"external_id": "2024-001", **record}, format="json")

    assert first.status_code == 201, first.content  # a teacher's 2024-001 is no conflict for the installation
    assert Student.objects.get(pk=first.json()["id"]).teacher is None
    fields = refused(again, 409, "conflict")
    assert fields == {"external_id": ["is already used by another student without a teacher at school GP"]}
    # A key sees every student: filtering by external_id answers all of them, each with its own `id`.
    listed = client.get(STUDENTS, {"external_id": "2024-001"}).json()["results"]
    assert sorted(student["id"] for student in listed) == sorted([theirs.pk, first.json()["id"]])


def test_a_teacher_filtering_by_another_teachers_id_gets_nothing(user, theirs):
    response = signed_in(user).get(STUDENTS, {"external_id": "2024-001"})

    assert response.status_code == 200 and response.json()["results"] == []


@pytest.mark.parametrize("teacher_name", ["user", None])
def test_the_database_refuses_a_duplicate_in_one_namespace(request, teacher_name, record):
    teacher = request.getfixturevalue(teacher_name) if teacher_name else None
    Student.objects.create(external_id="7", teacher=teacher, **record)

    with pytest.raises(IntegrityError), transaction.atomic():
        Student.objects.create(external_id="7", teacher=teacher, **record)


def test_the_admin_form_check_names_a_teacherless_duplicate(record):
    """The admin's model form runs validate_constraints: a duplicate is a form error, not a 500."""
    Student.objects.create(external_id="7", teacher=None, **record)

    with pytest.raises(ValidationError) as caught:
        Student(external_id="7", teacher=None, **record).validate_constraints()

    assert "A student without a teacher already has this id at this school." in str(caught.value)


def test_a_race_to_the_same_id_ends_in_a_409_not_a_500(user, record, monkeypatch):
    real = services._student_data_clean

    def checked_then_taken(**kwargs):
        cleaned = real(**kwargs)  # the check saw the id free; a concurrent request stores it now
        Student.objects.create(external_id="7", teacher=user, **record)
        return cleaned

    monkeypatch.setattr(services, "_student_data_clean", checked_then_taken)

    response = signed_in(user).post(STUDENTS, {"external_id": "7", **record}, format="json")

    fields = refused(response, 409, "conflict")
    assert fields == {"external_id": ["is already used by another student of the same teacher at school GP"]}
    assert Student.objects.filter(teacher=user, external_id="7").count() == 1


def test_a_teacher_with_students_is_not_deleted_into_the_teacherless_namespace(user, record):
    Student.objects.create(external_id="7", teacher=None, **record)
    student_create(data={"external_id": "7", **record}, teacher=user)

    with pytest.raises(ProtectedError):
        user.delete()

    assert Student.objects.count() == 2
