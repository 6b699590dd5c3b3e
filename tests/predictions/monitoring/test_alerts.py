"""Alerts: recorded, e-mailed and posted to the webhook when a threshold is crossed; not repeated; acknowledged."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend

from predictions.models import Alert
from predictions.monitoring.alerts import alert_acknowledge, alert_list_open, alert_payload
from predictions.monitoring.services import accuracy_check_run

from tests.predictions.monitoring.accuracy_helpers import (
    agreeing_grades,
    batch_predict,
    dataset_records,
    graded_students,
    opposite_grades,
)

pytestmark = pytest.mark.django_db
EXTERNAL_ID_PREFIX = "PUPIL-"


class FailingEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        raise ConnectionRefusedError("no SMTP server here")


@pytest.fixture
def webhook():
    """A local HTTP server thread that records the JSON bodies POSTed to it; `.url`, `.received`."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"content_type": self.headers["Content-Type"], "json": json.loads(body)})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url, server.received = f"http://127.0.0.1:{server.server_port}/hook", received
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def notify(settings, webhook):
    settings.ALERT_EMAILS = ["ops@example.org", "head@example.org"]
    settings.ALERT_WEBHOOK_URL = webhook.url
    return webhook


def graded(dataset, user, *, n: int, grades_for):
    return graded_students(dataset, teacher=user, n=n, grades_for=grades_for, seed=11, prefix=EXTERNAL_ID_PREFIX)


def test_an_accuracy_alert_fires_when_accuracy_falls_below_the_threshold(active_version, dataset, user, notify):
    graded(dataset, user, n=30, grades_for=opposite_grades)

    [check] = accuracy_check_run()

    assert check.metrics["accuracy"] == 0
    alert = Alert.objects.get(kind=Alert.Kind.ACCURACY)
    assert alert.model_version == active_version and alert.check_run == check
    assert alert.details["accuracy"] == 0 and alert.details["pairs"] == 30 and alert.details["threshold"] == 0.8
    assert f"v{active_version.version}" in alert.message and "below" in alert.message
    [email] = [message for message in mail.outbox if "Accuracy below threshold" in message.subject]
    assert email.to == ["ops@example.org", "head@example.org"]
    assert alert.message in email.body
    [posted] = [hook["json"] for hook in notify.received if hook["json"]["kind"] == "accuracy"]
    assert posted == json.loads(json.dumps(alert_payload(alert=alert)))
    assert posted["model_version"] == active_version.version and posted["check_id"] == check.pk
    assert notify.received[0]["content_type"] == "application/json"
    assert alert.notified["email"]["status"] == "sent" and alert.notified["webhook"]["status"] == "sent"
    assert alert.notified["webhook"]["status_code"] == 204


def test_no_accuracy_alert_when_accuracy_is_above_the_threshold(active_version, dataset, user, notify):
    graded(dataset, user, n=30, grades_for=agreeing_grades)

    [check] = accuracy_check_run()

    assert check.metrics["accuracy"] == 1
    assert not Alert.objects.filter(kind=Alert.Kind.ACCURACY).exists()
    assert not [message for message in mail.outbox if "Accuracy" in message.subject]


def test_no_alert_with_too_few_pairs(active_version, dataset, user, notify):
    graded(dataset, user, n=29, grades_for=opposite_grades)

    [check] = accuracy_check_run()

    assert check.metrics["accuracy"] == 0 and check.pairs == 29
    assert not Alert.objects.filter(kind__in=[Alert.Kind.ACCURACY, Alert.Kind.COVERAGE]).exists()


def test_a_coverage_alert_fires_when_grades_fall_outside_the_intervals(active_version, dataset, user, settings):
    def outside(predictions):
        return [20 if prediction.interval_high < 20 else 0 for prediction in predictions]

    graded(dataset, user, n=30, grades_for=outside)

    [check] = accuracy_check_run()

    assert check.metrics["interval_coverage"] == 0 and check.metrics["stated_coverage"] == pytest.approx(0.9)
    alert = Alert.objects.get(kind=Alert.Kind.COVERAGE)
    assert alert.details["tolerance"] == 0.05 and "90%" in alert.message
    # Without ALERT_EMAILS and ALERT_WEBHOOK_URL the alert is recorded and nothing is sent.
    assert alert.notified["email"]["status"] == "skipped" and alert.notified["webhook"]["status"] == "skipped"
    assert mail.outbox == []


def test_a_drift_alert_names_the_drifting_features(active_version, dataset):
    records, _ = dataset_records(dataset, n=40, seed=12)
    batch_predict([{**record, "school": "MS", "absences": min(record["absences"] + 20, 93)} for record in records],
                  [None] * len(records))

    accuracy_check_run()

    alert = Alert.objects.get(kind=Alert.Kind.DRIFT)
    assert {"absences", "school"} <= set(alert.details["features"])
    assert alert.details["features"]["school"]["test"] == "chi2" and alert.details["features"]["school"]["p_value"] < 1e-6


def test_a_failures_alert_when_too_many_batch_rows_are_rejected(active_version, dataset):
    records, _ = dataset_records(dataset, n=20, seed=13)
    batch_predict(records, [None] * 20, rejected=10)

    accuracy_check_run()

    alert = Alert.objects.get(kind=Alert.Kind.FAILURES)
    assert alert.model_version is None  # not a model's doing
    assert alert.details["failed_share"] == pytest.approx(10 / 30) and alert.details["batch_rows"] == 30


def test_an_open_alert_is_updated_not_repeated_and_a_new_one_opens_after_acknowledgement(
    active_version, dataset, user, notify, model_admin
):
    graded(dataset, user, n=30, grades_for=opposite_grades)

    accuracy_check_run()
    [second] = accuracy_check_run()

    alert = Alert.objects.get(kind=Alert.Kind.ACCURACY)
    assert alert.check_run == second and alert.details["times_seen"] == 2
    assert len([message for message in mail.outbox if "Accuracy" in message.subject]) == 1
    assert len([hook for hook in notify.received if hook["json"]["kind"] == "accuracy"]) == 1

    alert_acknowledge(alert=alert, user=model_admin)
    accuracy_check_run()

    assert Alert.objects.filter(kind=Alert.Kind.ACCURACY).count() == 2
    assert list(alert_list_open().filter(kind=Alert.Kind.ACCURACY)) == [Alert.objects.filter(kind="accuracy").first()]
    assert len([message for message in mail.outbox if "Accuracy" in message.subject]) == 2


def test_an_alert_holds_no_student_data(active_version, dataset, user, notify):
    predictions = graded(dataset, user, n=30, grades_for=opposite_grades)

    accuracy_check_run()

    sent = json.dumps([hook["json"] for hook in notify.received]) + "".join(
        message.subject + message.body for message in mail.outbox
    )
    stored = json.dumps([[alert.message, alert.details] for alert in Alert.objects.all()])
    for text in (sent, stored):
        assert EXTERNAL_ID_PREFIX not in text
        assert "student" not in text.lower().replace("studentperf", "")
        assert str(predictions[0].pk) not in text and '"G1"' not in text


def test_failed_notifications_are_recorded_not_raised(active_version, dataset, user, settings):
    settings.ALERT_EMAILS = ["ops@example.org"]
    settings.EMAIL_BACKEND = f"{__name__}.FailingEmailBackend"
    settings.ALERT_WEBHOOK_URL = "http://127.0.0.1:9/nobody-listens"
    graded(dataset, user, n=30, grades_for=opposite_grades)

    accuracy_check_run()

    alert = Alert.objects.get(kind=Alert.Kind.ACCURACY)
    assert alert.notified["email"]["status"] == "failed" and "ConnectionRefusedError" in alert.notified["email"]["error"]
    assert alert.notified["webhook"]["status"] == "failed"


def test_acknowledge_records_who_and_when_once(active_version, dataset, user, model_admin, superuser):
    graded(dataset, user, n=30, grades_for=opposite_grades)
    accuracy_check_run()
    alert = Alert.objects.get(kind=Alert.Kind.ACCURACY)

    acknowledged = alert_acknowledge(alert=alert, user=model_admin)
    again = alert_acknowledge(alert=alert, user=superuser)

    assert acknowledged.acknowledged_by == model_admin and acknowledged.acknowledged_at is not None
    assert again.acknowledged_by == model_admin and again.acknowledged_at == acknowledged.acknowledged_at
    assert alert not in alert_list_open()
