"""The what-if page of a student (/students/<id>/what-if/): the panel's form, then the current and the changed
prediction side by side. Works without JavaScript: a plain form post answered with the page."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from modelstore.schema import FEATURES, feature_label
from predictions.access.roles import PREDICTION_ADD, STUDENT_VIEW
from predictions.forms import application_error_add
from predictions.selectors import student_list_for_user, student_record_get
from predictions.whatif.forms import WhatIfForm
from predictions.whatif.services import FIELD_PREFIX, student_what_if
from studentperf.errors import ApplicationError
from studentperf.observability import error_mark


@login_required
@permission_required(STUDENT_VIEW, raise_exception=True)
@permission_required(PREDICTION_ADD, raise_exception=True)
def student_what_if_page(request: HttpRequest, pk: int) -> HttpResponse:
    student = get_object_or_404(student_list_for_user(user=request.user), pk=pk)
    record = student_record_get(student=student)
    form = WhatIfForm(request.POST or None, record=record)
    context = {"student": student, "form": form}
    status = 200
    if request.method == "POST":
        try:
            answer = student_what_if(student=student, changes=form.changes(), user=request.user)
            context["answer"] = answer
            context["changes"] = [
                (feature_label(name), FEATURES[name].value_words(record[name]), FEATURES[name].value_words(value))
                for name, value in answer.changes.items()
            ]
        except ApplicationError as exc:
            # The service names fields "changes.<name>"; the form's fields are the names alone.
            exc.fields = {name.removeprefix(FIELD_PREFIX): reasons for name, reasons in exc.fields.items()}
            application_error_add(form, exc)
            error_mark(request, error_type="model_unavailable" if exc.kind == "unavailable" else "validation",
                       fields=form.errors)
            status = 503 if exc.kind == "unavailable" else 200
    return render(request, "predictions/student_what_if.html", context, status=status)
