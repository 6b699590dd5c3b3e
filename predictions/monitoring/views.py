"""The model admins' monitoring pages: `/monitoring/` (status, charts, alerts, run the check now) and
`/monitoring/accuracy/` (every figure of the latest check per version, as tables)."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import Resolver404, resolve, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from modelstore.selectors import model_version_active_find
from predictions.access.roles import ACCURACY_CHECK_RUN, ACCURACY_CHECK_VIEW, ALERT_ACKNOWLEDGE
from predictions.models import AccuracyCheck, Alert
from predictions.monitoring import figures
from predictions.monitoring.alerts import alert_acknowledge, alert_list_open
from predictions.monitoring.selectors import (
    accuracy_check_latest_list,
    accuracy_check_shown,
    challenger_summary_current,
    drift_check_shown,
)
from predictions.monitoring.services import accuracy_check_queue
from predictions.monitoring.texts import (
    FIGURES,
    check_sentences,
    drift_sentence,
    interventions_summary,
    metrics_shown,
    status_sentences,
    unusual_summary,
)
from studentperf.errors import ApplicationError


def _version_section(check: AccuracyCheck) -> dict:
    subgroups = [
        {"feature": feature, "value": value, **metrics_shown(metrics)}
        for feature, groups in check.subgroups.items() for value, metrics in sorted(groups.items())
    ]
    drift = [
        {"feature": name, **result, "p_value_shown": "n/a" if result["p_value"] is None else f"{result['p_value']:.2g}"}
        for name, result in check.drift.get("features", {}).items()
    ]
    return {
        "check": check,
        "sentences": check_sentences(check),
        "row": metrics_shown(check.metrics),
        "subgroups": subgroups,
        "interventions": interventions_summary(check),
        "drift_words": drift_sentence(check.drift),
        "drift": drift,
    }


def _monitoring_page(request: HttpRequest, *, status: int = 200, queue_error: str = "") -> HttpResponse:
    active = model_version_active_find()
    alerts = list(alert_list_open())
    latest, drift = accuracy_check_shown(active=active), drift_check_shown(active=active)
    charts = {
        **figures.version_figures(active=active, can_run=request.user.has_perm(ACCURACY_CHECK_RUN)),
        **figures.traffic_figures(),
        "errors": figures.error_figure(),
        "drift": figures.drift_figure(check=drift),
        "subgroups": figures.subgroup_figure(check=latest),
        "calibration": figures.reliability_figure(check=latest),
    }
    context = {
        "status": status_sentences(active=active, check=latest, open_alerts=len(alerts), drift=drift),
        "alerts": alerts,
        "charts": charts,
        "unusual": unusual_summary(latest),
        "challenger": challenger_summary_current(),
        "queue_error": queue_error,
    }
    return render(request, "predictions/monitoring.html", context, status=status)


def _accuracy_page(request: HttpRequest, *, status: int = 200, queue_error: str = "") -> HttpResponse:
    context = {
        "sections": [_version_section(check) for check in accuracy_check_latest_list()],
        "headings": [heading for _, heading, _ in FIGURES],
        "alerts": alert_list_open(),
        "active": model_version_active_find(),
        "queue_error": queue_error,
    }
    return render(request, "predictions/monitoring_accuracy.html", context, status=status)


def _back(request: HttpRequest) -> str:
    """Where a form sends the user back: its `next` field when that is a path of this site, else `/monitoring/`."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return reverse("predictions:monitoring")


def _back_page(request: HttpRequest):
    """The page function to render the answer with, for the page the form came from."""
    try:
        name = resolve(_back(request).split("?", 1)[0]).url_name
    except Resolver404:
        name = None
    return _accuracy_page if name == "monitoring-accuracy" else _monitoring_page


@login_required
@permission_required(ACCURACY_CHECK_VIEW, raise_exception=True)
def monitoring(request: HttpRequest) -> HttpResponse:
    return _monitoring_page(request)


@login_required
@permission_required(ACCURACY_CHECK_VIEW, raise_exception=True)
def monitoring_accuracy(request: HttpRequest) -> HttpResponse:
    return _accuracy_page(request)


@login_required
@require_POST
@permission_required(ACCURACY_CHECK_RUN, raise_exception=True)
def monitoring_accuracy_run(request: HttpRequest) -> HttpResponse:
    try:
        accuracy_check_queue()
    except ApplicationError as exc:
        if exc.kind != "unavailable":
            raise
        return _back_page(request)(request, status=503, queue_error=exc.message)
    messages.success(request, "The check is queued: a worker runs it now. Reload this page in a minute to see it.")
    return redirect(_back(request))


@login_required
@require_POST
@permission_required(ALERT_ACKNOWLEDGE, raise_exception=True)
def monitoring_alert_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    alert = alert_acknowledge(alert=get_object_or_404(Alert, pk=pk), user=request.user)
    messages.success(request, f"Alert acknowledged: {alert.get_kind_display().lower()}.")
    return redirect(_back(request))
