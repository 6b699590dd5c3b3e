"""The challenger's shadow scoring as a service (issue 19); tests/integration/test_shadow.py runs it on a real
worker. Here: what the task writes, that it is safe to run twice, that a retired challenger scores nothing, that a
failure is counted and never raised, and that serving costs no query for the challenger between looks."""
from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from modelstore import services as modelstore
from predictions.models import Prediction, ShadowPrediction
from predictions.services import prediction_create_many
from predictions.shadow.services import shadow_predictions_score
from studentperf.metrics.events import SHADOW_PREDICTIONS
from tests.predictions.test_api_predict import PREDICT, steady_client  # noqa: F401 (a fixture)


@pytest.fixture
def challenger(active_version, small_pipelines):
    version = modelstore.model_version_register(
        pipelines=small_pipelines, name="challenger", description="the same recipe again", created_by=None
    )
    return modelstore.model_version_challenger_set(version=version, user=None)


def _counted(outcome: str) -> float:
    return SHADOW_PREDICTIONS.labels(outcome)._value.get()


def test_the_task_writes_one_shadow_row_per_served_prediction_and_is_safe_twice(challenger, record):
    served = prediction_create_many(records=[record, dict(record, G2=None)], source=Prediction.Source.API)
    ids = [str(prediction.pk) for prediction in served]

    assert shadow_predictions_score(prediction_ids=ids, challenger_id=challenger.pk) == 2
    assert shadow_predictions_score(prediction_ids=ids, challenger_id=challenger.pk) == 0

    shadows = {row.prediction_id: row for row in ShadowPrediction.objects.all()}
    assert set(shadows) == {prediction.pk for prediction in served}
    for prediction in served:
        # The same recipe and data: the challenger's numbers match the served ones, on the same setup.
        shadow = shadows[prediction.pk]
        assert (shadow.model_version, shadow.setup) == (challenger, prediction.setup)
        assert shadow.predicted_grade == prediction.predicted_grade
        assert (shadow.interval_low, shadow.interval_high) == (prediction.interval_low, prediction.interval_high)


def test_a_retired_or_promoted_challenger_scores_nothing(challenger, record):
    [served] = prediction_create_many(records=[record], source=Prediction.Source.API)
    modelstore.model_version_challenger_retire(user=None)

    assert shadow_predictions_score(prediction_ids=[str(served.pk)], challenger_id=challenger.pk) == 0

    modelstore.model_version_challenger_set(version=challenger, user=None)
    modelstore.model_version_activate(version=challenger, user=None)
    assert shadow_predictions_score(prediction_ids=[str(served.pk)], challenger_id=challenger.pk) == 0
    assert not ShadowPrediction.objects.exists()


def test_a_refused_package_is_logged_and_counted_never_raised(challenger, record, settings, caplog):
    [served] = prediction_create_many(records=[record], source=Prediction.Source.API)
    (Path(settings.MODEL_STORE_DIR) / challenger.artifact_file).write_bytes(b"not the package")
    before = _counted("failed")

    assert shadow_predictions_score(prediction_ids=[str(served.pk)], challenger_id=challenger.pk) == 0

    assert _counted("failed") == before + 1 and not ShadowPrediction.objects.exists()
    [logged] = [entry for entry in caplog.records if entry.message == "shadow scoring failed"]
    assert logged.model_version_id == challenger.pk and logged.predictions == 1


def test_shadow_rows_are_append_only(challenger, record):
    [served] = prediction_create_many(records=[record], source=Prediction.Source.API)
    shadow_predictions_score(prediction_ids=[str(served.pk)], challenger_id=challenger.pk)
    shadow = ShadowPrediction.objects.get()

    with pytest.raises(ValueError, match="append-only"):
        ShadowPrediction.objects.update(predicted_grade=0)
    with pytest.raises(ValueError, match="append-only"):
        shadow.save()
    with pytest.raises(ValueError, match="append-only"):
        shadow.delete()


@pytest.mark.django_db(transaction=True)
def test_with_a_challenger_a_request_still_costs_no_extra_query(
    steady_client, challenger, record, django_assert_num_queries  # noqa: F811
):
    # The challenger was set in this process: it is known at once, then not looked up again for a while.
    assert steady_client.post(PREDICT, record, format="json").status_code == 200
    before = _counted("not_queued")

    with django_assert_num_queries(2):  # the key, the audit row: as without a challenger
        assert steady_client.post(PREDICT, record, format="json").status_code == 200
    assert _counted("not_queued") == before  # queued for the worker (the test settings' in-memory broker)


@pytest.mark.django_db(transaction=True)
def test_serving_looks_for_the_challenger_at_most_every_few_seconds(active_version, record, settings):
    settings.ACTIVE_MODEL_CHECK_SECONDS = 600
    prediction_create_many(records=[record], source=Prediction.Source.API)  # loads the model, looks once

    with CaptureQueriesContext(connection) as captured:
        prediction_create_many(records=[record], source=Prediction.Source.API)

    assert not [query for query in captured.captured_queries if "is_challenger" in query["sql"]]


def test_model_admins_read_the_shadow_rows_in_the_admin_and_change_nothing(challenger, record, model_admin, user):
    from django.test import Client

    from tests.conftest import sign_in

    [served] = prediction_create_many(records=[record], source=Prediction.Source.API)
    shadow_predictions_score(prediction_ids=[str(served.pk)], challenger_id=challenger.pk)
    shadow = ShadowPrediction.objects.get()
    admin = Client()
    sign_in(admin, model_admin)

    listing = admin.get("/admin/predictions/shadowprediction/")
    assert listing.status_code == 200 and f"v{challenger.version}" in listing.content.decode()
    assert admin.get(f"/admin/predictions/shadowprediction/{shadow.pk}/change/").status_code == 200
    assert admin.get("/admin/predictions/shadowprediction/add/").status_code == 403
    assert admin.get(f"/admin/predictions/shadowprediction/{shadow.pk}/delete/").status_code == 403
    assert not user.has_perm("predictions.view_shadowprediction")  # teachers never see them
