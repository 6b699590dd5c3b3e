"""The monitoring page: model admins see the figures, drift and alerts, run the check, acknowledge alerts."""
from __future__ import annotations

import re

import pytest
from django.test import Client

from predictions import tasks
from predictions.models import Alert
from predictions.monitoring.services import accuracy_check_run

from tests.conftest import sign_in
from tests.predictions.monitoring.accuracy_helpers import (
    batch_predict,
    dataset_records,
    graded_students,
    opposite_grades,
    unusual_students,
)

pytestmark = pytest.mark.django_db
PAGE = "/monitoring/accuracy/"
RUN = "/monitoring/accuracy/run/"


def signed_in(user) -> Client:
    client = Client()
    sign_in(client, user)
    return client


@pytest.fixture
def checked(active_version, dataset, user):
    """30 pairs whose grades contradict the predictions, and 40 shifted recent records: every table is filled."""
    graded_students(dataset, teacher=user, n=30, grades_for=opposite_grades, seed=31)
    shifted, _ = dataset_records(dataset, n=40, seed=32)
    batch_predict([{**record, "school": "MS"} for record in shifted], [None] * 40)
    [check] = accuracy_check_run()
    return check


@pytest.fixture
def queued(monkeypatch):
    """Stands in for the broker: `.up` says whether it answers; `.calls` counts the tasks queued."""
    class Queue:
        up = True
        calls = 0
        publish_fails = False

    def delay(*args, **kwargs):
        if Queue.publish_fails:
            raise ConnectionRefusedError("the broker went away")
        Queue.calls += 1

    monkeypatch.setattr("studentperf.celery.broker_ping", lambda timeout=1.0: Queue.up)
    monkeypatch.setattr(tasks.accuracy_check_run, "delay", delay)
    return Queue


def test_a_model_admin_sees_figures_subgroups_drift_and_alerts(checked, model_admin, active_version):
    response = signed_in(model_admin).get(PAGE)

    assert response.status_code == 200
    html = response.content.decode()
    version = active_version.version
    assert f"Model v{version}" in html and 'class="tag">active' in html
    assert f"v{version} was checked against 30 recorded final grades" in html
    assert "right pass/fail call for 0% of them" in html
    for heading in ("Accuracy", "Precision", "Recall", "F1", "ROC-AUC", "Brier", "RMSE", "MAE", "Coverage", "Pairs"):
        assert f">{heading}</th>" in html
    brier = checked.metrics["brier"]
    assert re.search(rf'<tbody><tr>(<td class="number">[^<]*</td>){{5}}<td class="number">{brier:.3f}</td>', html)
    assert f"Its chances to pass have a Brier score of {brier:.3f}" in html
    for feature, groups in checked.subgroups.items():  # beside the other figures of each subgroup too
        for value, metrics in groups.items():
            assert re.search(rf'<th scope="row">{feature} = {value}</th>\s*(<td class="number">[^<]*</td>){{5}}'
                             rf'<td class="number">{metrics["brier"]:.3f}</td>', html), (feature, value)
    assert "(promised 90%)" in html
    assert "sex = F" in html and "school = GP" in html and "address = U" in html
    assert '<tr data-drifting="true"><th scope="row">school</th>' in html
    assert "chi-squared" in html and "Kolmogorov-Smirnov" in html
    assert 'data-kind="accuracy"' in html and "Acknowledge" in html
    assert "Run the check now" in html
    assert 'href="/monitoring/">Monitoring</a>' in html  # the nav's Monitoring is the overview, linked from here
    assert f'<input type="hidden" name="next" value="{PAGE}">' in html  # its forms come back here


def test_the_figures_page_says_how_unusual_records_fared(active_version, dataset, user, odd_record, model_admin):
    graded_students(dataset, teacher=user, n=10, grades_for=opposite_grades, seed=35)
    unusual_students(odd_record, [4, 12, 11, 6], teacher=user)
    [check] = accuracy_check_run()
    flagged, others = check.metrics["unusual"]["flagged"], check.metrics["unusual"]["unflagged"]

    html = signed_in(model_admin).get(PAGE).content.decode()

    assert (f"<p>Unusual records: accuracy {flagged['accuracy']:.0%} on {flagged['pairs']} flagged vs "
            f"{others['accuracy']:.0%} on {others['pairs']} others.</p>") in html


def test_the_page_says_when_no_check_ran(db, model_admin):
    html = signed_in(model_admin).get(PAGE).content.decode()

    assert 'id="no-checks"' in html and "No open alert." in html


def test_teachers_are_refused_and_see_no_nav_link(checked, user):
    client = signed_in(user)

    assert client.get(PAGE).status_code == 403
    assert client.post(RUN).status_code == 403
    alert = Alert.objects.first()
    assert client.post(f"/monitoring/alerts/{alert.pk}/acknowledge/").status_code == 403
    assert Alert.objects.get(pk=alert.pk).acknowledged_at is None
    assert "Monitoring</a>" not in client.get("/").content.decode()


def test_anonymous_goes_to_the_login_page(db):
    response = Client().get(PAGE)

    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_run_now_queues_the_task(db, model_admin, queued):
    response = signed_in(model_admin).post(RUN, {"next": PAGE}, follow=True)

    assert response.redirect_chain == [(PAGE, 302)]
    assert queued.calls == 1
    assert "The check is queued" in response.content.decode()


def test_run_now_with_the_broker_lost_after_the_ping_says_so(checked, model_admin, queued):
    queued.publish_fails = True

    response = signed_in(model_admin).post(RUN)

    assert response.status_code == 503 and "could not be queued" in response.content.decode()
    assert checked.model_version.accuracy_checks.count() == 1


def test_run_now_with_the_broker_down_says_so_and_runs_nothing(checked, model_admin, queued,
                                                               django_capture_on_commit_callbacks):
    queued.up = False
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = signed_in(model_admin).post(RUN)

    assert response.status_code == 503
    assert "could not be queued" in response.content.decode()
    assert callbacks == [] and queued.calls == 0
    assert checked.model_version.accuracy_checks.count() == 1  # not run inside the request either


def test_run_now_is_post_only(db, model_admin):
    assert signed_in(model_admin).get(RUN).status_code == 405


def test_acknowledge_closes_the_alert(checked, model_admin):
    alert = Alert.objects.get(kind=Alert.Kind.ACCURACY)

    response = signed_in(model_admin).post(f"/monitoring/alerts/{alert.pk}/acknowledge/", {"next": PAGE}, follow=True)

    assert response.redirect_chain == [(PAGE, 302)]
    alert.refresh_from_db()
    assert alert.acknowledged_by == model_admin and alert.acknowledged_at is not None
    assert 'data-kind="accuracy"' not in response.content.decode()
    assert signed_in(model_admin).post("/monitoring/alerts/999999/acknowledge/").status_code == 404
