"""The challenger in shadow (issue 19) with a real Celery worker on a real Redis: every prediction the active
version serves (API, web form, CSV batch) is scored again by the challenger when the sweep runs on the worker
(beat queues it every SHADOW_SWEEP_SECONDS; here the test queues it), never without one or after it is retired;
the accuracy check then compares the two on the same students."""
from __future__ import annotations

import pytest
from django.test import Client

from modelstore import services as modelstore
from predictions.models import AccuracyCheck, Prediction, ShadowPrediction
from predictions.monitoring.selectors import challenger_comparison_latest
from predictions.services import outcome_record
from predictions.tasks import shadow_predictions_sweep

from tests.integration.test_batches import class_file, finished, upload
from tests.predictions.monitoring.accuracy_helpers import dataset_records, students_predict
from tests.predictions.test_views import NEW, form_data

pytestmark = pytest.mark.django_db(transaction=True)
PREDICT = "/api/v1/predict"


@pytest.fixture(scope="session")
def other_pipelines(dataset):
    """The small recipe trained on another half of the data: a version whose predictions differ from the
    active one's, to serve as the challenger."""
    from modelstore.ml.recipe import build_pipeline
    from modelstore.schema import SETUP_FEATURES, SETUPS, TARGET

    half = dataset.sample(frac=0.5, random_state=19)

    def small(setup):
        pipeline = build_pipeline(setup)
        sizes = [name for name in pipeline.get_params()
                 if name.startswith("regressor__estimator__") and name.endswith(("__n_estimators", "__max_iter"))]
        return pipeline.set_params(**dict.fromkeys(sizes, 5)).fit(half[list(SETUP_FEATURES[setup])], half[TARGET])

    return {setup: small(setup) for setup in SETUPS}


@pytest.fixture
def challenger(active_version, other_pipelines):
    version = modelstore.model_version_register(
        pipelines=other_pipelines, name="challenger", description="trained on half the data", created_by=None
    )
    return modelstore.model_version_challenger_set(version=version, user=None)


def swept() -> int:
    """One sweep on the worker, as beat queues it: the number of shadow rows it wrote."""
    return shadow_predictions_sweep.delay().get(timeout=120)


def shadows_of(predictions) -> dict:
    """prediction id -> its shadow row, after a sweep on the worker (each of `predictions` must have one)."""
    ids = [prediction.pk for prediction in predictions]
    written = swept()
    rows = {row.prediction_id: row for row in ShadowPrediction.objects.filter(prediction_id__in=ids)}
    assert len(rows) == len(ids) <= written
    return rows


def test_api_and_web_predictions_are_scored_by_the_challenger_in_shadow(
    celery_worker, challenger, api_client, roles, make_user, record
):
    response = api_client("predict").post(PREDICT, {"instances": [record, dict(record, G2=None)]}, format="json")
    assert response.status_code == 200
    teacher = make_user("teacher")
    web = Client()
    web.force_login(teacher)
    assert web.post(NEW, form_data(dict(record, G1=None, G2=None))).status_code == 302

    served = list(Prediction.objects.order_by("created_at"))
    shadows = shadows_of(served)

    assert {prediction.source for prediction in served} == {"api", "web"} and len(served) == 3
    for prediction in served:
        shadow = shadows[prediction.pk]
        assert shadow.model_version == challenger and shadow.setup == prediction.setup
        assert 0 <= shadow.predicted_grade <= 20 and shadow.interval_low <= shadow.interval_high
    # The challenger's own numbers, not copies of the served ones; the served answer never shows them.
    assert any(shadows[p.pk].predicted_grade != p.predicted_grade for p in served)
    assert "shadow" not in response.content.decode() and "challenger" not in response.content.decode()
    assert "shadow scoring failed" not in celery_worker.log()


def test_a_batch_upload_is_scored_in_shadow_chunk_by_chunk(celery_worker, challenger, api_client):
    client = api_client("predict", "read")

    created = upload(client, class_file(120))
    assert finished(client, created["status_url"])["status"] == "done"

    served = list(Prediction.objects.filter(source="batch"))
    assert len(served) == 120
    assert {row.model_version_id for row in shadows_of(served).values()} == {challenger.pk}


def test_without_a_challenger_or_once_retired_nothing_is_scored_in_shadow(
    celery_worker, challenger, api_client, record
):
    client = api_client("predict")
    assert client.post(PREDICT, record, format="json").status_code == 200
    shadows_of(Prediction.objects.all())  # the challenger scores while it is one

    modelstore.model_version_challenger_retire(user=None)
    assert client.post(PREDICT, {"instances": [record] * 3}, format="json").status_code == 200
    reader = api_client("predict", "read")
    assert finished(reader, upload(reader, class_file(5))["status_url"])["status"] == "done"

    assert swept() == 0
    assert Prediction.objects.count() == 1 + 3 + 5
    assert ShadowPrediction.objects.count() == 1
    assert "shadow scoring failed" not in celery_worker.log()


def test_the_accuracy_check_compares_active_and_challenger_on_the_same_students(
    celery_worker, challenger, active_version, dataset, roles, user
):
    records, _ = dataset_records(dataset, n=60, seed=23)
    predictions = students_predict(records, teacher=user)
    shadows = shadows_of(predictions)
    # A data set on which the challenger is truly better: each final grade is what the challenger forecast.
    for prediction in predictions:
        outcome_record(student=prediction.student, final_grade=round(shadows[prediction.pk].predicted_grade),
                       user=user)
    from studentperf.celery import app

    check_ids = app.send_task("predictions.tasks.accuracy_check_run").get(timeout=120)

    check = AccuracyCheck.objects.get(pk__in=check_ids, model_version=active_version)
    comparison = check.challenger
    assert (comparison["students"], comparison["active_version"], comparison["challenger_version"]) == (
        60, active_version.version, challenger.version
    )
    assert comparison["verdict"] == "better"
    assert comparison["challenger"]["rmse"] < comparison["active"]["rmse"]
    assert comparison["recommendation"].startswith(
        f"The challenger v{challenger.version} is better than the active v{active_version.version} on 60 students"
    )
    assert challenger_comparison_latest()["check_id"] == check.pk
