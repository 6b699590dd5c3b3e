"""Interventions on the teacher pages (issue 17 item 4): record one on the student's page, see it on the
timeline and marked on the progress charts; the dashboard's "at high risk, no intervention yet"."""
from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.utils import timezone

from predictions.models import Intervention, Prediction, Student
from predictions.services import prediction_create
from tests.conftest import sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def student(user, record) -> Student:
    return Student.objects.create(external_id="s1", teacher=user, **record)


@pytest.fixture
def teacher(client, user):
    client.force_login(user)
    return client


def page_of(client, student) -> str:
    return client.get(f"/students/{student.pk}/").content.decode()


def test_a_teacher_records_an_intervention_and_sees_it_on_the_timeline(teacher, student, user, active_version):
    response = teacher.post(f"/students/{student.pk}/interventions/",
                            {"kind": "parent_meeting", "date": "2026-11-20", "note": "agreed a study plan"})

    assert response.status_code == 302 and response["Location"].endswith(f"/students/{student.pk}/#interventions")
    item = Intervention.objects.get()
    assert (item.student, item.kind, item.date, item.note, item.recorded_by) == (
        student, "parent_meeting", date(2026, 11, 20), "agreed a study plan", user
    )
    timeline = re.search(r'<ol class="timeline" id="timeline".*?</ol>', page_of(teacher, student), re.S).group(0)
    assert re.search(r'data-event="intervention">\s*<time datetime="[^"]+">2026-11-20</time>\s*'
                     r'<strong class="intervention-kind">Parent meeting</strong> \(recorded by teacher\): '
                     r"agreed a study plan", timeline)


def test_the_form_offers_the_kinds_of_the_setting(teacher, student, settings, active_version):
    settings.INTERVENTION_KINDS = {"mentor": "Mentoring by an older student", "other": "Other"}

    form = re.search(r'<form method="post" action="[^"]+/interventions/" id="intervention-form".*?</form>',
                     page_of(teacher, student), re.S).group(0)

    assert re.findall(r'<option value="([a-z_]+)"', form) == ["mentor", "other"]
    assert f'value="{timezone.localdate().isoformat()}"' in form  # today by default


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        ({"kind": "detention", "date": "2026-11-20"}, "kind", "must be one of"),
        ({"kind": "tutoring", "date": "20/11/2026"}, "date", "must be a date as YYYY-MM-DD"),
        ({"kind": "tutoring", "date": ""}, "date", "is required"),
        ({"kind": "tutoring", "date": "2026-11-20", "note": "x" * 2001}, "note", "at most 2000 characters"),
    ],
)
def test_a_bad_value_is_named_beside_its_field_and_nothing_is_saved(teacher, student, active_version, data, field,
                                                                     reason):
    page = teacher.post(f"/students/{student.pk}/interventions/", data).content.decode()

    error = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', page, re.S)
    assert error and reason in error.group(1)
    assert not Intervention.objects.exists()


def test_a_model_admin_may_not_record_one_and_another_teacher_gets_404(client, student, model_admin, colleague):
    sign_in(client, model_admin)
    tutoring = {"kind": "tutoring", "date": "2026-11-20"}
    assert client.post(f"/students/{student.pk}/interventions/", tutoring).status_code == 403
    assert 'id="intervention-form"' not in page_of(client, student)
    client.force_login(colleague)
    assert client.post(f"/students/{student.pk}/interventions/", tutoring).status_code == 404
    assert not Intervention.objects.exists()


def test_the_progress_charts_mark_each_intervention(teacher, student, user, active_version, record):
    for _ in range(2):
        prediction_create(record=record, source="web", user=user, student=student)
    Intervention.objects.create(student=student, kind="tutoring", date=timezone.localdate(), recorded_by=user)
    Intervention.objects.create(student=student, kind="other", date=timezone.localdate() - timedelta(days=3))

    page = page_of(teacher, student)

    charts = re.search(r'<div class="chart-grid" id="progress-charts">.*?</div>', page, re.S).group(0)
    for chart_id in ("progress-chance", "progress-grade"):
        svg = re.search(rf'<svg[^>]*id="{chart_id}".*?</svg>', charts, re.S).group(0)
        assert len(re.findall(r'<line class="mark"', svg)) == 2
        assert f"<title>Tutoring, {timezone.localdate():%Y-%m-%d}</title>" in svg
        assert len(re.findall(r'class="marker"', svg)) >= 2  # one per prediction (and the legend's)


def test_one_prediction_and_no_intervention_is_no_trend_yet(teacher, student, user, active_version, record):
    prediction_create(record=record, source="web", user=user, student=student)

    page = page_of(teacher, student)

    assert 'id="progress-charts"' not in page
    assert "charts of the chance to pass and the predicted grade over time" in page


def test_the_dashboard_filters_students_at_high_risk_without_an_intervention(teacher, user, record, active_version):
    students = {name: Student.objects.create(external_id=name, teacher=user, **record) for name in ("a", "b", "c")}
    for student in students.values():
        prediction_create(record=record, source="web", user=user, student=student)
    assert Prediction.objects.filter(risk="high").count() == 3  # the fixture record is a likely fail
    Intervention.objects.create(student=students["b"], kind="tutoring", date=timezone.localdate())

    page = teacher.get("/", {"risk": "high", "intervention": "none"}).content.decode()
    helped = teacher.get("/", {"intervention": "some"}).content.decode()

    listed = re.findall(r'<th scope="row"><a href="/students/\d+/">(\w+)</a></th>', page)
    assert listed == ["a", "c"]
    assert re.findall(r'<th scope="row"><a href="/students/\d+/">(\w+)</a></th>', helped) == ["b"]
    assert 'href="?risk=high&amp;intervention=none" aria-current="true">At high risk with no intervention yet' in page
