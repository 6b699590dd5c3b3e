"""The audit log, outcomes, API keys and OAuth2 clients in the admin: in words, rounded, in the school's time zone;
names instead of "object (1)"; the site's own title."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from django.utils import timezone as django_timezone

from predictions.access.oauth_clients import oauth_client_create
from predictions.models import ApiKey, OAuthClient, Outcome, Prediction
from predictions.services import outcome_record, prediction_create, student_create
from predictions.templatetags.prediction_text import chance, grade
from tests.conftest import sign_in

pytestmark = pytest.mark.django_db

WINTER_UTC = datetime(2026, 1, 15, 8, 5, 59, tzinfo=timezone.utc)  # 08:05 in Lisbon (UTC+0 in winter)
SUMMER_UTC = datetime(2026, 7, 1, 12, 34, 56, tzinfo=timezone.utc)  # 13:34 in Lisbon (UTC+1 in summer)


@pytest.fixture(autouse=True)
def school_time_zone(settings):
    settings.TIME_ZONE = "Europe/Lisbon"


@pytest.fixture
def model_admin_client(client, model_admin):
    return sign_in(client, model_admin)


def _cells(page: str, column: str) -> list[str]:
    """The text of the list's cells of `column`, in order."""
    cells = re.findall(rf'<t[dh] class="field-{column}[^"]*">(.*?)</t[dh]>', page, re.S)
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in cells]


def test_api_keys_are_listed_with_their_state_and_last_use_in_words(model_admin_client, make_api_key):
    used, _ = make_api_key(name="used")
    make_api_key(name="unused", expiry_date=SUMMER_UTC + timedelta(days=3650))
    make_api_key(name="revoked", revoked=True)
    make_api_key(name="expired", expiry_date=django_timezone.now() - timedelta(minutes=1))
    ApiKey.objects.filter(pk=used.pk).update(last_used=SUMMER_UTC)

    page = model_admin_client.get("/admin/predictions/apikey/?o=1").content.decode()  # by name

    assert _cells(page, "name") == ["expired", "revoked", "unused", "used"]
    assert _cells(page, "state") == ["expired", "revoked", "active", "active"]
    assert _cells(page, "last_used_at") == ["never", "never", "never", "2026-07-01 13:34"]
    assert _cells(page, "expires")[2:] == ["2036-06-28 13:34", "never"]
    assert _cells(page, "scope_list")[0] == "predict, read, write"
    assert "<img" not in page[page.index('id="result_list"'):]  # words, no icons standing for yes and no
    detail = model_admin_client.get(f"/admin/predictions/apikey/{used.pk}/change/").content.decode()
    assert "Last used" in detail and "2026-07-01 13:34" in detail


def test_oauth_clients_are_listed_with_their_state_in_words(model_admin_client):
    active, _ = oauth_client_create(name="school information system", scopes=["read", "predict"])
    revoked, _ = oauth_client_create(name="old dashboard", scopes=["read"])
    OAuthClient.objects.filter(pk=revoked.pk).update(revoked=True)

    page = model_admin_client.get("/admin/predictions/oauthclient/").content.decode()
    detail = model_admin_client.get(f"/admin/predictions/oauthclient/{revoked.pk}/change/").content.decode()

    assert _cells(page, "state") == ["revoked", "active"]
    assert _cells(page, "scope_list") == ["read", "predict, read"]
    assert "<img" not in page[page.index('id="result_list"'):] and "<img" not in detail
    assert re.search(r'field-state.*?<div class="readonly">revoked</div>', detail, re.S)


def test_the_audit_log_rounds_its_numbers_and_says_who_asked(model_admin_client, active_version, user, record):
    prediction_create(record=record, source="web", user=user)
    prediction_create(record=record, source="api", api_key_prefix="AbCd1234")
    prediction_create(record=record, source="api", oauth_client_id="x" * 40, oauth_client_name="sis")
    rows = list(Prediction.objects.order_by("-created_at", "-id"))
    page = model_admin_client.get("/admin/predictions/prediction/").content.decode()

    assert sorted(_cells(page, "requester")) == ["API key AbCd1234", "OAuth2 client sis", user.username]
    assert set(_cells(page, "grade")) == {grade(row.predicted_grade) for row in rows}
    assert set(_cells(page, "pass_chance")) == {chance(row.pass_probability) for row in rows}
    assert all(re.fullmatch(r"[\d,]+\.\d ms", cell) for cell in _cells(page, "latency"))
    assert all(repr(row.latency_ms) not in page for row in rows)
    assert set(_cells(page, "version")) == {f"v{active_version.version}"}
    assert set(_cells(page, "unusual_text")) == {"no"}


def test_rows_have_names_instead_of_object_numbers(model_admin_client, active_version, user, record):
    student = student_create(data={"external_id": "s-1", **record}, teacher=user)
    first = outcome_record(student=student, final_grade=11, user=user)
    outcome_record(student=student, final_grade=12, user=user)
    prediction = prediction_create(record=record, source="web", user=user)
    Outcome.objects.filter(pk=first.pk).update(recorded_at=WINTER_UTC)
    first.refresh_from_db()

    outcomes = model_admin_client.get("/admin/predictions/outcome/").content.decode()
    detail = model_admin_client.get(f"/admin/predictions/prediction/{prediction.pk}/change/").content.decode()

    assert str(first) == "Final grade 11 recorded 2026-01-15 08:05 (corrected)"
    assert _cells(outcomes, "state") == ["current", "corrected"]
    assert str(prediction).startswith("Web prediction of ")
    assert "object (" not in outcomes + detail and str(prediction) in detail
    assert f"{grade(prediction.predicted_grade)}</div>" in detail and repr(prediction.latency_ms) not in detail
    assert f"{chance(prediction.pass_probability)}</div>" in detail and repr(prediction.pass_probability) not in detail


def test_the_admin_is_titled_studentperf_administration(model_admin_client):
    page = model_admin_client.get("/admin/").content.decode()

    assert "<title>studentperf administration | studentperf administration</title>" in page
    assert 'studentperf administration</a></div>' in page and "Django administration" not in page
