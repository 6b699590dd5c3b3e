"""The teacher pages: dashboard, the prediction form and a prediction's result."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from modelstore.schema import SETUP_DESCRIPTIONS
from modelstore.selectors import active_model_get
from studentperf.errors import ApplicationError

from .forms import StudentRecordForm, application_error_add
from .models import Prediction
from .selectors import prediction_list_for_user
from .services import prediction_create

RECENT_PREDICTIONS = 10


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    predictions = prediction_list_for_user(user=request.user)[:RECENT_PREDICTIONS]
    return render(request, "predictions/dashboard.html", {"predictions": predictions})


@login_required
def prediction_new(request: HttpRequest) -> HttpResponse:
    form = StudentRecordForm(request.POST or None)
    try:
        if request.method == "POST" and form.is_valid():
            prediction = prediction_create(record=form.cleaned_data, source=Prediction.Source.WEB, user=request.user)
            return redirect("predictions:detail", pk=prediction.pk)
        if request.method != "POST":
            active_model_get()  # to say up front, not after the form is filled in, that none is active
    except ApplicationError as exc:
        if exc.kind == "unavailable":
            return render(request, "predictions/prediction_form.html", {"form": form, "unavailable": True}, status=503)
        application_error_add(form, exc)
    return render(request, "predictions/prediction_form.html", {"form": form})


@login_required
def prediction_detail(request: HttpRequest, pk) -> HttpResponse:
    prediction = get_object_or_404(prediction_list_for_user(user=request.user), pk=pk)
    context = {"prediction": prediction, "setup_description": SETUP_DESCRIPTIONS[prediction.setup]}
    return render(request, "predictions/prediction_detail.html", context)
