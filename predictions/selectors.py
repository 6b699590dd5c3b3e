"""Reads: what a person, or an API key, may see of predictions, students and outcomes."""
from __future__ import annotations

from django.db.models import OuterRef, Q, QuerySet, Subquery

from studentperf.errors import ApplicationError

from .models import Outcome, Prediction, Student
from .roles import STUDENT_VIEW, VIEW_ALL_STUDENTS


def prediction_list_for_user(*, user) -> QuerySet[Prediction]:
    """The predictions a person may see, newest first: with VIEW_ALL_STUDENTS (model admins, superusers)
    all of them; otherwise the ones they requested and those of their own students."""
    predictions = Prediction.objects.select_related("model_version", "student")
    if user.has_perm(VIEW_ALL_STUDENTS):
        return predictions
    return predictions.filter(Q(requested_by=user) | Q(student__teacher=user))


def student_list_for_user(*, user) -> QuerySet[Student]:
    """The students a person may see: every one with VIEW_ALL_STUDENTS, their own as a teacher, none
    without a role."""
    if user.has_perm(VIEW_ALL_STUDENTS):
        return Student.objects.all()
    if not user.has_perm(STUDENT_VIEW):
        return Student.objects.none()
    return Student.objects.filter(teacher=user)


def outcome_history(*, student: Student) -> QuerySet[Outcome]:
    """Every final grade recorded for a student, the current one and the ones it corrected, newest first."""
    return Outcome.objects.filter(student=student).select_related("supersedes", "recorded_by")


# The API's callers: an API key belongs to the installation (a school information system) and sees every
# student; a person signed in with a session sees what the *_for_user selectors give.


def student_list_for_requester(
    *, user=None, api_key=None, school: str | None = None, external_id: str | None = None, risk: str | None = None
) -> QuerySet[Student]:
    """The students an API key (all of them) or a person may see, optionally filtered.

    `risk` is the risk of each student's latest prediction; a student never predicted matches no risk.
    """
    if api_key is not None:
        students = Student.objects.all()
    elif user is not None:
        students = student_list_for_user(user=user)
    else:
        raise ValueError("A requester is an API key or a user.")
    if school:
        students = students.filter(school=school)
    if external_id:
        students = students.filter(external_id=external_id)
    if risk:
        latest = Prediction.objects.filter(student=OuterRef("pk")).order_by("-created_at").values("risk")[:1]
        students = students.annotate(latest_risk=Subquery(latest)).filter(latest_risk=risk)
    return students


def prediction_list_for_student(*, student: Student) -> QuerySet[Prediction]:
    """Every prediction made for a student, newest first, whoever asked: seeing the student is what counts."""
    return Prediction.objects.filter(student=student).select_related("model_version")


def outcome_list_for_requester(*, user=None, api_key=None, student_id: int | None = None) -> QuerySet[Outcome]:
    """The outcomes of the students the requester may see (current and corrected ones), newest first."""
    outcomes = Outcome.objects.all()
    if api_key is None:
        outcomes = outcomes.filter(student__in=student_list_for_requester(user=user))
    if student_id is not None:
        outcomes = outcomes.filter(student_id=student_id)
    return outcomes


def student_get_for_requester(*, pk, user=None, api_key=None) -> Student:
    """The student with this id if the requester may see it; ApplicationError(kind="not_found") otherwise."""
    student = student_list_for_requester(user=user, api_key=api_key).filter(pk=pk).first()
    if student is None:
        raise ApplicationError(f"There is no student with id {pk}.", kind="not_found")
    return student
