from __future__ import annotations

import re
import uuid

import pytest
from django.template.defaultfilters import floatformat
from django.urls import reverse
from django.utils.html import escape

from modelstore.schema import FEATURES, SETUP_DESCRIPTIONS
from predictions.models import Prediction
from predictions.services import prediction_create
from predictions.templatetags.prediction_text import factor_sentence

NEW = "/predictions/new/"


def form_data(record: dict) -> dict:
    return {name: "" if value is None else value for name, value in record.items()}


def error_beside(content: str, name: str) -> str:
    """The text of the error list Django renders for one field (id_<name>_error), "" if none."""
    found = re.search(rf'<ul class="errorlist" id="id_{name}_error">(.*?)</ul>', content, re.S)
    return re.sub(r"<[^>]+>", " ", found.group(1)).strip() if found else ""


@pytest.fixture
def colleague(django_user_model):
    return django_user_model.objects.create_user(username="colleague", password="another-long-password")


@pytest.mark.parametrize("path", ["/", NEW, f"/predictions/{uuid.uuid4()}/"])
def test_anonymous_visitors_are_sent_to_the_login_page(client, db, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_the_login_page_logs_a_teacher_in(client, user):
    assert b"Log in" in client.get("/accounts/login/").content

    response = client.post("/accounts/login/", {"username": "teacher", "password": "a-long-test-password"})

    assert response.status_code == 302 and response["Location"] == "/"


def test_the_form_has_a_field_for_every_attribute(client, user, active_version):
    client.force_login(user)

    content = client.get(NEW).content.decode()

    for name, feature in FEATURES.items():
        assert f'name="{name}"' in content, name
        assert f'<label for="id_{name}">{escape(feature.label)}:</label>' in content, name
    assert '<option value="GP">GP (Gabriel Pereira)</option>' in content
    assert '<option value="4">4 (higher)</option>' in content
    assert re.search(r'<input type="number" name="age"[^>]*min="15"[^>]*max="22"', content)
    assert re.search(r'<input type="number" name="G1"(?![^>]*required)[^>]*>', content)


def test_a_valid_form_shows_the_prediction(client, user, active_version, record):
    client.force_login(user)

    response = client.post(NEW, form_data(dict(record, G2=None)))

    prediction = Prediction.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("predictions:detail", kwargs={"pk": prediction.pk})
    assert (prediction.source, prediction.requested_by, prediction.setup) == ("web", user, "B")
    page = client.get(response["Location"]).content.decode()
    # Rounded as the template rounds (half up), not as Python's format does (half even).
    assert f"{floatformat(prediction.predicted_grade, 1)} / 20" in page
    assert "90 % interval" in page
    assert f"{floatformat(prediction.interval_low, 1)} to {floatformat(prediction.interval_high, 1)}" in page
    assert f"{round(prediction.pass_probability * 100)} %" in page
    assert f'class="risk risk-{prediction.risk}">{prediction.get_risk_display()} risk<' in page
    assert SETUP_DESCRIPTIONS["B"] in page
    assert all(factor_sentence(factor) in page for factor in prediction.top_factors)
    assert f"v{active_version.version} (test-default)" in page


def test_an_invalid_form_shows_each_error_beside_its_field(client, user, active_version, record):
    client.force_login(user)

    response = client.post(NEW, form_data(dict(record, age="99", school="", G1="")))

    content = response.content.decode()
    assert response.status_code == 200
    assert error_beside(content, "age") == "Age must be an integer from 15 to 22."
    assert error_beside(content, "school") == "School is required."
    assert error_beside(content, "G1") == "First period grade is required when G2 is given."
    assert error_beside(content, "sex") == ""
    assert 'aria-invalid="true" aria-describedby="id_age_helptext id_age_error"' in content
    assert 'value="99"' in content  # what was typed is kept
    assert not Prediction.objects.exists()


def test_a_teacher_cannot_see_another_teachers_prediction(client, user, colleague, active_version, record):
    prediction = prediction_create(record=record, source="web", user=user)
    url = reverse("predictions:detail", kwargs={"pk": prediction.pk})

    client.force_login(colleague)
    assert client.get(url).status_code == 404

    client.force_login(user)
    assert client.get(url).status_code == 200


def test_a_superuser_sees_every_prediction(client, user, django_user_model, active_version, record):
    prediction = prediction_create(record=record, source="web", user=user)
    client.force_login(django_user_model.objects.create_superuser(username="boss", password="long-boss-password"))

    assert client.get(reverse("predictions:detail", kwargs={"pk": prediction.pk})).status_code == 200


def test_an_unknown_prediction_is_not_found(client, user):
    client.force_login(user)

    assert client.get(f"/predictions/{uuid.uuid4()}/").status_code == 404


@pytest.mark.parametrize("method", ["get", "post"])
def test_without_an_active_model_the_form_page_says_so(client, user, record, method):
    client.force_login(user)

    response = getattr(client, method)(NEW, form_data(record) if method == "post" else None)

    assert response.status_code == 503
    assert "no prediction model is active" in response.content.decode()
    assert not Prediction.objects.exists()


def test_the_dashboard_lists_my_recent_predictions_only(client, user, colleague, active_version, record):
    mine = prediction_create(record=record, source="web", user=user)
    theirs = prediction_create(record=record, source="web", user=colleague)
    client.force_login(user)

    content = client.get("/").content.decode()

    assert reverse("predictions:detail", kwargs={"pk": mine.pk}) in content
    assert reverse("predictions:detail", kwargs={"pk": theirs.pk}) not in content


@pytest.mark.parametrize(
    ("factor", "sentence"),
    [
        ({"feature": "absences", "value": 10, "effect": -0.84}, "absences = 10 lowers the predicted grade by 0.8 points"),
        ({"feature": "Medu", "value": 4, "effect": 1.02}, "Medu = 4 (higher) raises the predicted grade by 1.0 point"),
        ({"feature": "Mjob", "value": "at_home", "effect": 0.01}, "Mjob = at_home barely changes the predicted grade"),
    ],
)
def test_factors_read_as_plain_sentences(factor, sentence):
    assert factor_sentence(factor) == sentence
