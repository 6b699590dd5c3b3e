"""The what-if panel on the student page and its answer page, without JavaScript (plain form posts)."""
from __future__ import annotations

import re

import pytest
from django.utils.html import escape

from predictions.models import Prediction, Student
from predictions.templatetags.prediction_text import chance, grade, grade_change

pytestmark = pytest.mark.django_db


@pytest.fixture
def student(user, record) -> Student:
    return Student.objects.create(external_id="s1", teacher=user, **dict(record, studytime=1, absences=20))


@pytest.fixture
def teacher(client, user):
    client.force_login(user)
    return client


def what_if(pk: int) -> str:
    return f"/students/{pk}/what-if/"


def test_the_student_page_offers_the_actionable_attributes_with_their_values_in_words(teacher, student, active_version):
    page = teacher.get(f"/students/{student.pk}/").content.decode()

    form = re.search(r'<form method="post" action="/students/\d+/what-if/" id="what-if-form".*?</form>', page, re.S)
    assert form, "the what-if panel"
    names = re.findall(r'name="([A-Za-z]+)"', form.group(0))
    assert set(names) - {"csrfmiddlewaretoken"} >= {"studytime", "absences", "goout", "internet", "higher"}
    assert "age" not in names and "Medu" not in names
    studytime = re.search(r'<select name="studytime".*?</select>', form.group(0), re.S).group(0)
    assert "<option value=\"1\" selected>&lt; 2 hours</option>" in studytime


def test_trying_a_change_shows_both_predictions_side_by_side_and_keeps_the_students_latest(
    teacher, student, user, active_version
):
    teacher.post(f"/students/{student.pk}/predict/")
    latest = Prediction.objects.get(student=student)
    data = {"studytime": "4", "absences": "2"}

    response = teacher.post(what_if(student.pk), data)

    page = response.content.decode()
    assert response.status_code == 200
    changes = re.search(r'<ul id="what-if-changes">(.*?)</ul>', page, re.S).group(1)
    assert "Weekly study time: &lt; 2 hours → <strong>&gt; 10 hours</strong>" in changes
    assert "School absences: 20 → <strong>2</strong>" in changes
    table = re.search(r'<table id="what-if-comparison">.*?</table>', page, re.S).group(0)
    current, changed = (Prediction.objects.get(source="what_if", input__studytime=value) for value in (1, 4))
    for prediction in (current, changed):
        assert f"{grade(prediction.predicted_grade)} / 20" in table and escape(chance(prediction.pass_probability)) in table
    assert escape(grade_change(changed.predicted_grade, current.predicted_grade)) in table
    for output in ("grade", "range", "chance", "risk"):
        assert f'data-output="{output}"' in table
    assert f"risk-{current.risk}" in table and f"risk-{changed.risk}" in table
    assert list(Prediction.objects.filter(student=student)) == [latest]


def test_a_value_out_of_range_is_named_beside_its_field_and_nothing_is_predicted(teacher, student, active_version):
    page = teacher.post(what_if(student.pk), {"absences": "200"}).content.decode()

    error = re.search(r'<ul class="errorlist" id="id_absences_error">(.*?)</ul>', page, re.S)
    assert error and "must be an integer from 0 to 93" in error.group(1)
    assert not Prediction.objects.exists()


def test_changing_nothing_says_so(teacher, student, active_version):
    page = teacher.post(what_if(student.pk), {"studytime": "1", "absences": "20"}).content.decode()

    assert "changes nothing" in page and 'id="what-if-answer"' not in page
    assert not Prediction.objects.exists()


def test_another_teachers_student_is_404_and_anonymous_visitors_log_in(client, student, colleague, active_version):
    assert client.get(what_if(student.pk)).status_code == 302
    client.force_login(colleague)
    assert client.post(what_if(student.pk), {"studytime": "4"}).status_code == 404
    assert not Prediction.objects.exists()


def test_a_student_whose_alcohol_use_is_unknown_keeps_it_unknown_unless_the_teacher_picks_a_value(
    teacher, user, record, active_version
):
    student = Student.objects.create(external_id="s2", teacher=user, **dict(record, Dalc=None, Walc=None))
    page = teacher.get(f"/students/{student.pk}/").content.decode()
    assert re.search(r'<select name="Dalc"[^>]*>\s*<option value="" selected>Unknown</option>', page)

    # The panel posted as shown (Unknown left as it is) changes only what the teacher altered.
    answer = teacher.post(what_if(student.pk), {"Dalc": "", "Walc": "", "absences": "0"}).content.decode()
    assert 'id="what-if-answer"' in answer
    inputs = [prediction.input for prediction in Prediction.objects.filter(what_if_for=student)]
    assert len(inputs) == 2 and all(given["Dalc"] is None and given["Walc"] is None for given in inputs)
    assert sorted(given["absences"] for given in inputs) == [0, record["absences"]]
