"""The challenger comparison where model admins read it (issue 19): the `challenger` block of
GET /api/v1/monitoring/accuracy, the monitoring page, and challenger_comparison_latest for the admin."""
from __future__ import annotations

import pytest
from django.test import Client

from modelstore import services as modelstore
from predictions.monitoring.selectors import challenger_comparison_latest
from predictions.monitoring.services import accuracy_check_run
from predictions.shadow.services import shadow_predictions_sweep

from tests.conftest import sign_in
from tests.predictions.monitoring.accuracy_helpers import agreeing_grades, graded_students

pytestmark = pytest.mark.django_db
URL = "/api/v1/monitoring/accuracy"
PAGE = "/monitoring/"


@pytest.fixture
def challenger(active_version, small_pipelines):
    version = modelstore.model_version_register(
        pipelines=small_pipelines, name="challenger", description="the same recipe again", created_by=None
    )
    return modelstore.model_version_challenger_set(version=version, user=None)


def compared(dataset, user, challenger, *, n: int):
    """`n` students predicted, scored in shadow by the challenger (as the worker does), given final grades, and
    checked: the active version's check."""
    predictions = graded_students(dataset, teacher=user, n=n, grades_for=agreeing_grades, seed=41)
    shadow_predictions_sweep()
    [check] = [check for check in accuracy_check_run() if check.challenger]
    return check


def test_the_api_gives_the_latest_comparison_side_by_side(challenger, active_version, dataset, user, api_client):
    check = compared(dataset, user, challenger, n=40)

    block = api_client("read").get(URL).json()["challenger"]

    assert block["check_id"] == check.pk and block["students"] == 40 and block["min_students"] == 30
    assert (block["active_version"], block["challenger_version"]) == (active_version.version, challenger.version)
    # The same recipe and data on both sides: the same figures, no difference, said in words.
    assert block["active"] == block["challenger"] and block["active"]["accuracy"] == 1.0
    assert block["differences"]["accuracy"] == {"difference": 0.0, "low": 0.0, "high": 0.0}
    assert block["verdict"] == "no_clear_difference" and block["decided_by"] is None
    assert block["recommendation"].startswith(f"No clear difference between the challenger v{challenger.version}")
    assert block["bootstrap"] == {"resamples": 2000, "seed": 19, "confidence": 0.95}


def test_too_few_students_give_not_enough_data_yet(challenger, dataset, user, api_client):
    compared(dataset, user, challenger, n=12)

    block = api_client("read").get(URL).json()["challenger"]

    assert block["verdict"] == "not_enough_data" and block["students"] == 12
    assert block["active"] is None and block["differences"] is None
    assert block["recommendation"].startswith("Not enough data yet (12 of 30 students)")


def test_without_a_challenger_the_block_is_null_and_nothing_is_stored(active_version, dataset, user, api_client):
    graded_students(dataset, teacher=user, n=5, grades_for=agreeing_grades, seed=42)
    [check] = accuracy_check_run()

    assert check.challenger == {} and challenger_comparison_latest() is None
    assert api_client("read").get(URL).json()["challenger"] is None


def test_the_monitoring_page_shows_both_versions_side_by_side(challenger, active_version, dataset, user, model_admin):
    client = Client()
    sign_in(client, model_admin)
    before = client.get(PAGE).content.decode()
    assert f"v{challenger.version} is the challenger: it scores every served prediction in shadow" in before

    compared(dataset, user, challenger, n=40)
    page = client.get(PAGE).content.decode()

    assert "The challenger: is the new version better on the same students?" in page
    assert f"No clear difference between the challenger v{challenger.version}" in page
    assert f'<th scope="col" class="number">Active v{active_version.version}</th>' in page
    assert f'<th scope="col" class="number">Challenger v{challenger.version}</th>' in page
    assert '<tr><th scope="row">Pass/fail accuracy</th><td class="number">100.0%</td>' in page


def test_once_retired_the_page_no_longer_shows_the_comparison(challenger, dataset, user, model_admin):
    compared(dataset, user, challenger, n=40)
    modelstore.model_version_challenger_retire(user=None)
    client = Client()
    sign_in(client, model_admin)

    assert 'id="challenger"' not in client.get(PAGE).content.decode()
    assert challenger_comparison_latest()["challenger_version"] == challenger.version  # still on record


def test_the_admin_pages_of_the_two_versions_compared_show_the_comparison(
    challenger, active_version, dataset, user, model_admin, small_pipelines
):
    other = modelstore.model_version_register(pipelines=small_pipelines, name="bystander", created_by=None)
    compared(dataset, user, challenger, n=40)
    client = Client()
    sign_in(client, model_admin)

    def page(version) -> str:
        return client.get(f"/admin/modelstore/modelversion/{version.pk}/change/").content.decode()

    for version in (challenger, active_version):
        shown = page(version)
        assert "The challenger on recorded outcomes, beside the active version" in shown
        assert f"No clear difference between the challenger v{challenger.version}" in shown
        assert f'<th scope="col" class="number">Challenger v{challenger.version}</th>' in shown
    assert 'id="challenger-summary"' not in page(other)
    modelstore.model_version_challenger_retire(user=None)
    assert 'id="challenger-summary"' not in page(active_version)
