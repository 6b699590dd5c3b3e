"""OAuth2 client credentials (issue 18): tokens from /oauth/token/, judged on /api/v1 exactly like API keys, and
revocable; clients made by command or in the admin, their secret shown once and stored hashed."""
from __future__ import annotations

import base64
import re
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.hashers import check_password
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application
from rest_framework.test import APIClient

from predictions.access.oauth_clients import oauth_client_create, oauth_client_revoke_many
from predictions.models import BatchJob, OAuthClient, Prediction, Student
from studentperf.errors import ApplicationError
from tests.conftest import sign_in

from ..api_answers import refused

pytestmark = pytest.mark.django_db
TOKEN = "/oauth/token/"


def token_response(client_id: str, secret: str, scope: str | None = None, *, basic: bool = True):
    """POST /oauth/token/ as a client would: credentials in HTTP Basic (the RFC's preferred way) or the body."""
    data = {"grant_type": "client_credentials"}
    if scope is not None:
        data["scope"] = scope
    if basic:
        credentials = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        return Client().post(TOKEN, data, HTTP_AUTHORIZATION=f"Basic {credentials}")
    return Client().post(TOKEN, {**data, "client_id": client_id, "client_secret": secret})


@pytest.fixture
def make_client():
    """make_client(*scopes, **fields) -> (OAuthClient, secret); every scope by default."""

    def make(*scopes, name="school system", **fields):
        return oauth_client_create(name=name, scopes=list(scopes or OAuthClient.SCOPES), **fields)

    return make


@pytest.fixture
def bearer(make_client):
    """bearer(*scopes) -> an APIClient sending `Authorization: Bearer <token>` of a new client with these scopes,
    its token got from /oauth/token/ (`.oauth_client`, `.secret`, `.token`)."""

    def make(*scopes):
        client, secret = make_client(*scopes)
        response = token_response(client.client_id, secret)
        assert response.status_code == 200, response.content
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access_token']}")
        api.oauth_client, api.secret, api.token = client, secret, response.json()["access_token"]
        return api

    return make


# -- the token endpoint ------------------------------------------------------------------------------------------


def test_token_for_valid_credentials_holds_the_scopes_asked_and_no_refresh_token(make_client, settings):
    client, secret = make_client("predict", "read")

    for basic in (True, False):
        response = token_response(client.client_id, secret, "read", basic=basic)

        assert response.status_code == 200, response.content
        body = response.json()
        assert body["token_type"] == "Bearer" and body["scope"] == "read"
        assert body["expires_in"] == settings.OAUTH2_PROVIDER["ACCESS_TOKEN_EXPIRE_SECONDS"] == 900
        assert "refresh_token" not in body
    assert AccessToken.objects.filter(application=client.application).count() == 2


def test_token_without_a_scope_gets_every_scope_the_client_holds(make_client):
    client, secret = make_client("predict", "write")

    assert set(token_response(client.client_id, secret).json()["scope"].split()) == {"predict", "write"}


def test_a_client_cannot_get_a_scope_it_was_not_granted(make_client):
    client, secret = make_client("predict")

    response = token_response(client.client_id, secret, "predict write")

    assert response.status_code == 400 and response.json()["error"] == "invalid_scope"
    assert not AccessToken.objects.exists()


@pytest.mark.parametrize("grant_type", ["password", "authorization_code", "refresh_token", "implicit"])
def test_only_the_client_credentials_grant_exists(make_client, grant_type):
    client, secret = make_client()
    credentials = base64.b64encode(f"{client.client_id}:{secret}".encode()).decode()

    response = Client().post(
        TOKEN, {"grant_type": grant_type, "username": "x", "password": "y", "code": "z", "refresh_token": "r"},
        HTTP_AUTHORIZATION=f"Basic {credentials}",
    )

    assert response.status_code == 400 and response.json()["error"] == "unsupported_grant_type"


def test_wrong_secret_unknown_client_and_revoked_client_get_no_token(make_client):
    client, secret = make_client()
    revoked, revoked_secret = make_client(name="old system")
    oauth_client_revoke_many(clients=OAuthClient.objects.filter(pk=revoked.pk))

    for client_id, tried in ((client.client_id, secret + "x"), ("no-such-client", secret),
                             (revoked.client_id, revoked_secret)):
        response = token_response(client_id, tried)
        assert response.status_code == 401 and response.json()["error"] == "invalid_client", client_id
    assert not AccessToken.objects.exists()


def test_a_flood_of_wrong_secrets_is_charged_to_the_address_and_refused_before_hashing(make_client, settings):
    """Issue 18, attack 2 on the token endpoint: refused client secrets spend the address's budget like wrong API
    keys, and once it is spent even the right secret gets 429 JSON with Retry-After, no token, until the window
    ends (the address's API requests too: one budget)."""
    from prometheus_client import REGISTRY

    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "anon": "3/min"},
    }
    client, secret = make_client()
    counted = REGISTRY.get_sample_value("studentperf_auth_failures_total", {"reason": "invalid"}) or 0
    for _ in range(3):
        assert token_response(client.client_id, secret + "x").status_code == 401
    assert REGISTRY.get_sample_value("studentperf_auth_failures_total", {"reason": "invalid"}) == counted + 3

    response = token_response(client.client_id, secret)
    assert response.status_code == 429 and int(response["Retry-After"]) >= 1
    assert response.json()["error"] == "throttled"
    assert not AccessToken.objects.exists()
    refused(APIClient().get("/api/v1/students"), 429, "throttled")


def test_an_expired_client_gets_no_token(make_client):
    client, secret = make_client()
    OAuthClient.objects.filter(pk=client.pk).update(expiry_date=timezone.now() - timedelta(seconds=1))

    assert token_response(client.client_id, secret).status_code == 401


def test_tokens_are_stored_only_as_their_checksum(bearer):
    api = bearer("read")

    stored = AccessToken.objects.get()
    assert stored.token == "" and stored.token_checksum and api.token not in stored.token_checksum


# -- bearer tokens on the API ------------------------------------------------------------------------------------


def test_a_token_predicts_reads_and_writes_per_its_scopes(bearer, active_version, record):
    everything = bearer("predict", "read", "write")

    created = everything.post("/api/v1/students", {"external_id": "SIS-1", **record}, format="json")
    assert created.status_code == 201, created.content
    assert everything.get("/api/v1/students").json()["count"] == 1
    assert everything.post("/api/v1/predict", record, format="json").status_code == 200
    assert everything.get(f"/api/v1/students/{created.json()['id']}/predictions").status_code == 200
    assert everything.get("/api/v1/monitoring/accuracy").status_code == 200


@pytest.mark.parametrize(
    "scopes, method, url, missing",
    [
        (("read",), "post", "/api/v1/predict", "predict"),
        (("predict",), "get", "/api/v1/students", "read"),
        (("predict", "read"), "post", "/api/v1/students", "write"),
    ],
)
def test_a_token_without_the_scope_is_403_naming_it(bearer, active_version, record, scopes, method, url, missing):
    response = getattr(bearer(*scopes), method)(url, {"external_id": "SIS-2", **record}, format="json")

    assert refused(response, 403, "forbidden") == {}
    assert f"OAuth2 token lacks the '{missing}' scope" in response.json()["message"]
    assert not Prediction.objects.exists() and not Student.objects.exists()


def test_a_write_only_token_is_not_shown_the_student_it_changes(bearer, record):
    """As a write-only key (issue 18, attack 8): the answer to an empty PATCH names the student only."""
    student = Student.objects.create(external_id="S-9", **{k: v for k, v in record.items() if k != "external_id"})

    response = bearer("write").patch(f"/api/v1/students/{student.pk}", {}, format="json")

    assert response.status_code == 200, response.content
    assert "absences" not in response.json()


def test_a_token_sees_every_student_as_a_key_does(bearer, make_user, record):
    from predictions.services import student_create

    student_create(data={"external_id": "T-1", **record}, teacher=make_user("teacher"))

    assert bearer("read").get("/api/v1/students").json()["count"] == 1


def test_taking_a_scope_from_a_client_applies_to_its_live_tokens(bearer):
    api = bearer("predict", "read")
    OAuthClient.objects.filter(pk=api.oauth_client.pk).update(scopes=["predict"])

    assert api.get("/api/v1/students").status_code == 403


def test_the_audit_row_and_the_batch_job_name_the_client(bearer, active_version, record):
    api = bearer("predict")

    assert api.post("/api/v1/predict", record, format="json").status_code == 200
    csv = ",".join(record) + "\n" + ",".join(str(value) for value in record.values()) + "\n"
    from django.core.files.uploadedfile import SimpleUploadedFile

    api.post("/api/v1/batches", {"file": SimpleUploadedFile("class.csv", csv.encode())}, format="multipart")

    row = Prediction.objects.get()
    assert (row.oauth_client_id, row.oauth_client_name) == (api.oauth_client.client_id, "school system")
    assert row.requested_by is None and row.api_key_prefix == ""
    job = BatchJob.objects.get()
    assert (job.oauth_client_id, job.oauth_client_name) == (api.oauth_client.client_id, "school system")


def _unauthorised(response, message: str) -> None:
    refused(response, 401, "unauthenticated")
    assert message in response.json()["message"], response.json()


def test_an_expired_token_is_401(bearer):
    api = bearer("read")
    AccessToken.objects.update(expires=timezone.now() - timedelta(seconds=1))

    _unauthorised(api.get("/api/v1/students"), "has expired")


def revoke_request(token: str, client_id: str, secret: str):
    credentials = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return Client().post("/oauth/revoke_token/", {"token": token}, HTTP_AUTHORIZATION=f"Basic {credentials}")


def test_a_client_revokes_its_token_at_once_and_no_other_client_can(bearer, make_client):
    api = bearer("read")
    other, other_secret = make_client(name="another system")

    revoke_request(api.token, other.client_id, other_secret)
    assert api.get("/api/v1/students").status_code == 200

    assert revoke_request(api.token, api.oauth_client.client_id, api.secret).status_code == 200
    _unauthorised(api.get("/api/v1/students"), "unknown or has been revoked")


def test_revoked_token_revoked_client_deleted_client_are_401(bearer):
    token_revoked, client_revoked, client_deleted = bearer("read"), bearer("read"), bearer("read")

    AccessToken.objects.filter(application=token_revoked.oauth_client.application).get().revoke()
    OAuthClient.objects.filter(pk=client_revoked.oauth_client.pk).update(revoked=True)  # even with tokens kept
    Application.objects.filter(pk=client_deleted.oauth_client.application_id).delete()

    _unauthorised(token_revoked.get("/api/v1/students"), "unknown or has been revoked")
    _unauthorised(client_revoked.get("/api/v1/students"), "client of this token has been revoked")
    _unauthorised(client_deleted.get("/api/v1/students"), "unknown or has been revoked")


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Bearer not-a-token", "bearer abc"])
def test_a_missing_or_unknown_bearer_token_is_401_not_anonymous(header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get("/api/v1/models")

    refused(response, 401, "unauthenticated")


def test_api_keys_keep_working_beside_tokens(api_client, bearer):
    assert api_client("read").get("/api/v1/students").status_code == 200
    assert bearer("read").get("/api/v1/students").status_code == 200


def test_a_token_request_is_logged_with_the_client_name_and_never_the_token(bearer, caplog):
    api = bearer("read")

    with caplog.at_level("INFO", logger="studentperf.access"):
        api.get("/api/v1/students")

    [line] = [record for record in caplog.records if getattr(record, "path", "") == "/api/v1/students"]
    assert line.api_key == "school system"
    assert api.token not in caplog.text


# -- clients: command, service, admin ------------------------------------------------------------------------


def create_oauth_client(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("create_oauth_client", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_command_prints_the_secret_once_and_stores_only_its_hash():
    out, err = create_oauth_client("school system", "--scopes", "predict", "read", "--expires-in", "30")

    client_id = re.search(r"^client_id: (\S+)$", out, re.MULTILINE).group(1)
    secret = re.search(r"^client_secret: (\S+)$", out, re.MULTILINE).group(1)
    assert "only this once" in err
    client = OAuthClient.objects.get()
    assert client.client_id == client_id and client.scopes == ["predict", "read"]
    assert timedelta(days=29, hours=23) < client.expiry_date - timezone.now() <= timedelta(days=30)
    application = client.application
    assert application.client_type == "confidential" and application.authorization_grant_type == "client-credentials"
    assert application.client_secret != secret and check_password(secret, application.client_secret)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {Application._meta.db_table}")
        assert secret not in " ".join(map(str, cursor.fetchall()))
    assert token_response(client_id, secret).status_code == 200


def test_command_refuses_unknown_scopes_naming_them():
    with pytest.raises(CommandError, match="Unknown scope.*admin, everything"):
        create_oauth_client("x", "--scopes", "read", "admin", "everything")
    with pytest.raises(CommandError, match="expires-in"):
        create_oauth_client("x", "--scopes", "read", "--expires-in", "0")
    assert not OAuthClient.objects.exists() and not Application.objects.exists()


def test_service_names_every_bad_field():
    with pytest.raises(ApplicationError) as caught:
        oauth_client_create(name=" ", scopes=[], expiry_date=timezone.now())
    assert set(caught.value.fields) == {"name", "scopes", "expiry_date"}


def test_a_model_admin_creates_a_client_in_the_admin_and_sees_its_secret_once(model_admin):
    admin = sign_in(Client(), model_admin)

    response = admin.post(
        "/admin/predictions/oauthclient/add/", {"name": "timetable system", "scopes": ["read"], "expiry_date_0": "",
                                                "expiry_date_1": ""}, follow=True,
    )

    assert response.status_code == 200
    client = OAuthClient.objects.get()
    [message] = [str(message) for message in response.context["messages"] if "secret" in str(message)]
    secret = re.search(r"its secret is (\S+)\. Store", message).group(1)
    assert client.client_id in message and client.scopes == ["read"] and client.name == "timetable system"
    assert check_password(secret, client.application.client_secret)
    assert secret not in admin.get(f"/admin/predictions/oauthclient/{client.pk}/change/").content.decode()


def test_a_model_admin_revokes_a_client_and_a_token_in_the_admin(model_admin, bearer):
    whole_client, one_token = bearer("read"), bearer("read")
    admin = sign_in(Client(), model_admin)

    admin.post(
        "/admin/predictions/oauthclient/", {"action": "revoke", "_selected_action": [whole_client.oauth_client.pk]}
    )
    token = AccessToken.objects.get(application=one_token.oauth_client.application)
    admin.post("/admin/oauth2_provider/accesstoken/", {"action": "revoke_tokens", "_selected_action": [token.pk]})

    assert OAuthClient.objects.get(pk=whole_client.oauth_client.pk).revoked
    assert whole_client.get("/api/v1/students").status_code == 401
    assert one_token.get("/api/v1/students").status_code == 401
    assert not AccessToken.objects.exists()


def test_a_teacher_cannot_reach_clients_or_tokens_in_the_admin(user, bearer):
    api = bearer("read")
    teacher = sign_in(Client(), user)

    for url in ("/admin/predictions/oauthclient/", "/admin/predictions/oauthclient/add/",
                "/admin/oauth2_provider/accesstoken/"):
        assert teacher.get(url)["Location"].startswith("/admin/login/"), url
    teacher.post("/admin/predictions/oauthclient/", {"action": "revoke", "_selected_action": [api.oauth_client.pk]})
    assert api.get("/api/v1/students").status_code == 200


# -- the OpenAPI document --------------------------------------------------------------------------------------


def test_the_schema_documents_both_schemes_on_every_operation(client):
    spec = client.get("/api/v1/schema", HTTP_ACCEPT="application/json").json()

    scheme = spec["components"]["securitySchemes"]["oauth2"]
    assert scheme["type"] == "oauth2" and set(scheme["flows"]) == {"clientCredentials"}
    assert scheme["flows"]["clientCredentials"]["tokenUrl"] == "/oauth/token/"
    assert set(scheme["flows"]["clientCredentials"]["scopes"]) == {"predict", "read", "write"}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert {"ApiKey": []} in operation["security"], f"{method} {path}"
            [oauth] = [entry["oauth2"] for entry in operation["security"] if "oauth2" in entry]
            assert len(oauth) == 1 and oauth[0] in OAuthClient.SCOPES, f"{method} {path}"
    assert spec["paths"]["/api/v1/predict"]["post"]["security"][1] == {"oauth2": ["predict"]}


def test_a_client_gets_the_per_key_limit_across_all_its_tokens(make_client, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_key": "2/min"}}
    client, secret = make_client("read")
    first, second = (token_response(client.client_id, secret).json()["access_token"] for _ in range(2))

    statuses = []
    for token in (first, second, first):
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        statuses.append(api.get("/api/v1/models").status_code)

    assert statuses == [200, 200, 429]
