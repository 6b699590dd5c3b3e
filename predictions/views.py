"""The teacher pages: dashboard, students (create, edit, predict, record the final grade), predictions.

Every view checks on the server, in this order: signed in (else to the login page), the permission (else
403), then that the person may see the object (else 404, so another teacher's student does not exist).
"""
from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from modelstore.loader import loaded_model_get
from modelstore.schema import setup_for
from modelstore.selectors import model_version_active_find
from modelstore.texts import model_version_accuracy_text
from predictions.access.roles import OUTCOME_ADD, PREDICTION_ADD, STUDENT_ADD, STUDENT_CHANGE, STUDENT_VIEW
from predictions.interventions.figures import student_progress_charts, student_timeline
from predictions.interventions.forms import InterventionForm
from predictions.interventions.services import intervention_record
from predictions.whatif.forms import WhatIfForm
from studentperf.errors import ApplicationError
from studentperf.observability import error_mark

from .forms import OutcomeForm, StudentFilterForm, StudentForm, StudentRecordForm, application_error_add
from .models import Prediction, Student
from .selectors import (
    DEFAULT_STUDENT_SORT,
    intervention_list_for_student,
    outcome_history,
    prediction_list_for_student,
    prediction_list_for_user,
    quick_prediction_get_for_user,
    quick_prediction_list_for_user,
    risk_counts_for_user,
    student_list_for_user,
    student_list_with_latest_prediction,
    student_record_get,
    student_sort_clean,
)
from .services import outcome_record, prediction_create, student_create, student_update

STUDENTS_PER_PAGE = 50


def _requires(permission: str) -> Callable:
    return permission_required(permission, raise_exception=True)


def _visible_student(request: HttpRequest, pk: int) -> Student:
    return get_object_or_404(student_list_for_user(user=request.user), pk=pk)


@login_required
@_requires(STUDENT_VIEW)
def dashboard(request: HttpRequest) -> HttpResponse:
    query = {name: request.GET.get(name, "") for name in ("q", "risk", "setup", "intervention")}
    sort = student_sort_clean(request.GET.get("sort"))
    students = student_list_with_latest_prediction(user=request.user, sort=sort, **query)
    counts = risk_counts_for_user(user=request.user)
    context = {
        "page_obj": Paginator(students, STUDENTS_PER_PAGE).get_page(request.GET.get("page")),
        "counts": counts,
        "has_students": sum(counts.values()) > 0,
        "filtered": any(query.values()),
        "filter_form": StudentFilterForm(initial=query),
        "sort": sort,
        "default_sort": DEFAULT_STUDENT_SORT,
        "model_active": model_version_active_find() is not None,
        "quick_predictions": quick_prediction_list_for_user(user=request.user),
    }
    return render(request, "predictions/dashboard.html", context)


def _student_saved(request: HttpRequest, student: Student, *, verb: str) -> HttpResponse:
    """After a save, predict at once; without an active model the student stays saved and the page says so."""
    try:
        prediction_create(
            record=student_record_get(student=student), source=Prediction.Source.WEB, user=request.user, student=student
        )
    except ApplicationError as exc:
        if exc.kind != "unavailable":
            raise
        messages.warning(request, f"Student {student.external_id} {verb}. Predictions are unavailable right now: "
                                  "no prediction model is active.")
    else:
        messages.success(request, f"Student {student.external_id} {verb} and predicted.")
    return redirect("predictions:student-detail", pk=student.pk)


def _student_form_page(
    request: HttpRequest, form: StudentForm, *, student: Student | None = None, source: Prediction | None = None
) -> HttpResponse:
    context = {
        "form": form, "student": student, "source_prediction": source,
        "model_active": model_version_active_find() is not None,
    }
    return render(request, "predictions/student_form.html", context)


@login_required
@_requires(STUDENT_ADD)
def student_new(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _student_form_page(request, StudentForm())
    form = StudentForm(request.POST)
    form.is_valid()  # collects the raw text: student_create judges it
    try:
        student = student_create(data=form.cleaned_data, teacher=request.user)
    except ApplicationError as exc:
        application_error_add(form, exc)
        error_mark(request, error_type="validation", fields=form.errors)
        return _student_form_page(request, form)
    return _student_saved(request, student, verb="added")


@login_required
@_requires(STUDENT_ADD)
def student_new_from_prediction(request: HttpRequest, pk) -> HttpResponse:
    """The student form pre-filled with one of the teacher's own quick predictions; it posts to student_new,
    which saves the student and predicts them anew (prediction rows are never changed to point at a student)."""
    prediction = quick_prediction_get_for_user(user=request.user, pk=pk)
    if prediction is None:
        raise Http404("No such quick prediction.")
    return _student_form_page(request, StudentForm(record=prediction.input), source=prediction)


@login_required
@_requires(STUDENT_CHANGE)
def student_edit(request: HttpRequest, pk: int) -> HttpResponse:
    student = _visible_student(request, pk)
    if request.method != "POST":
        return _student_form_page(request, StudentForm(instance=student), student=student)
    form = StudentForm(request.POST, instance=student)
    form.is_valid()
    try:
        student = student_update(student=student, data=form.cleaned_data)
    except ApplicationError as exc:
        application_error_add(form, exc)
        error_mark(request, error_type="validation", fields=form.errors)
        # student_update may have changed the object before the database refused it: show it as stored.
        return _student_form_page(request, form, student=_visible_student(request, pk))
    return _student_saved(request, student, verb="saved")


def _student_page(
    request: HttpRequest, student: Student, *, outcome_form: OutcomeForm | None = None,
    intervention_form: InterventionForm | None = None,
) -> HttpResponse:
    predictions = list(prediction_list_for_student(student=student))
    latest = predictions[0] if predictions else None
    interventions = list(intervention_list_for_student(student=student))
    outcomes = list(outcome_history(student=student))
    context = {
        "student": student,
        "setup": setup_for(student_record_get(student=student)),
        "prediction": latest,
        "predictions": predictions,
        "accuracy_text": latest and model_version_accuracy_text(version=latest.model_version, setup=latest.setup),
        "outcomes": outcomes,
        "outcome_form": outcome_form or OutcomeForm(),
        "interventions": interventions,
        "intervention_form": intervention_form or InterventionForm(),
        "timeline": student_timeline(predictions=predictions, interventions=interventions, outcomes=outcomes),
        "progress": student_progress_charts(predictions=predictions[::-1], interventions=interventions),
        "model_active": model_version_active_find() is not None,
    }
    if request.user.has_perm(PREDICTION_ADD):
        context["what_if_form"] = WhatIfForm(record=student_record_get(student=student))
    return render(request, "predictions/student_detail.html", context)


@login_required
@_requires(STUDENT_VIEW)
def student_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _student_page(request, _visible_student(request, pk))


@login_required
@require_POST
@_requires(PREDICTION_ADD)
def student_predict(request: HttpRequest, pk: int) -> HttpResponse:
    student = _visible_student(request, pk)
    try:
        prediction_create(
            record=student_record_get(student=student), source=Prediction.Source.WEB, user=request.user, student=student
        )
    except ApplicationError as exc:
        messages.error(request, f"No new prediction: {exc.message}")
    else:
        messages.success(request, f"Student {student.external_id} predicted again.")
    return redirect("predictions:student-detail", pk=student.pk)


@login_required
@require_POST
@_requires(OUTCOME_ADD)
def student_outcome(request: HttpRequest, pk: int) -> HttpResponse:
    student = _visible_student(request, pk)
    form = OutcomeForm(request.POST)
    form.is_valid()  # collects the raw text: outcome_record judges it
    try:
        outcome = outcome_record(student=student, final_grade=form.cleaned_data["final_grade"], user=request.user)
    except ApplicationError as exc:
        application_error_add(form, exc)
        error_mark(request, error_type="validation", fields=form.errors)
        return _student_page(request, student, outcome_form=form)
    messages.success(request, f"Final grade {outcome.final_grade} recorded for student {student.external_id}.")
    return redirect("predictions:student-detail", pk=student.pk)


@login_required
@require_POST
@_requires(STUDENT_CHANGE)
def student_intervention(request: HttpRequest, pk: int) -> HttpResponse:
    student = _visible_student(request, pk)
    form = InterventionForm(request.POST)
    form.is_valid()  # collects the raw text: intervention_record judges it
    data = form.cleaned_data
    try:
        intervention_record(
            student=student, kind=data.get("kind", ""), date_done=data.get("date"), note=data.get("note", ""),
            user=request.user,
        )
    except ApplicationError as exc:
        application_error_add(form, exc)
        error_mark(request, error_type="validation", fields=form.errors)
        return _student_page(request, student, intervention_form=form)
    messages.success(request, f"Intervention recorded for student {student.external_id}.")
    return redirect(f"{reverse('predictions:student-detail', kwargs={'pk': student.pk})}#interventions")


@login_required
@_requires(PREDICTION_ADD)
def prediction_new(request: HttpRequest) -> HttpResponse:
    form = StudentRecordForm(request.POST or None)
    try:
        if request.method == "POST" and form.is_valid():
            prediction = prediction_create(record=form.cleaned_data, source=Prediction.Source.WEB, user=request.user)
            return redirect("predictions:detail", pk=prediction.pk)
        if request.method != "POST":
            loaded_model_get()  # to say up front, not after the form is filled in, that none is active
    except ApplicationError as exc:
        if exc.kind == "unavailable":
            error_mark(request, error_type="model_unavailable")
            return render(request, "predictions/prediction_form.html", {"form": form, "unavailable": True}, status=503)
        application_error_add(form, exc)
    if form.errors:
        error_mark(request, error_type="validation", fields=form.errors)
    return render(request, "predictions/prediction_form.html", {"form": form})


@login_required
def prediction_detail(request: HttpRequest, pk) -> HttpResponse:
    prediction = get_object_or_404(prediction_list_for_user(user=request.user), pk=pk)
    student_visible = (
        prediction.student_id is not None
        and student_list_for_user(user=request.user).filter(pk=prediction.student_id).exists()
    )
    context = {
        "prediction": prediction,
        "accuracy_text": model_version_accuracy_text(version=prediction.model_version, setup=prediction.setup),
        "student": prediction.student if student_visible else None,
        "savable_as_student": (
            prediction.student_id is None and request.user.has_perm(STUDENT_ADD)
            and quick_prediction_get_for_user(user=request.user, pk=prediction.pk) is not None
        ),
    }
    return render(request, "predictions/prediction_detail.html", context)
