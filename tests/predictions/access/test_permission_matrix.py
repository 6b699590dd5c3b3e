"""The permission matrix: every page, form post, admin page and admin action against every kind of account.

One test per account kind runs every request in the order below and compares the whole row of statuses, so a
failure lists every cell that differs. "login" means a redirect to the app's login page, "admin-login" to
the admin's. The requests that change something (predict, record an outcome, upload, activate, roll back,
revoke) are real: for the accounts allowed to make them they succeed; for the others nothing changes.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import AccessToken

from modelstore import services as model_services
from modelstore.models import ModelVersion
from predictions.access.oauth_clients import oauth_client_create
from predictions.models import Alert, BatchJob, Outcome, Prediction
from predictions.selectors import student_record_get
from predictions.services import outcome_record, prediction_create, student_create
from tests.conftest import sign_in

pytestmark = pytest.mark.django_db

ACTORS = ("anonymous", "teacher", "other_teacher", "model_admin", "superuser", "no_role", "staff_no_rights")


@dataclass
class World:
    student: object
    prediction: object
    outcome: object
    candidate: object  # a validated, not yet active model version
    api_key: object
    batch: object  # the teacher's finished batch job
    alert: object  # an open alert
    oauth_client: object  # an OAuth2 client with the "read" scope
    token: object  # an access token of that client


@dataclass(frozen=True)
class Row:
    label: str
    method: str
    url: Callable[[World], str]
    expected: dict  # actor -> status or "login" / "admin-login"
    data: Callable[[World], dict] | None = None


def _all(status, **overrides) -> dict:
    return {actor: overrides.get(actor, status) for actor in ACTORS}


def _app(anonymous="login", **statuses) -> dict:
    return {"anonymous": anonymous, **statuses}


def _admin(**statuses) -> dict:
    """Admin pages: only staff get in; everyone else is sent to the admin's login page."""
    return {actor: "admin-login" for actor in ("anonymous", "teacher", "other_teacher", "no_role")} | statuses


STUDENT = "/students/{w.student.pk}/"
VERSIONS = "/admin/modelstore/modelversion/"

ROWS = (
    # -- the teacher pages -------------------------------------------------------------------------------------
    Row("dashboard", "get", lambda w: "/",
        _app(teacher=200, other_teacher=200, model_admin=200, superuser=200, no_role=403, staff_no_rights=403)),
    Row("new student form", "get", lambda w: "/students/new/",
        _app(teacher=200, other_teacher=200, model_admin=403, superuser=200, no_role=403, staff_no_rights=403)),
    Row("new student post (empty)", "post", lambda w: "/students/new/",
        _app(teacher=200, other_teacher=200, model_admin=403, superuser=200, no_role=403, staff_no_rights=403),
        data=lambda w: {}),
    Row("student page", "get", lambda w: STUDENT.format(w=w),
        _app(teacher=200, other_teacher=404, model_admin=200, superuser=200, no_role=403, staff_no_rights=403)),
    Row("edit student form", "get", lambda w: STUDENT.format(w=w) + "edit/",
        _app(teacher=200, other_teacher=404, model_admin=403, superuser=200, no_role=403, staff_no_rights=403)),
    Row("edit student post (bad age)", "post", lambda w: STUDENT.format(w=w) + "edit/",
        _app(teacher=200, other_teacher=404, model_admin=403, superuser=200, no_role=403, staff_no_rights=403),
        data=lambda w: {"external_id": "S-1", **_form_record(w), "age": "99"}),
    Row("predict is POST only", "get", lambda w: STUDENT.format(w=w) + "predict/", _app(**_all(405, anonymous="login"))),
    Row("predict again", "post", lambda w: STUDENT.format(w=w) + "predict/",
        _app(teacher=302, other_teacher=404, model_admin=302, superuser=302, no_role=403, staff_no_rights=403),
        data=lambda w: {}),
    Row("record final grade", "post", lambda w: STUDENT.format(w=w) + "outcome/",
        _app(teacher=302, other_teacher=404, model_admin=403, superuser=302, no_role=403, staff_no_rights=403),
        data=lambda w: {"final_grade": "13"}),
    Row("quick prediction form", "get", lambda w: "/predictions/new/",
        _app(teacher=200, other_teacher=200, model_admin=200, superuser=200, no_role=403, staff_no_rights=403)),
    Row("prediction page", "get", lambda w: f"/predictions/{w.prediction.pk}/",
        _app(teacher=200, other_teacher=404, model_admin=200, superuser=200, no_role=404, staff_no_rights=404)),
    Row("change password", "get", lambda w: "/accounts/password_change/", _app(**_all(200, anonymous="login"))),
    # -- batch jobs and monitoring ---------------------------------------------------------------------------
    Row("my batch jobs", "get", lambda w: "/batches/",
        _app(teacher=200, other_teacher=200, model_admin=200, superuser=200, no_role=403, staff_no_rights=403)),
    Row("upload a class", "get", lambda w: "/batches/new/",
        _app(teacher=200, other_teacher=200, model_admin=403, superuser=200, no_role=403, staff_no_rights=403)),
    Row("upload a class post (no file)", "post", lambda w: "/batches/new/",
        _app(teacher=200, other_teacher=200, model_admin=403, superuser=200, no_role=403, staff_no_rights=403),
        data=lambda w: {}),
    Row("batch job page", "get", lambda w: f"/batches/{w.batch.pk}/",
        _app(teacher=200, other_teacher=404, model_admin=200, superuser=200, no_role=403, staff_no_rights=403)),
    Row("batch job status", "get", lambda w: f"/batches/{w.batch.pk}/status.json",
        _app(teacher=200, other_teacher=404, model_admin=200, superuser=200, no_role=403, staff_no_rights=403)),
    Row("batch results", "get", lambda w: f"/batches/{w.batch.pk}/results.csv",
        _app(teacher=200, other_teacher=404, model_admin=200, superuser=200, no_role=403, staff_no_rights=403)),
    Row("monitoring overview", "get", lambda w: "/monitoring/",
        _app(teacher=403, other_teacher=403, model_admin=200, superuser=200, no_role=403, staff_no_rights=403)),
    Row("monitoring page", "get", lambda w: "/monitoring/accuracy/",
        _app(teacher=403, other_teacher=403, model_admin=200, superuser=200, no_role=403, staff_no_rights=403)),
    Row("run the accuracy check", "post", lambda w: "/monitoring/accuracy/run/",
        _app(teacher=403, other_teacher=403, model_admin=302, superuser=302, no_role=403, staff_no_rights=403),
        data=lambda w: {}),
    Row("acknowledge an alert", "post", lambda w: f"/monitoring/alerts/{w.alert.pk}/acknowledge/",
        _app(teacher=403, other_teacher=403, model_admin=302, superuser=302, no_role=403, staff_no_rights=403),
        data=lambda w: {}),
    Row("api batch job", "get", lambda w: f"/api/v1/batches/{w.batch.pk}",
        _all(200, anonymous=401, other_teacher=404, no_role=403, staff_no_rights=403)),
    Row("api accuracy checks", "get", lambda w: "/api/v1/monitoring/accuracy",
        _all(403, anonymous=401, model_admin=200, superuser=200)),
    # -- the API with a session --------------------------------------------------------------------------------
    Row("api students", "get", lambda w: "/api/v1/students",
        _all(200, anonymous=401, no_role=403, staff_no_rights=403)),
    Row("api student", "get", lambda w: f"/api/v1/students/{w.student.pk}",
        _all(200, anonymous=401, other_teacher=404, no_role=403, staff_no_rights=403)),
    # -- the admin: model versions -----------------------------------------------------------------------------
    Row("admin index", "get", lambda w: "/admin/", _admin(model_admin=200, superuser=200, staff_no_rights=200)),
    Row("model versions", "get", lambda w: VERSIONS, _admin(model_admin=200, superuser=200, staff_no_rights=403)),
    Row("upload form", "get", lambda w: VERSIONS + "upload/", _admin(model_admin=200, superuser=200, staff_no_rights=403)),
    Row("upload a corrupt file", "post", lambda w: VERSIONS + "upload/",
        _admin(model_admin=302, superuser=302, staff_no_rights=403),
        data=lambda w: {"file": SimpleUploadedFile("m.skops", b"not a model"), "name": "junk", "description": ""}),
    Row("activate: confirm", "get", lambda w: f"{VERSIONS}{w.candidate.pk}/activate/",
        _admin(model_admin=200, superuser=200, staff_no_rights=403)),
    Row("activate", "post", lambda w: f"{VERSIONS}{w.candidate.pk}/activate/",
        _admin(model_admin=302, superuser=302, staff_no_rights=403), data=lambda w: {}),
    Row("rollback: confirm", "get", lambda w: VERSIONS + "rollback/",
        _admin(model_admin=200, superuser=200, staff_no_rights=403)),
    Row("rollback", "post", lambda w: VERSIONS + "rollback/",
        _admin(model_admin=302, superuser=302, staff_no_rights=403), data=lambda w: {}),
    Row("activate action", "post", lambda w: VERSIONS,
        _admin(model_admin=302, superuser=302, staff_no_rights=403),
        data=lambda w: {"action": "activate_selected", "_selected_action": [str(w.candidate.pk)]}),
    Row("add version by hand", "get", lambda w: VERSIONS + "add/", _admin(model_admin=403, superuser=403, staff_no_rights=403)),
    Row("delete a version", "get", lambda w: f"{VERSIONS}{w.candidate.pk}/delete/",
        _admin(model_admin=403, superuser=403, staff_no_rights=403)),
    Row("activation history", "get", lambda w: "/admin/modelstore/modelactivation/",
        _admin(model_admin=200, superuser=200, staff_no_rights=403)),
    # -- the admin: audit log, outcomes, students --------------------------------------------------------------
    Row("audit log", "get", lambda w: "/admin/predictions/prediction/",
        _admin(model_admin=200, superuser=200, staff_no_rights=403)),
    Row("audit row", "get", lambda w: f"/admin/predictions/prediction/{w.prediction.pk}/change/",
        _admin(model_admin=200, superuser=200, staff_no_rights=403)),
    Row("audit row edit", "post", lambda w: f"/admin/predictions/prediction/{w.prediction.pk}/change/",
        _admin(model_admin=403, superuser=403, staff_no_rights=403), data=lambda w: {"source": "api"}),
    Row("audit row add", "get", lambda w: "/admin/predictions/prediction/add/",
        _admin(model_admin=403, superuser=403, staff_no_rights=403)),
    Row("audit row delete", "post", lambda w: f"/admin/predictions/prediction/{w.prediction.pk}/delete/",
        _admin(model_admin=403, superuser=403, staff_no_rights=403), data=lambda w: {"post": "yes"}),
    Row("outcomes", "get", lambda w: "/admin/predictions/outcome/",
        _admin(model_admin=200, superuser=200, staff_no_rights=403)),
    Row("outcome add", "get", lambda w: "/admin/predictions/outcome/add/",
        _admin(model_admin=403, superuser=403, staff_no_rights=403)),
    Row("outcome delete", "post", lambda w: f"/admin/predictions/outcome/{w.outcome.pk}/delete/",
        _admin(model_admin=403, superuser=403, staff_no_rights=403), data=lambda w: {"post": "yes"}),
    Row("students in the admin", "get", lambda w: "/admin/predictions/student/",
        _admin(model_admin=200, superuser=200, staff_no_rights=403)),
    Row("student edit in the admin", "post", lambda w: f"/admin/predictions/student/{w.student.pk}/change/",
        _admin(model_admin=403, superuser=200, staff_no_rights=403), data=lambda w: {"external_id": ""}),
    # -- the admin: API keys, accounts -------------------------------------------------------------------------
    Row("api keys", "get", lambda w: "/admin/predictions/apikey/",
        _admin(model_admin=200, superuser=200, staff_no_rights=403)),
    Row("new api key form", "get", lambda w: "/admin/predictions/apikey/add/",
        _admin(model_admin=200, superuser=200, staff_no_rights=403)),
    Row("revoke action", "post", lambda w: "/admin/predictions/apikey/",
        _admin(model_admin=302, superuser=302, staff_no_rights=403),
        data=lambda w: {"action": "revoke", "_selected_action": [str(w.api_key.pk)]}),
    # -- the admin: OAuth2 clients and their tokens (DOT's own Application pages are not registered) ---------------
    Row("oauth tokens", "get", lambda w: "/admin/oauth2_provider/accesstoken/",
        _admin(model_admin=200, superuser=200, staff_no_rights=403)),
    Row("oauth token page", "get", lambda w: f"/admin/oauth2_provider/accesstoken/{w.token.pk}/change/",
        _admin(model_admin=200, superuser=200, staff_no_rights=403)),
    Row("revoke token action", "post", lambda w: "/admin/oauth2_provider/accesstoken/",
        _admin(model_admin=302, superuser=302, staff_no_rights=403),
        data=lambda w: {"action": "revoke_tokens", "_selected_action": [str(w.token.pk)]}),
    Row("oauth clients", "get", lambda w: "/admin/predictions/oauthclient/",
        _admin(model_admin=200, superuser=200, staff_no_rights=403)),
    Row("new oauth client form", "get", lambda w: "/admin/predictions/oauthclient/add/",
        _admin(model_admin=200, superuser=200, staff_no_rights=403)),
    Row("revoke client action", "post", lambda w: "/admin/predictions/oauthclient/",
        _admin(model_admin=302, superuser=302, staff_no_rights=403),
        data=lambda w: {"action": "revoke", "_selected_action": [str(w.oauth_client.pk)]}),
    Row("delete a client", "get", lambda w: f"/admin/predictions/oauthclient/{w.oauth_client.pk}/delete/",
        _admin(model_admin=403, superuser=403, staff_no_rights=403)),
    Row("dot applications", "get", lambda w: "/admin/oauth2_provider/application/",
        _admin(model_admin=404, superuser=404, staff_no_rights=404)),
    Row("accounts", "get", lambda w: "/admin/auth/user/", _admin(model_admin=403, superuser=200, staff_no_rights=403)),
    Row("groups", "get", lambda w: "/admin/auth/group/", _admin(model_admin=403, superuser=200, staff_no_rights=403)),
    Row("login lockouts", "get", lambda w: "/admin/axes/accessattempt/",
        _admin(model_admin=403, superuser=200, staff_no_rights=403)),
)


def _form_record(world: World) -> dict:
    return {name: "" if value is None else str(value) for name, value in student_record_get(student=world.student).items()}


@pytest.fixture
def world(make_user, active_version, small_pipelines, make_api_key, record) -> World:
    owner = make_user("teacher")
    student = student_create(data={"external_id": "S-1", **record}, teacher=owner)
    prediction = prediction_create(record=record, source=Prediction.Source.WEB, user=owner, student=student)
    outcome = outcome_record(student=student, final_grade=12, user=owner)
    candidate = model_services.model_version_register(pipelines=small_pipelines, name="candidate")
    api_key, _ = make_api_key(scopes=["read"])
    batch = BatchJob.objects.create(
        source="web", file_name="class.csv", input_data=b"", input_sha256="0" * 64, rows_total=0, chunk_size=1000,
        status=BatchJob.Status.DONE, created_by=owner,
    )
    alert = Alert.objects.create(kind=Alert.Kind.DRIFT, model_version=active_version, message="absences drift")
    oauth_client, _ = oauth_client_create(name="school system", scopes=["read"])
    token = AccessToken.objects.create(
        application=oauth_client.application, token="matrix-token", scope="read",
        expires=timezone.now() + timedelta(minutes=15),
    )
    return World(student, prediction, outcome, candidate, api_key, batch, alert, oauth_client, token)


def _client_for(actor: str, make_user) -> Client:
    client = Client()
    if actor == "anonymous":
        return client
    if actor == "teacher":
        from django.contrib.auth import get_user_model

        person = get_user_model().objects.get(username="teacher")
    elif actor == "staff_no_rights":
        person = make_user("staff", None)
        person.is_staff = True
        person.save()
    else:
        person = make_user(actor, {"other_teacher": "teacher", "no_role": None}.get(actor, actor))
    sign_in(client, person)
    return client


def _outcome(response) -> int | str:
    location = response.headers.get("Location", "")
    if response.status_code == 302 and location.startswith("/admin/login/"):
        return "admin-login"
    if response.status_code == 302 and location.startswith("/accounts/login/"):
        return "login"
    return response.status_code


@pytest.mark.parametrize("actor", ACTORS)
def test_every_page_and_action_answers_each_account_as_its_role_allows(actor, world, make_user):
    client = _client_for(actor, make_user)
    expected, got = {}, {}
    for row in ROWS:
        url = row.url(world)
        if row.method == "get":
            response = client.get(url)
        else:
            response = client.post(url, row.data(world) if row.data else {})
        expected[row.label] = row.expected[actor]
        got[row.label] = _outcome(response)
    assert got == expected


def _state(world: World) -> tuple:
    world.api_key.refresh_from_db()
    world.alert.refresh_from_db()
    world.oauth_client.refresh_from_db()
    return (
        Prediction.objects.count(), Outcome.objects.count(), ModelVersion.objects.count(), BatchJob.objects.count(),
        dict(ModelVersion.objects.values_list("pk", "status")), world.api_key.revoked, world.alert.acknowledged_at,
        world.oauth_client.revoked, AccessToken.objects.count(),
    )


def test_refused_requests_change_nothing(world, make_user):
    """What the refused accounts sent above left no trace: no prediction, outcome, version or key change."""
    before = _state(world)
    for actor in ("anonymous", "other_teacher", "no_role", "staff_no_rights"):
        client = _client_for(actor, make_user)
        for row in ROWS:
            if row.method == "post":
                client.post(row.url(world), row.data(world) if row.data else {})
    assert _state(world) == before


def test_model_admin_rights_come_from_the_group_not_from_staff_status(world, make_user):
    """A staff account given the Model admin group gets in; the same account without it does not."""
    from django.contrib.auth.models import Group

    person = make_user("promoted", None)
    person.is_staff = True
    person.save()
    client = Client()
    sign_in(client, person)
    assert client.get(VERSIONS + "upload/").status_code == 403
    person.groups.add(Group.objects.get(name="Model admin"))
    assert client.get(VERSIONS + "upload/").status_code == 200
    assert Permission.objects.filter(group__name="Model admin", codename="add_modelversion").exists()
