"""intervention_record: kinds from settings (configurable), dates in a sensible window, notes of bounded length."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from predictions.interventions.services import intervention_kind_name, intervention_record
from predictions.models import Intervention
from predictions.services import student_create
from studentperf.errors import ApplicationError

pytestmark = pytest.mark.django_db


@pytest.fixture
def student(user, record):
    return student_create(data={"external_id": "7", **record}, teacher=user)


def refused_fields(**arguments) -> dict:
    """The fields intervention_record names when it refuses `arguments`, after checking it stored nothing."""
    stored = Intervention.objects.count()
    with pytest.raises(ApplicationError) as refused:
        intervention_record(**arguments)
    assert refused.value.kind == "invalid"
    assert Intervention.objects.count() == stored
    return refused.value.fields


def test_an_intervention_is_recorded_with_its_kind_date_note_and_recorder(student, user):
    today = timezone.localdate()

    intervention = intervention_record(student=student, kind="peer_mentoring", date_done=today.isoformat(),
                                       note="  Paired with a classmate  ", user=user)

    intervention.refresh_from_db()
    assert (intervention.student, intervention.kind, intervention.date, intervention.note, intervention.recorded_by) == (
        student, "peer_mentoring", today, "Paired with a classmate", user)


@pytest.mark.parametrize("kind", ["tutoring", "parent_meeting", "counselling", "study_plan", "peer_mentoring", "other"])
def test_the_default_kinds_are_accepted(student, kind):
    assert intervention_record(student=student, kind=kind, date_done=timezone.localdate()).kind == kind


def test_the_kinds_come_from_settings(student, settings):
    settings.INTERVENTION_KINDS = {"home_visit": "Home visit", "other": "Other"}

    assert intervention_record(student=student, kind="home_visit", date_done=timezone.localdate()).kind == "home_visit"
    assert intervention_kind_name("home_visit") == "Home visit"
    fields = refused_fields(student=student, kind="tutoring", date_done=timezone.localdate())
    assert fields == {"kind": ["must be one of home_visit, other"]}


def test_a_kind_no_longer_configured_is_named_from_its_code(settings):
    settings.INTERVENTION_KINDS = {"other": "Other"}

    assert intervention_kind_name("parent_meeting") == "parent meeting"


@pytest.mark.parametrize(("date_done", "why"), [
    (None, "is required"),
    ("", "is required"),
    ("2026-13-01", "must be a date as YYYY-MM-DD"),
    ("next week", "must be a date as YYYY-MM-DD"),
])
def test_a_missing_or_malformed_date_is_refused(student, date_done, why):
    assert refused_fields(student=student, kind="other", date_done=date_done) == {"date": [why]}


def test_a_date_far_ahead_or_long_ago_is_refused(student):
    today = timezone.localdate()

    assert list(refused_fields(student=student, kind="other", date_done=today + timedelta(days=32))) == ["date"]
    assert list(refused_fields(student=student, kind="other", date_done=date(today.year - 6, 1, 1))) == ["date"]
    assert intervention_record(student=student, kind="other", date_done=today + timedelta(days=31)).pk


def test_a_note_must_be_text_of_at_most_2000_characters(student):
    today = timezone.localdate()

    assert list(refused_fields(student=student, kind="other", date_done=today, note="x" * 2001)) == ["note"]
    assert list(refused_fields(student=student, kind="other", date_done=today, note=["x"])) == ["note"]
    assert intervention_record(student=student, kind="other", date_done=today, note="x" * 2000).note == "x" * 2000
    assert intervention_record(student=student, kind="other", date_done=today, note=None).note == ""


def test_every_bad_field_is_named_at_once(student):
    assert set(refused_fields(student=student, kind="nap", date_done="soon", note="x" * 2001)) == {"kind", "date", "note"}
