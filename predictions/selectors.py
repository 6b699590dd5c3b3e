"""Reads: what a person may see of predictions, students and outcomes."""
from __future__ import annotations

from django.db.models import QuerySet

from .models import Outcome, Prediction, Student


def prediction_list_for_user(*, user) -> QuerySet[Prediction]:
    """The predictions a person requested, newest first; a superuser sees all of them."""
    predictions = Prediction.objects.select_related("model_version", "student")
    if user.is_superuser:
        return predictions
    return predictions.filter(requested_by=user)


def student_list_for_user(*, user) -> QuerySet[Student]:
    """The students a teacher looks after; a superuser sees all of them."""
    if user.is_superuser:
        return Student.objects.all()
    return Student.objects.filter(teacher=user)


def outcome_history(*, student: Student) -> QuerySet[Outcome]:
    """Every final grade recorded for a student, the current one and the ones it corrected, newest first."""
    return Outcome.objects.filter(student=student).select_related("supersedes", "recorded_by")
