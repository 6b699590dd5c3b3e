"""Retraining on beat's schedule (RETRAIN_INTERVAL_DAYS): nobody waits for its answer, so a run that cannot train
or whose version validation rejects raises the retraining alert (one open at a time); a run that offers a version
closes it. The task runs here in this process, as the worker would run it."""
from __future__ import annotations

import pytest
from django.test import Client

from modelstore import retraining
from modelstore.models import ModelVersion
from predictions import tasks
from predictions.models import Alert
from predictions.monitoring.alerts import alert_list_open
from tests.conftest import sign_in

pytestmark = pytest.mark.django_db


def _open_retraining_alerts() -> list[Alert]:
    return list(alert_list_open().filter(kind=Alert.Kind.RETRAINING))


def test_a_scheduled_run_with_too_few_outcomes_raises_an_alert_with_the_numbers(graded, settings):
    settings.ALERT_EMAILS = ["models@school.example"]
    graded(7)

    assert tasks.model_retrain(scheduled=True) is None

    [alert] = _open_retraining_alerts()
    assert alert.message == (
        "Scheduled retraining skipped. Only 7 student(s) have a recorded final grade; at least "
        f"{retraining.MIN_MEASURED_ROWS} are needed to train and measure a version on the school's students."
    )
    assert alert.get_kind_display() == "Scheduled retraining could not run"
    assert alert.model_version is None and alert.notified["email"]["status"] == "sent"
    assert not ModelVersion.objects.exists()


def test_a_second_run_still_too_few_updates_the_open_alert_and_sends_nothing_again(graded, settings, mailoutbox):
    settings.ALERT_EMAILS = ["models@school.example"]
    graded(3)
    tasks.model_retrain(scheduled=True)
    graded(4, seed=1, prefix="S")

    tasks.model_retrain(scheduled=True)

    [alert] = _open_retraining_alerts()
    assert alert.message.startswith("Scheduled retraining skipped. Only 7 student(s) have a recorded final grade")
    assert alert.details["times_seen"] == 2
    assert len(mailoutbox) == 1  # the first run's only


def test_the_monitoring_page_shows_the_retraining_alert_to_model_admins(graded, model_admin):
    graded(3)
    tasks.model_retrain(scheduled=True)
    tasks.model_retrain(scheduled=True)
    client = Client()
    sign_in(client, model_admin)

    page = client.get("/monitoring/").content.decode()

    alerts = page[page.index('id="alerts"'):]
    assert "Scheduled retraining could not run" in alerts and "seen by 2 scheduled runs" in alerts
    assert "Scheduled retraining skipped. Only 3 student(s) have a recorded final grade" in alerts


def test_a_retraining_that_offers_a_version_closes_the_alert(small_recipe, graded, active_version):
    graded(3)
    tasks.model_retrain(scheduled=True)
    graded(9, seed=2, prefix="S")

    version_id = tasks.model_retrain(scheduled=True)

    assert ModelVersion.objects.get(pk=version_id).is_challenger
    assert _open_retraining_alerts() == []
    closed = Alert.objects.get(kind=Alert.Kind.RETRAINING)
    assert closed.acknowledged_at is not None and closed.acknowledged_by is None
    version = ModelVersion.objects.get(pk=version_id).version
    assert closed.details["resolved"] == (
        f"v{version}, retrained on 12 school students, passed validation and was offered as the challenger."
    )


def test_a_retraining_by_hand_reports_to_its_caller_and_raises_no_alert(graded):
    from predictions.retraining.services import model_retrain
    from studentperf.errors import ApplicationError

    graded(3)

    with pytest.raises(ApplicationError, match="Only 3 student"):
        model_retrain()
    with pytest.raises(ApplicationError, match="Only 3 student"):
        tasks.model_retrain()  # the button's run: the task fails, as before

    assert not Alert.objects.exists()


def test_a_scheduled_version_rejected_by_validation_raises_the_alert_with_the_reason(
    small_recipe, graded, active_version, monkeypatch
):
    graded(12, seed=5)
    trained = retraining.table_train
    monkeypatch.setattr(retraining, "table_train", lambda table: {
        setup: pipeline for setup, pipeline in trained(table).items() if setup != "C"
    })

    version_id = tasks.model_retrain(scheduled=True)

    rejected = ModelVersion.objects.get(pk=version_id)
    [alert] = _open_retraining_alerts()
    assert alert.message == (
        f"Scheduled retraining: v{rejected.version} was rejected by validation: {rejected.rejection_reason} "
        "It was not offered as the challenger."
    )
    assert alert.details["model_version"] == rejected.version
