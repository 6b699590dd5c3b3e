"""Alerts: what an accuracy check found wrong, recorded, sent by e-mail and webhook, acknowledged.

One open alert per (kind, model version): while an alert is not acknowledged, later checks that find the
same problem update it (latest figures, `times_seen`, `last_seen_at`, the latest check) instead of sending
it again, so a daily check does not mail the same news every day. Once acknowledged, the next check that still
finds the problem opens, and sends, a new alert. Alerts carry figures only: no student, record or external id.
"""
from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from modelstore.models import ModelVersion
from predictions.models import AccuracyCheck, Alert

logger = logging.getLogger(__name__)


def _percent(share: float) -> str:
    return f"{share:.0%}"


def _check_findings(check: AccuracyCheck) -> list[tuple[str, str, dict]]:
    """(kind, message, details) for each threshold one version's check crosses."""
    metrics, label = check.metrics, f"Model v{check.model_version.version}"
    findings = []
    enough = check.pairs >= settings.ALERT_MIN_PAIRS
    accuracy = metrics.get("accuracy")
    if enough and accuracy is not None and accuracy < settings.ALERT_ACCURACY_BELOW:
        findings.append((Alert.Kind.ACCURACY, (
            f"{label}: pass/fail accuracy {_percent(accuracy)} on {check.pairs} recorded final grades is below "
            f"the {_percent(settings.ALERT_ACCURACY_BELOW)} threshold."
        ), {"accuracy": accuracy, "threshold": settings.ALERT_ACCURACY_BELOW, "pairs": check.pairs,
            **{name: metrics.get(name) for name in ("precision", "recall", "f1", "roc_auc")}}))
    coverage, stated = metrics.get("interval_coverage"), metrics.get("stated_coverage")
    if enough and coverage is not None and stated is not None and coverage < stated - settings.ALERT_COVERAGE_TOLERANCE:
        findings.append((Alert.Kind.COVERAGE, (
            f"{label}: {_percent(coverage)} of the final grades fell inside the predicted interval, which promises "
            f"{_percent(stated)} (tolerance {_percent(settings.ALERT_COVERAGE_TOLERANCE)})."
        ), {"interval_coverage": coverage, "stated_coverage": stated, "tolerance": settings.ALERT_COVERAGE_TOLERANCE,
            "pairs": check.pairs}))
    drifting = check.drift.get("drifting") or []
    if drifting:
        features = {name: {key: check.drift["features"][name][key] for key in ("test", "statistic", "p_value")}
                    for name in drifting}
        findings.append((Alert.Kind.DRIFT, (
            f"{label}: the inputs of the last {check.drift['window_days']} days differ from the training data in "
            f"{len(drifting)} feature(s): {', '.join(drifting)}."
        ), {"features": features, "samples": check.drift["samples"], "threshold": check.drift["threshold"]}))
    return findings


def _failures_finding(check: AccuracyCheck) -> tuple[str, str, dict] | None:
    """The share of rejected batch rows is not a version's doing: one finding per run, without a version."""
    share, rows = check.failed_share, check.metrics.get("recent_batch_rows", 0)
    if share is None or rows < settings.ALERT_MIN_PAIRS or share <= settings.ALERT_FAILED_SHARE_ABOVE:
        return None
    return (Alert.Kind.FAILURES, (
        f"{_percent(share)} of the {rows} batch rows of the last {settings.DRIFT_WINDOW_DAYS} days were rejected "
        f"(threshold {_percent(settings.ALERT_FAILED_SHARE_ABOVE)})."
    ), {"failed_share": share, "batch_rows": rows, "threshold": settings.ALERT_FAILED_SHARE_ABOVE})


def alerts_record(*, checks: list[AccuracyCheck], active: ModelVersion | None) -> list[Alert]:
    """Record what `checks` (one run) found; returns the alerts opened now (those to send)."""
    if not checks:
        return []
    found = [(check, check.model_version, finding) for check in checks for finding in _check_findings(check)]
    # The failures figure is the same on every check of a run: judge it once, on the active version's check.
    run_check = next((check for check in checks if active and check.model_version_id == active.pk), checks[0])
    failures = _failures_finding(run_check)
    if failures:
        found.append((run_check, None, failures))
    return [alert for check, version, finding in found if (alert := _alert_open_or_update(check, version, *finding))]


def _alert_open_or_update(check, version, kind: str, message: str, details: dict) -> Alert | None:
    """A new alert (returned, to send), or the open one of the same kind and version updated (None)."""
    now = timezone.now().isoformat()
    with transaction.atomic():
        existing = (
            Alert.objects.select_for_update()
            .filter(kind=kind, model_version=version, acknowledged_at__isnull=True).order_by("created_at").first()
        )
        if existing is None:
            return Alert.objects.create(
                kind=kind, model_version=version, check_run=check, message=message,
                details={**details, "times_seen": 1, "first_seen_at": now, "last_seen_at": now},
            )
        existing.check_run, existing.message = check, message
        existing.details = {
            **details, "times_seen": existing.details.get("times_seen", 1) + 1,
            "first_seen_at": existing.details.get("first_seen_at", existing.created_at.isoformat()),
            "last_seen_at": now,
        }
        existing.save(update_fields=["check_run", "message", "details"])
        return None


def alert_payload(*, alert: Alert) -> dict:
    """The JSON the webhook receives (docs/monitoring.md): figures only, no student data."""
    return {
        "id": alert.pk,
        "kind": alert.kind,
        "title": alert.get_kind_display(),
        "model_version": alert.model_version.version if alert.model_version else None,
        "message": alert.message,
        "details": alert.details,
        "check_id": alert.check_run_id,
        "created_at": alert.created_at.isoformat(),
    }


def alerts_notify(*, alerts: list[Alert]) -> None:
    """Send each alert by e-mail (ALERT_EMAILS) and webhook (ALERT_WEBHOOK_URL); record how each went in
    `Alert.notified`. A failure is recorded and logged, never raised: the check itself succeeded."""
    for alert in alerts:
        alert.notified = {"email": _email_send(alert), "webhook": _webhook_post(alert)}
        alert.save(update_fields=["notified"])


def _email_send(alert: Alert) -> dict:
    recipients = settings.ALERT_EMAILS
    if not recipients:
        return {"status": "skipped", "reason": "ALERT_EMAILS is empty"}
    subject = f"[studentperf] {alert.get_kind_display()}"
    if alert.model_version:
        subject += f": model v{alert.model_version.version}"
    body = f"{alert.message}\n\nDetails:\n{json.dumps(alert.details, indent=2, sort_keys=True)}\n"
    try:
        send_mail(subject, body, None, recipients, fail_silently=False)
    except Exception as exc:  # SMTP refused, DNS, timeout...: any of them must not lose the alert
        logger.warning("alert e-mail failed", extra={"alert": alert.pk, "error": str(exc)})
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
    return {"status": "sent", "recipients": len(recipients), "at": timezone.now().isoformat()}


def _webhook_post(alert: Alert) -> dict:
    url = settings.ALERT_WEBHOOK_URL
    if not url:
        return {"status": "skipped", "reason": "ALERT_WEBHOOK_URL is not set"}
    request = urllib.request.Request(
        url, data=json.dumps(alert_payload(alert=alert)).encode(), method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "studentperf-alerts"},
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.ALERT_WEBHOOK_TIMEOUT) as response:  # noqa: S310
            status_code = response.status
    except (urllib.error.URLError, OSError, ValueError) as exc:  # HTTPError is a URLError: 4xx/5xx land here
        logger.warning("alert webhook failed", extra={"alert": alert.pk, "error": str(exc)})
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
    return {"status": "sent", "status_code": status_code, "at": timezone.now().isoformat()}


def alert_acknowledge(*, alert: Alert, user) -> Alert:
    """Mark an alert as seen and handled by `user`; acknowledging it again keeps the first acknowledgement."""
    with transaction.atomic():
        alert = Alert.objects.select_for_update().get(pk=alert.pk)
        if alert.acknowledged_at is None:
            alert.acknowledged_at, alert.acknowledged_by = timezone.now(), user
            alert.save(update_fields=["acknowledged_at", "acknowledged_by"])
    return alert


def alert_list_open() -> QuerySet[Alert]:
    """The alerts nobody acknowledged yet, newest first."""
    return Alert.objects.filter(acknowledged_at__isnull=True).select_related("model_version", "check_run")


def alert_raise(*, kind: str, message: str, details: dict) -> Alert | None:
    """An alert no check or version stands behind (a scheduled retraining that could not run): opened, or the open
    one of its kind updated, as a check's are. Returns the alert opened now (to send with alerts_notify)."""
    return _alert_open_or_update(None, None, kind, message, details)


def alerts_resolve(*, kind: str, reason: str) -> int:
    """Close the open alerts of `kind` because what they report is over (no person acknowledged them: `reason` in
    their details says what ended it). Returns how many were closed."""
    now = timezone.now()
    with transaction.atomic():
        alerts = list(Alert.objects.select_for_update().filter(kind=kind, acknowledged_at__isnull=True))
        for alert in alerts:
            alert.acknowledged_at, alert.details = now, {**alert.details, "resolved": reason}
            alert.save(update_fields=["acknowledged_at", "details"])
    return len(alerts)
