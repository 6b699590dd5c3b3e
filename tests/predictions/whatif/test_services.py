"""What-if (issue 17 item 3): the student as stored and with actionable changes, side by side, audited as
"what_if", never the student's prediction."""
from __future__ import annotations

import pytest

from modelstore.schema import ACTIONABLE, PASS_MARK
from predictions.models import Prediction, Student
from predictions.selectors import prediction_list_for_student, student_list_with_latest_prediction
from predictions.services import prediction_create
from predictions.whatif.services import student_what_if, what_if_changes_clean
from studentperf.errors import ApplicationError

pytestmark = pytest.mark.django_db


@pytest.fixture
def student(user, record) -> Student:
    return Student.objects.create(external_id="s1", teacher=user, **dict(record, studytime=1, absences=20))


def test_the_changed_prediction_is_the_one_of_the_changed_record_and_the_current_one_of_the_stored(
    student, user, active_version, record
):
    answer = student_what_if(student=student, changes={"studytime": 4, "absences": "2"}, user=user)

    assert answer.changes == {"studytime": 4, "absences": 2}
    assert answer.current.input == dict(record, studytime=1, absences=20)
    assert answer.changed.input == dict(record, studytime=4, absences=2)
    # The same outputs as an ordinary prediction of that record.
    plain = prediction_create(record=answer.changed.input, source="web", user=user)
    assert (answer.changed.predicted_grade, answer.changed.pass_probability, answer.changed.interval) == (
        plain.predicted_grade, plain.pass_probability, plain.interval
    )
    assert answer.difference["predicted_grade"] == pytest.approx(
        answer.changed.predicted_grade - answer.current.predicted_grade
    )


def test_both_are_audited_as_what_if_for_the_student_and_neither_becomes_their_prediction(
    student, user, active_version
):
    latest = prediction_create(record=_record(student), source="web", user=user, student=student)

    answer = student_what_if(student=student, changes={"studytime": 4}, user=user)

    rows = Prediction.objects.filter(source="what_if")
    assert set(rows) == {answer.current, answer.changed}
    assert all(row.what_if_for == student and row.student is None and row.requested_by == user for row in rows)
    assert list(prediction_list_for_student(student=student)) == [latest]
    assert student_list_with_latest_prediction(user=user).get().latest_prediction_id == latest.pk


def _record(student: Student) -> dict:
    from predictions.selectors import student_record_get

    return student_record_get(student=student)


def test_the_outputs_are_coherent_on_both_sides(student, user, active_version):
    answer = student_what_if(student=student, changes={"studytime": 4, "absences": 0, "higher": "yes"}, user=user)

    for prediction in (answer.current, answer.changed):
        assert (prediction.predicted_grade >= PASS_MARK - 0.5) == (prediction.pass_probability >= 0.5)
        assert prediction.interval_low <= prediction.predicted_grade <= prediction.interval_high


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"age": 16}, "changes.age", "cannot be changed in a what-if"),
        ({"G1": 12}, "changes.G1", "cannot be changed in a what-if"),
        ({"shoe_size": 3}, "changes.shoe_size", "is not an attribute"),
        ({"studytime": 9}, "changes.studytime", "must be an integer from 1 to 4"),
        ({"internet": "maybe"}, "changes.internet", "must be one of"),
        ({"studytime": 1}, "changes", "changes nothing"),
        ({}, "changes", "changes nothing"),
        (["studytime"], "changes", "must be an object"),
        (None, "changes", "must be an object"),
    ],
)
def test_only_actionable_attributes_may_change_each_refusal_naming_the_field(
    student, user, active_version, changes, field, reason
):
    with pytest.raises(ApplicationError) as raised:
        student_what_if(student=student, changes=changes, user=user)

    assert raised.value.kind == "invalid"
    assert reason in " ".join(raised.value.fields[field])
    assert not Prediction.objects.exists()


def test_the_actionable_list_holds_at_least_the_issues_attributes():
    assert set(ACTIONABLE) >= {"studytime", "absences", "goout", "freetime", "Dalc", "Walc", "activities", "paid",
                               "schoolsup", "famsup", "internet", "higher"}


def test_changes_that_repeat_the_current_values_are_left_out(record):
    stored = dict(record, studytime=2)

    assert what_if_changes_clean(record=stored, changes={"studytime": "4", "absences": stored["absences"]}) == {
        "studytime": 4
    }
