"""Retraining end to end on a real worker: the admin's button queues it, the worker trains the full-size recipe
on the recorded outcomes, the result passes the validation gate and is offered as the challenger."""
from __future__ import annotations

import hashlib

import pytest
from django.test import Client

from modelstore import retraining
from modelstore.models import ModelVersion
from predictions.retraining.selectors import retraining_rows
from predictions.services import outcome_record
from tests.conftest import sign_in
from tests.integration.helpers import wait_for
from tests.predictions.monitoring.accuracy_helpers import dataset_records, students_predict

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_admin_button_retrains_on_a_worker_through_the_validation_gate(
    celery_worker, roles, active_version, dataset, user, model_admin
):
    records, grades = dataset_records(dataset, n=20, seed=61)
    predictions = students_predict(records, teacher=user, prefix="RT")
    for prediction, grade in zip(predictions, grades, strict=True):
        outcome_record(student=prediction.student, final_grade=grade, user=user)
    outcome_record(student=predictions[0].student, final_grade=0, user=user)  # a correction: only 0 is trained on
    client = Client()
    sign_in(client, model_admin)

    response = client.post("/admin/modelstore/modelversion/retrain/", follow=True)
    assert "Retraining from recorded outcomes is queued" in response.content.decode()

    def finished() -> ModelVersion | None:
        # Registered first, then offered as the challenger: wait for the end (or a rejection, to say why).
        retrained = ModelVersion.objects.filter(name="retrained").first()
        done = retrained and (retrained.is_challenger or retrained.status == ModelVersion.Status.REJECTED)
        return retrained if done else None

    version = wait_for(finished, timeout=600, interval=2, message="the worker's retrained challenger")
    assert version.status == ModelVersion.Status.VALIDATED, version.rejection_reason
    assert version.is_challenger and version.challenger_set_by == model_admin
    assert version.created_by == model_admin
    assert version.training_data["sources"] == {"uci": len(dataset), "school": 20}
    table = retraining.training_table(school=retraining_rows(), base=dataset, reference=dataset)
    assert version.training_data["sha256"] == hashlib.sha256(retraining.training_table_csv(table)).hexdigest()
    measured = version.metrics["retraining"]
    assert measured["rows"] == 20 and measured["active_version"] == active_version.version
    assert measured["figures"]["new"]["rmse"] > 0 and measured["figures"]["active"]["rmse"] > 0
    assert version.compiled  # the full registration ran on the worker: validation, then the ONNX graphs
    assert ModelVersion.objects.get(pk=active_version.pk).status == ModelVersion.Status.ACTIVE
