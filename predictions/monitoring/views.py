"""The model admins' monitoring pages: `/monitoring/` (status, charts, alerts, run the check now) and
`/monitoring/accuracy/` (every figure of the latest check per version, as tables)."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from modelstore.selectors import model_version_active
from studentperf.errors import ApplicationError

from . import monitoring_figures as figures
from .accuracy import FIGURES, accuracy_check_latest, accuracy_check_queue, metrics_shown
from .alerts import alert_acknowledge, alert_list_open
from .models import AccuracyCheck, Alert
from .roles import ACCURACY_CHECK_RUN, ACCURACY_CHECK_VIEW, ALERT_ACKNOWLEDGE
from .selectors_monitoring import check_latest, drift_check_latest


def _plain_words(check: AccuracyCheck) -> list[str]:
    """The check's main figures as sentences a model admin reads at a glance."""
    metrics, version = check.metrics, f"v{check.model_version.version}"
    if not check.pairs:
        return [f"No final grade is recorded yet for a student or batch row that {version} predicted, so its accuracy "
                "cannot be measured yet."]
    sentences = [
        f"{version} was checked against {check.pairs} recorded final grades ({metrics['fails']} fails, "
        f"{metrics['passes']} passes). It made the right pass/fail call for {metrics['accuracy']:.0%} of them."
    ]
    if metrics.get("recall") is not None:
        sentences.append(
            f"Of the {metrics['fails']} students who failed, it had flagged {metrics['recall']:.0%} as at risk; "
            + (f"of those it flagged, {metrics['precision']:.0%} did fail." if metrics.get("precision") is not None
               else "it flagged nobody.")
        )
    sentences.append(
        f"Its predicted grade was off by {metrics['mae']:.1f} points on average, and {metrics['interval_coverage']:.0%} "
        f"of the final grades fell inside the predicted range, which promises {metrics['stated_coverage']:.0%}."
    )
    return sentences


def _drift_words(drift: dict) -> str:
    if drift.get("status") == "not enough data":
        return (f"Only {drift['samples']} records were predicted in the last {drift['window_days']} days; at least "
                f"{drift['min_samples']} are needed to compare them with the training data.")
    if drift.get("drifting"):
        return (f"The {drift['samples']} records of the last {drift['window_days']} days differ from the training "
                f"data in: {', '.join(drift['drifting'])}.")
    return f"The {drift['samples']} records of the last {drift['window_days']} days look like the training data."


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
        "sentences": _plain_words(check),
        "row": metrics_shown(check.metrics),
        "subgroups": subgroups,
        "drift_words": _drift_words(check.drift),
        "drift": drift,
    }


def _status_words(*, active, check: AccuracyCheck | None, open_alerts: int, drift: AccuracyCheck | None) -> list[str]:
    """The page's opening paragraph: what is served, the latest check, open alerts, drift, in plain words."""
    words = [f"Model v{active.version} is serving predictions." if active
             else "No model version is active: nothing is being predicted."]
    if check is None:
        words.append("No accuracy check has run yet.")
    else:
        at = timezone.localtime(check.created_at)
        when = f"The latest check of v{check.model_version.version}, on {at.day} {at:%b %Y at %H:%M},"
        words.append(
            f"{when} found the right pass/fail call for {check.metrics['accuracy']:.0%} of {check.pairs} recorded "
            "final grades." if check.pairs and check.metrics.get("accuracy") is not None
            else f"{when} had no recorded final grade to compare its predictions with yet."
        )
    words.append({0: "No alert is open.", 1: "1 alert is open (below)."}.get(
        open_alerts, f"{open_alerts} alerts are open (below)."))
    if drift is not None:
        drifting = drift.drift.get("drifting") or []
        words.append(f"Recent inputs differ from the training data in: {', '.join(drifting)}." if drifting
                     else "Recent inputs look like the training data.")
    return words


def _monitoring_page(request: HttpRequest, *, status: int = 200, queue_error: str = "") -> HttpResponse:
    active = model_version_active()
    alerts = list(alert_list_open())
    latest, drift = check_latest(active=active), drift_check_latest(active=active)
    charts = {
        **figures.version_figures(active=active, can_run=request.user.has_perm(ACCURACY_CHECK_RUN)),
        **figures.traffic_figures(),
        "errors": figures.error_figure(),
        "drift": figures.drift_figure(check=drift),
        "subgroups": figures.subgroup_figure(check=latest),
    }
    context = {
        "status": _status_words(active=active, check=latest, open_alerts=len(alerts), drift=drift),
        "alerts": alerts,
        "charts": charts,
        "queue_error": queue_error,
    }
    return render(request, "predictions/monitoring.html", context, status=status)


def _accuracy_page(request: HttpRequest, *, status: int = 200, queue_error: str = "") -> HttpResponse:
    context = {
        "sections": [_version_section(check) for check in accuracy_check_latest()],
        "headings": [heading for _, heading, _ in FIGURES],
        "alerts": alert_list_open(),
        "active": model_version_active(),
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
