"""The challenger's shadow scoring as a service (issue 19); tests/integration/test_shadow.py runs the sweep on a real
worker. Here: which predictions a sweep scores (since the challenger was set, served by another version, not yet
scored, within the lookback window), that a second sweep writes nothing, that a poison record or a refused package
is counted and never raised or blocking, the one-sweep lock, and that serving does nothing at all for the
challenger."""
from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.cache import cache
from django.db import connection

from modelstore import services as modelstore
from modelstore.models import ModelVersion
from predictions.models import Prediction, ShadowPrediction
from predictions.services import prediction_create_many
from predictions.shadow import services as shadow
from predictions.shadow.services import shadow_predictions_sweep
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


def _served(*records) -> list[Prediction]:
    return prediction_create_many(records=list(records), source=Prediction.Source.API)


def _shadowed() -> set:
    return set(ShadowPrediction.objects.values_list("prediction_id", flat=True))


def _created_at_set(prediction: Prediction, when) -> None:
    """Date an audit row back, as a row whose transaction committed late looks to a sweep (the audit log refuses
    updates through the ORM)."""
    fields = Prediction._meta
    with connection.cursor() as cursor:
        cursor.execute("UPDATE predictions_prediction SET created_at = %s WHERE id = %s", [
            fields.get_field("created_at").get_db_prep_value(when, connection),
            fields.pk.get_db_prep_value(prediction.pk, connection),
        ])


def test_the_sweep_writes_one_shadow_row_per_served_prediction_and_a_second_writes_nothing(challenger, record):
    served = _served(record, dict(record, G2=None))

    assert shadow_predictions_sweep() == 2
    assert shadow_predictions_sweep() == 0

    shadows = {row.prediction_id: row for row in ShadowPrediction.objects.all()}
    assert set(shadows) == {prediction.pk for prediction in served}
    for prediction in served:
        # The same recipe and data: the challenger's numbers match the served ones, on the same setup.
        shadow_row = shadows[prediction.pk]
        assert (shadow_row.model_version, shadow_row.setup) == (challenger, prediction.setup)
        assert shadow_row.predicted_grade == prediction.predicted_grade
        assert (shadow_row.interval_low, shadow_row.interval_high) == (
            prediction.interval_low, prediction.interval_high
        )


def test_without_a_challenger_a_sweep_is_one_query_and_writes_nothing(active_version, record,
                                                                      django_assert_num_queries):
    _served(record)

    with django_assert_num_queries(1):
        assert shadow_predictions_sweep() == 0
    assert not ShadowPrediction.objects.exists()


def test_predictions_served_before_the_challenger_was_set_are_not_scored(active_version, small_pipelines, record):
    [before] = _served(record)
    version = modelstore.model_version_register(pipelines=small_pipelines, name="late", created_by=None)
    modelstore.model_version_challenger_set(version=version, user=None)
    [after] = _served(record)

    assert shadow_predictions_sweep() == 1
    assert _shadowed() == {after.pk}


def test_predictions_served_by_the_challenger_itself_are_not_scored(challenger, record):
    # A process still serving a version for a moment after it was replaced, the replaced one then made challenger.
    [other] = _served(record)
    own = Prediction.objects.get(pk=other.pk)
    own.pk, own.model_version, own._state.adding = uuid.uuid4(), challenger, True
    own.save(force_insert=True)

    assert shadow_predictions_sweep() == 1
    assert _shadowed() == {other.pk}


def test_a_retired_or_promoted_challenger_scores_nothing(challenger, record):
    _served(record)
    modelstore.model_version_challenger_retire(user=None)

    assert shadow_predictions_sweep() == 0

    modelstore.model_version_challenger_set(version=challenger, user=None)
    modelstore.model_version_activate(version=challenger, user=None)
    _served(record)
    assert shadow_predictions_sweep() == 0
    assert not ShadowPrediction.objects.exists()


def test_a_sweep_goes_batch_by_batch_until_none_is_left_or_its_time_is_spent(challenger, record):
    _served(*[record] * 5)

    assert shadow_predictions_sweep(batch_size=2, time_budget=0) == 2  # one batch, then the budget is spent
    assert shadow_predictions_sweep(batch_size=2) == 3  # two more batches, the last one short
    assert len(_shadowed()) == 5


def test_the_window_starts_the_lookback_before_the_newest_prediction_scored(challenger, record, monkeypatch):
    ModelVersion.objects.filter(pk=challenger.pk).update(challenger_since=challenger.challenger_since
                                                         - timedelta(days=1))
    [newest] = _served(record)
    assert shadow_predictions_sweep() == 1
    late, too_old = _served(record, record)
    # Both committed after the sweep, dated as a long transaction would have them: within the lookback, and before.
    _created_at_set(late, newest.created_at - timedelta(seconds=shadow.SHADOW_SWEEP_LOOKBACK_SECONDS - 60))
    _created_at_set(too_old, newest.created_at - timedelta(seconds=shadow.SHADOW_SWEEP_LOOKBACK_SECONDS + 60))

    assert shadow_predictions_sweep() == 1
    assert _shadowed() == {newest.pk, late.pk}

    monkeypatch.setattr(shadow, "SHADOW_SWEEP_LOOKBACK_SECONDS", 10 * 24 * 3600)  # a longer window finds it
    assert shadow_predictions_sweep() == 1 and too_old.pk in _shadowed()


def test_a_poison_record_is_skipped_counted_and_not_tried_again(challenger, record, odd_record, monkeypatch, caplog):
    real = shadow.predict_records
    tried = []

    def failing_on_the_odd_record(predictors, records, **kwargs):
        tried.append(len(records))
        if any(each["age"] == odd_record["age"] for each in records):
            raise ValueError("the challenger cannot score this record")
        return real(predictors, records, **kwargs)

    monkeypatch.setattr(shadow, "predict_records", failing_on_the_odd_record)
    first, poison, last = _served(record, odd_record, dict(record, G2=None))
    failed_before = _counted("failed")

    assert shadow_predictions_sweep() == 2

    assert _shadowed() == {first.pk, last.pk}
    assert tried == [3, 1, 1, 1]  # the batch, then each record alone
    assert _counted("failed") == failed_before + 1
    [logged] = [entry for entry in caplog.records if entry.message == "shadow scoring failed"]
    assert (logged.prediction_ids, logged.predictions, logged.reason) == ([str(poison.pk)], 1, "ValueError")

    # The next sweeps skip it (it is within the lookback window) and score what came since.
    tried.clear()
    [newer] = _served(record)
    assert shadow_predictions_sweep() == 1 and shadow_predictions_sweep() == 0
    assert tried == [1] and newer.pk in _shadowed() and _counted("failed") == failed_before + 1


def test_a_refused_package_is_logged_and_counted_once_per_sweep_never_raised(challenger, record, settings, caplog):
    _served(record, record)
    (Path(settings.MODEL_STORE_DIR) / challenger.artifact_file).write_bytes(b"not the package")
    before = _counted("failed")

    assert shadow_predictions_sweep() == 0

    assert _counted("failed") == before + 2 and not ShadowPrediction.objects.exists()
    [logged] = [entry for entry in caplog.records if entry.message == "shadow scoring failed"]
    assert logged.model_version_id == challenger.pk and logged.predictions == 2
    assert "cannot be loaded" in logged.reason


def test_only_one_sweep_runs_at_a_time(challenger, record):
    _served(record)
    assert cache.add(shadow.LOCK_KEY, "another sweep", timeout=60)

    assert shadow_predictions_sweep() == 0 and not ShadowPrediction.objects.exists()

    cache.delete(shadow.LOCK_KEY)
    assert shadow_predictions_sweep() == 1
    assert cache.add(shadow.LOCK_KEY, "free again", timeout=60)  # the sweep released it


def test_shadow_rows_are_append_only(challenger, record):
    _served(record)
    shadow_predictions_sweep()
    shadow_row = ShadowPrediction.objects.get()

    with pytest.raises(ValueError, match="append-only"):
        ShadowPrediction.objects.update(predicted_grade=0)
    with pytest.raises(ValueError, match="append-only"):
        shadow_row.save()
    with pytest.raises(ValueError, match="append-only"):
        shadow_row.delete()


@pytest.mark.django_db(transaction=True)
def test_with_a_challenger_a_request_costs_the_same_queries_and_sends_nothing_to_the_broker(
    steady_client, small_pipelines, record, django_assert_num_queries, monkeypatch  # noqa: F811
):
    import kombu.messaging

    published = []
    monkeypatch.setattr(kombu.messaging.Producer, "publish", lambda self, *args, **kwargs: published.append(args))
    with django_assert_num_queries(2):  # the key, the audit row
        assert steady_client.post(PREDICT, record, format="json").status_code == 200
    version = modelstore.model_version_register(pipelines=small_pipelines, name="challenger", created_by=None)
    modelstore.model_version_challenger_set(version=version, user=None)

    with django_assert_num_queries(2):  # the same, with a challenger
        assert steady_client.post(PREDICT, record, format="json").status_code == 200

    assert published == []
    assert shadow_predictions_sweep() == 1  # the sweep scores it


def test_model_admins_read_the_shadow_rows_in_the_admin_and_change_nothing(challenger, record, model_admin, user):
    from django.test import Client

    from tests.conftest import sign_in

    _served(record)
    shadow_predictions_sweep()
    shadow_row = ShadowPrediction.objects.get()
    admin = Client()
    sign_in(admin, model_admin)

    listing = admin.get("/admin/predictions/shadowprediction/")
    assert listing.status_code == 200 and f"v{challenger.version}" in listing.content.decode()
    assert admin.get(f"/admin/predictions/shadowprediction/{shadow_row.pk}/change/").status_code == 200
    assert admin.get("/admin/predictions/shadowprediction/add/").status_code == 403
    assert admin.get(f"/admin/predictions/shadowprediction/{shadow_row.pk}/delete/").status_code == 403
    assert not user.has_perm("predictions.view_shadowprediction")  # teachers never see them
