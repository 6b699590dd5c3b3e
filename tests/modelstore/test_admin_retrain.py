"""The version list's "Retrain from recorded outcomes" button: model admins only, POST only, queued on a worker.

The worker side (the task trains, registers and offers the challenger) runs for real in
tests/integration/test_retrain.py; here the broker is stood in for, as in the monitoring page's tests."""
from __future__ import annotations

import pytest
from django.test import Client

from modelstore.models import ModelVersion
from modelstore.retraining import MIN_MEASURED_ROWS
from predictions import tasks
from tests.conftest import sign_in
from tests.predictions.retraining.conftest import graded  # noqa: F401 (fixture used by name)

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/modelstore/modelversion/"
RETRAIN = f"{CHANGELIST}retrain/"


def signed_in(user, **kwargs) -> Client:
    client = Client(**kwargs)
    sign_in(client, user)
    return client


@pytest.fixture
def queued(monkeypatch):
    """Stands in for the broker: `.up` says whether it answers; `.sent` lists the arguments of each task queued."""
    class Queue:
        up = True
        sent: list[tuple] = []

    monkeypatch.setattr("studentperf.celery.broker_ping", lambda timeout=1.0: Queue.up)
    monkeypatch.setattr(tasks.model_retrain, "delay", lambda *args: Queue.sent.append(args))
    return Queue


@pytest.fixture
def outcomes(graded):  # noqa: F811
    """Enough students with a recorded final grade for a run to train."""
    return graded(MIN_MEASURED_ROWS)


def test_a_model_admin_sees_the_button_and_queues_a_retraining(model_admin, queued, outcomes):
    client = signed_in(model_admin)

    page = client.get(CHANGELIST).content.decode()
    assert f'action="{RETRAIN}"' in page and 'value="Retrain from recorded outcomes"' in page

    response = client.post(RETRAIN, follow=True)

    assert response.redirect_chain == [(CHANGELIST, 302)]
    assert queued.sent == [(model_admin.pk, False)]  # the task gets ids: who asked
    assert "Retraining from recorded outcomes is queued: it takes a minute or two." in response.content.decode()
    assert not ModelVersion.objects.exists()  # nothing trained inside the request


def test_the_button_under_a_school_only_rejection_adds_the_uci_students(model_admin, queued, outcomes):
    response = signed_in(model_admin).post(RETRAIN, {"include_base_data": "1"}, follow=True)

    assert queued.sent == [(model_admin.pk, True)]
    assert "Retraining from recorded outcomes is queued" in response.content.decode()


def test_with_the_broker_down_the_button_says_so_and_queues_nothing(model_admin, queued, outcomes):
    queued.up = False

    response = signed_in(model_admin).post(RETRAIN, follow=True)

    assert "Retraining could not be queued: the task queue (Redis) is not reachable" in response.content.decode()
    assert queued.sent == []


def test_with_too_few_outcomes_the_button_says_how_many_are_needed_and_queues_nothing(
    model_admin, queued, graded  # noqa: F811
):
    graded(MIN_MEASURED_ROWS - 1)

    response = signed_in(model_admin).post(RETRAIN, follow=True)

    assert (
        f"Retraining was not queued. Only {MIN_MEASURED_ROWS - 1} student(s) have a recorded final grade; at least "
        f"{MIN_MEASURED_ROWS} are needed to train and measure a version on the school&#x27;s students."
    ) in response.content.decode()
    assert queued.sent == []


def test_the_retrain_url_is_post_only(model_admin, queued):
    assert signed_in(model_admin).get(RETRAIN).status_code == 405
    assert queued.sent == []


def test_the_post_needs_the_csrf_token(model_admin, queued):
    response = signed_in(model_admin, enforce_csrf_checks=True).post(RETRAIN)

    assert response.status_code == 403 and queued.sent == []


def test_staff_without_the_model_admin_role_can_neither_see_nor_use_the_button(django_user_model, queued):
    from django.contrib.auth.models import Permission

    staff = django_user_model.objects.create_user(username="staff", password="a-long-test-password", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_modelversion"))
    client = signed_in(staff)

    assert "Retrain from recorded outcomes" not in client.get(CHANGELIST).content.decode()
    assert client.post(RETRAIN).status_code == 403
    assert queued.sent == []


def test_a_teacher_is_sent_to_the_admin_login(user, queued):
    response = signed_in(user).post(RETRAIN)

    assert response.status_code == 302 and response.url.startswith("/admin/login/")
    assert queued.sent == []


def test_a_retrained_version_page_shows_its_figures_on_the_schools_students_beside_the_active_one(
    model_admin, register
):
    figures = {"pass_accuracy": 0.9, "rmse": 1.5, "interval_coverage": 0.88, "brier": 0.07, "interval_width": 5.0}
    version = register(name="retrained", metrics={"retraining": {
        "protocol": "each of the 120 school students predicted by a pipeline trained without it", "rows": 120,
        "figures": {"new": figures, "active": {**figures, "pass_accuracy": 0.85, "rmse": 1.9}},
        "active_version": 3, "active_trained_on_school": False, "better": True, "rule": "accuracy and RMSE",
    }})
    # A retrained version always records what it was trained on.
    ModelVersion.objects.filter(pk=version.pk).update(training_data={
        "rows": 515, "sources": {"uci": 395, "school": 120}, "outcomes_from": "2026-06-01",
        "outcomes_to": "2026-07-01", "sha256": "0" * 64, "exported_at": "2026-12-05T01:00:00+00:00",
    })
    plain = register(name="plain")

    page = signed_in(model_admin).get(f"{CHANGELIST}{version.pk}/change/").content.decode()

    assert "Measured on this school's 120 students with a recorded final grade" in page
    assert "Better than v3 by the rule (accuracy and RMSE)." in page
    assert "<tr><th scope=\"row\">Pass/fail accuracy</th><td>90.0%</td><td>85.0%</td></tr>" in page
    plain_page = signed_in(model_admin).get(f"{CHANGELIST}{plain.pk}/change/").content.decode()
    assert 'id="retraining-figures"' not in plain_page


@pytest.mark.parametrize("uci_rows, noted", [(0, True), (395, False)], ids=["school only", "with the UCI data"])
def test_a_rejected_school_only_version_page_says_it_was_measured_on_the_uci_students(
    model_admin, register, uci_rows, noted
):
    version = register(name="retrained")
    ModelVersion.objects.filter(pk=version.pk).update(
        status=ModelVersion.Status.REJECTED,
        rejection_reason="Measured on the reference data, setup A: interval coverage 0.48, at least 0.75 needed.",
        metrics={"reference": {"rows": 395, "setups": {}}},
        training_data={"rows": 120 + uci_rows, "sources": {"uci": uci_rows, "school": 120}},
    )

    page = signed_in(model_admin).get(f"{CHANGELIST}{version.pk}/change/").content.decode()

    assert "Rejected: Measured on the reference data, setup A: interval coverage 0.48" in page
    note = (
        "Validation measures every version on the 395 UCI reference students (the published data set), not on this "
        "school&#x27;s. This version was trained on the school&#x27;s 120 students alone"
    )
    assert (note in page) is noted and ('id="reference-note"' in page) is noted
    assert ("run `python manage.py retrain --include-base-data`." in page) is noted
    assert ('value="Retrain on the school\'s and the UCI students"' in page) is noted
