from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission

from modelstore.services import model_version_register
from predictions.models import ApiKey, Outcome, Prediction, Student
from predictions.services import outcome_record, prediction_create, student_create
from tests.conftest import sign_in

ADMIN_LOGIN = "/admin/login/"


@pytest.fixture
def prediction(active_version, user, record):
    return prediction_create(record=record, source="web", user=user)


@pytest.fixture
def student(user, record):
    return student_create(data={"external_id": "s-1", **record}, teacher=user)


@pytest.fixture
def outcome(student, user):
    return outcome_record(student=student, final_grade=12, user=user)


@pytest.fixture
def model_admin_client(client, model_admin):
    sign_in(client, model_admin)
    return client


@pytest.fixture
def superuser_client(client, superuser):
    sign_in(client, superuser)
    return client


def test_the_audit_log_is_listed_and_shown_read_only(admin_client, prediction):
    listing = admin_client.get("/admin/predictions/prediction/")
    detail = admin_client.get(f"/admin/predictions/prediction/{prediction.pk}/change/")

    assert listing.status_code == 200 and str(prediction.pk) in listing.content.decode()
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    assert 'name="predicted_grade"' not in detail.content.decode()


def test_the_audit_log_shows_and_filters_the_unusual_records(admin_client, active_version, record, odd_record):
    typical = prediction_create(record=record, source="web")
    odd = prediction_create(record=odd_record, source="web")

    listing = admin_client.get("/admin/predictions/prediction/").content.decode()
    unusual_only = admin_client.get("/admin/predictions/prediction/?unusual__exact=1").content.decode()

    assert 'class="sortable column-unusual_text"' in listing
    assert '<td class="field-unusual_text">unusual</td>' in listing
    assert '<td class="field-unusual_text">no</td>' in listing
    assert 'href="?unusual__exact=1"' in listing and 'href="?unusual__isnull=True"' in listing
    assert str(odd.pk) in unusual_only and str(typical.pk) not in unusual_only


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


def test_model_admin_views_the_audit_log_but_gets_403_on_add_change_and_delete(model_admin_client, prediction, outcome):
    for path, row in (("prediction", prediction), ("outcome", outcome)):
        url = f"/admin/predictions/{path}/"
        assert model_admin_client.get(url).status_code == 200
        assert model_admin_client.get(f"{url}{row.pk}/change/").status_code == 200
        assert model_admin_client.get(f"{url}add/").status_code == 403
        assert model_admin_client.post(f"{url}add/", {}).status_code == 403
        assert model_admin_client.post(f"{url}{row.pk}/change/", {}).status_code == 403
        assert model_admin_client.get(f"{url}{row.pk}/delete/").status_code == 403
        assert model_admin_client.post(f"{url}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Prediction.objects.count() == 1 and Outcome.objects.get().final_grade == 12


def test_superuser_cannot_add_change_or_delete_predictions_or_outcomes(superuser_client, prediction, outcome):
    for path, row in (("prediction", prediction), ("outcome", outcome)):
        url = f"/admin/predictions/{path}/"
        listing = superuser_client.get(url).content.decode()
        assert "delete_selected" not in listing and f"{url}add/" not in listing
        assert superuser_client.post(f"{url}add/", {}).status_code == 403
        assert superuser_client.post(f"{url}{row.pk}/change/", {}).status_code == 403
        assert superuser_client.post(f"{url}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Prediction.objects.count() == 1 and Outcome.objects.count() == 1


def test_audit_log_is_filtered_by_model_version_source_and_date(
    model_admin_client, prediction, active_version, record, small_pipelines
):
    prediction_create(record=record, source="api")
    model_version_register(pipelines=small_pipelines, name="another")  # a choice of versions to filter by
    url = "/admin/predictions/prediction/"

    filters = model_admin_client.get(url).context["cl"].filter_specs
    by_source = model_admin_client.get(url, {"source__exact": "api"}).context["cl"].result_count
    by_version = model_admin_client.get(url, {"model_version__id__exact": active_version.pk}).context["cl"].result_count
    by_year = model_admin_client.get(url, {"created_at__year": prediction.created_at.year}).context["cl"].result_count
    searched = model_admin_client.get(url, {"q": "teacher"}).context["cl"].result_count

    assert {spec.field.name for spec in filters} >= {"model_version", "source", "created_at"}
    assert (by_source, by_version, by_year, searched) == (1, 2, 2, 1)


def test_outcomes_are_searchable_and_filtered_by_date(model_admin_client, outcome):
    url = "/admin/predictions/outcome/"

    response = model_admin_client.get(url, {"q": "s-1", "recorded_at__year": outcome.recorded_at.year})

    assert response.context["cl"].result_count == 1
    assert {spec.field.name for spec in response.context["cl"].filter_specs} >= {"recorded_at"}


def test_students_are_read_only_in_the_admin_even_with_student_permissions(client, django_user_model, student, record):
    # Teachers hold these permissions for the web app; in the admin only a superuser edits students.
    staff = django_user_model.objects.create_user(username="clerk", password="x-long-password-1", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(
        content_type__app_label="predictions", codename__in=["view_student", "add_student", "change_student", "delete_student"]
    ))
    sign_in(client, staff)
    url = "/admin/predictions/student/"

    detail = client.get(f"{url}{student.pk}/change/").content.decode()

    assert 'name="_save"' not in detail and "delete_selected" not in client.get(url).content.decode()
    assert client.post(f"{url}{student.pk}/change/", {"external_id": "changed"}).status_code == 403
    assert client.post(f"{url}add/", {"external_id": "s-2", **record}).status_code == 403
    assert client.post(f"{url}{student.pk}/delete/", {"post": "yes"}).status_code == 403
    assert list(Student.objects.values_list("external_id", flat=True)) == ["s-1"]


def test_superuser_can_edit_a_student(superuser_client, student, record):
    data = {"external_id": "s-9", "teacher": "", **{k: ("" if v is None else v) for k, v in record.items()}}

    response = superuser_client.post(f"/admin/predictions/student/{student.pk}/change/", data)

    assert response.status_code == 302 and Student.objects.get().external_id == "s-9"


def test_api_key_created_in_the_admin_is_shown_once_and_only_its_hash_is_stored(model_admin_client):
    response = model_admin_client.post(
        "/admin/predictions/apikey/add/",
        {"name": "school system", "scopes": ["read", "predict"], "expiry_date_0": "", "expiry_date_1": ""},
        follow=True,
    )

    shown = re.search(r"The API key for school system is: (\S+)\. ", response.content.decode())
    assert shown is not None
    key = shown.group(1)
    stored = ApiKey.objects.get()
    assert set(stored.scopes) == {"read", "predict"}
    assert key not in stored.hashed_key and ApiKey.objects.is_valid(key)
    assert key not in model_admin_client.get(f"/admin/predictions/apikey/{stored.pk}/change/").content.decode()
    assert key not in model_admin_client.get("/admin/predictions/apikey/").content.decode()


def test_api_key_form_offers_scopes_as_checkboxes_and_an_expiry(model_admin_client):
    page = model_admin_client.get("/admin/predictions/apikey/add/").content.decode()

    for scope in ApiKey.SCOPES:
        assert f'type="checkbox" name="scopes" value="{scope}"' in page
    assert 'name="expiry_date_0"' in page


def test_api_key_needs_a_scope(model_admin_client):
    response = model_admin_client.post("/admin/predictions/apikey/add/", {"name": "no scope"})

    assert response.status_code == 200 and "scopes" in response.context["adminform"].form.errors
    assert not ApiKey.objects.exists()


def test_model_admin_revokes_keys_with_the_action(model_admin_client, make_api_key):
    api_key, key = make_api_key()

    model_admin_client.post(
        "/admin/predictions/apikey/", {"action": "revoke", "_selected_action": [str(api_key.pk)]}
    )

    assert ApiKey.objects.get().revoked and not ApiKey.objects.is_valid(key)


def test_staff_without_change_apikey_cannot_run_the_revoke_action(client, django_user_model, make_api_key):
    viewer = django_user_model.objects.create_user(username="viewer", password="x-long-password-1", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_apikey", content_type__app_label="predictions"))
    sign_in(client, viewer)
    api_key, _ = make_api_key()

    listing = client.get("/admin/predictions/apikey/").content.decode()
    client.post("/admin/predictions/apikey/", {"action": "revoke", "_selected_action": [str(api_key.pk)]})

    assert 'value="revoke"' not in listing and not ApiKey.objects.get().revoked


def test_a_revoked_key_cannot_be_unrevoked_from_the_form(model_admin_client, make_api_key):
    api_key, _ = make_api_key(revoked=True)
    url = f"/admin/predictions/apikey/{api_key.pk}/change/"

    page = model_admin_client.get(url).content.decode()
    model_admin_client.post(url, {"name": "renamed", "scopes": ["read"], "expiry_date_0": "", "expiry_date_1": ""})

    assert 'name="revoked"' not in page and 'name="scopes"' not in page
    api_key.refresh_from_db()
    assert api_key.revoked and api_key.name == "test system" and list(api_key.scopes) == list(ApiKey.SCOPES)


def test_every_admin_action_declares_the_permission_it_needs():
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label not in ("predictions", "modelstore"):
            continue
        for func, name, _ in model_admin._get_base_actions():
            assert getattr(func, "allowed_permissions", None), f"{model.__name__} admin action {name}"


@pytest.mark.parametrize(
    "url",
    [
        "/admin/", "/admin/predictions/prediction/", "/admin/predictions/outcome/", "/admin/predictions/student/",
        "/admin/predictions/student/add/", "/admin/predictions/apikey/add/", "/admin/modelstore/modelversion/",
        "/admin/modelstore/modelactivation/",
    ],
)
def test_a_teacher_reaching_any_admin_page_gets_the_admin_login(client, user, url):
    client.force_login(user)

    response = client.get(url)

    assert response.status_code == 302 and response.url.startswith(f"{ADMIN_LOGIN}?next=")
