"""The model admins' monitoring page: the latest accuracy and drift check per version, alerts, run it now."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from modelstore.selectors import model_version_active
from studentperf.errors import ApplicationError

from .accuracy import FIGURES, accuracy_check_latest, accuracy_check_queue, metrics_shown
from .alerts import alert_acknowledge, alert_list_open
from .models import AccuracyCheck, Alert
from .roles import ACCURACY_CHECK_RUN, ACCURACY_CHECK_VIEW, ALERT_ACKNOWLEDGE

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


def _page(request: HttpRequest, *, status: int = 200, queue_error: str = "") -> HttpResponse:
    context = {
        "sections": [_version_section(check) for check in accuracy_check_latest()],
        "headings": [heading for _, heading, _ in FIGURES],
        "alerts": alert_list_open(),
        "active": model_version_active(),
        "queue_error": queue_error,
    }
    return render(request, "predictions/monitoring_accuracy.html", context, status=status)


@login_required
@permission_required(ACCURACY_CHECK_VIEW, raise_exception=True)
def monitoring_accuracy(request: HttpRequest) -> HttpResponse:
    return _page(request)


@login_required
@require_POST
@permission_required(ACCURACY_CHECK_RUN, raise_exception=True)
def monitoring_accuracy_run(request: HttpRequest) -> HttpResponse:
    try:
        accuracy_check_queue()
    except ApplicationError as exc:
        if exc.kind != "unavailable":
            raise
        return _page(request, status=503, queue_error=exc.message)
    messages.success(request, "The check is queued: a worker runs it now. Reload this page in a minute to see it.")
    return redirect("predictions:monitoring-accuracy")


@login_required
@require_POST
@permission_required(ALERT_ACKNOWLEDGE, raise_exception=True)
def monitoring_alert_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    alert = alert_acknowledge(alert=get_object_or_404(Alert, pk=pk), user=request.user)
    messages.success(request, f"Alert acknowledged: {alert.get_kind_display().lower()}.")
    return redirect("predictions:monitoring-accuracy")
