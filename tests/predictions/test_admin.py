from __future__ import annotations

import pytest

from predictions.models import Prediction
from predictions.services import prediction_create


@pytest.fixture
def prediction(active_version, user, record):
    return prediction_create(record=record, source="web", user=user)


def test_the_audit_log_is_listed_and_shown_read_only(admin_client, prediction):
    listing = admin_client.get("/admin/predictions/prediction/")
    detail = admin_client.get(f"/admin/predictions/prediction/{prediction.pk}/change/")

    assert listing.status_code == 200 and str(prediction.pk) in listing.content.decode()
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    assert 'name="predicted_grade"' not in detail.content.decode()


def test_the_audit_log_cannot_be_added_changed_or_deleted(admin_client, prediction):
    grade = prediction.predicted_grade

    assert admin_client.get("/admin/predictions/prediction/add/").status_code == 403
    assert admin_client.get(f"/admin/predictions/prediction/{prediction.pk}/delete/").status_code == 403
    admin_client.post(f"/admin/predictions/prediction/{prediction.pk}/change/", {"predicted_grade": "0"})
    admin_client.post(
        "/admin/predictions/prediction/", {"action": "delete_selected", "_selected_action": [str(prediction.pk)]}
    )

    assert Prediction.objects.get(pk=prediction.pk).predicted_grade == grade


def test_a_student_edited_in_the_admin_follows_the_record_rules(admin_client, record):
    data = {"external_id": "s-1", "teacher": "", **dict(record, G1="")}

    response = admin_client.post("/admin/predictions/student/add/", data)

    assert response.status_code == 200
    assert "First period grade is required when G2 is given." in response.content.decode()
