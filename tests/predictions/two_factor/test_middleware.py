"""Who must pass a second factor, and what a session that has not passed it can reach."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import RequestFactory

from predictions.access.roles import MODEL_ADMIN
from predictions.two_factor.middleware import _open
from tests.conftest import sign_in

pytestmark = pytest.mark.django_db
SETUP = "/accounts/two-factor/setup/"
VERIFY = "/accounts/two-factor/"


def redirected_to(response, url: str, next_url: str) -> bool:
    from urllib.parse import urlencode

    return response.status_code == 302 and response["Location"] == f"{url}?{urlencode({'next': next_url})}"


@pytest.mark.parametrize("path", ["/", "/admin/", "/admin/modelstore/modelversion/", "/monitoring/accuracy/",
                                  "/accounts/password_change/", "/accounts/two-factor/recovery-codes/"])
def test_a_model_admin_without_an_authenticator_is_sent_to_enrolment_from_every_page(logged_in, model_admin, path):
    assert redirected_to(logged_in(model_admin).get(path), SETUP, path)


def test_a_superuser_with_an_authenticator_is_sent_to_verification_keeping_the_query(logged_in, superuser):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    TOTPDevice.objects.create(user=superuser, name="phone", confirmed=True)
    client = logged_in(superuser)

    assert redirected_to(client.get("/admin/auth/user/?q=ana"), VERIFY, "/admin/auth/user/?q=ana")
    assert redirected_to(client.post("/monitoring/accuracy/run/"), VERIFY, "/monitoring/accuracy/run/")


def test_the_api_answers_403_json_naming_the_second_factor(logged_in, model_admin, active_version):
    for method, path in (("get", "/api/v1/students"), ("post", "/api/v1/predict"), ("get", "/api/v1/nowhere")):
        response = getattr(logged_in(model_admin), method)(path)
        assert response.status_code == 403 and response["Content-Type"] == "application/json"
        body = response.json()
        assert set(body) == {"error", "message", "fields", "request_id"}
        assert body["error"] == "forbidden" and "second factor" in body["message"]
        assert list(body["fields"]) == ["second_factor"]


def test_a_verified_session_reaches_the_admin_the_pages_and_the_api(client, model_admin, active_version):
    sign_in(client, model_admin)

    assert client.get("/admin/").status_code == 200
    assert client.get("/monitoring/accuracy/").status_code == 200
    assert client.get("/api/v1/students").status_code == 200


def test_a_teacher_is_not_asked_nor_offered_a_second_factor(logged_in, user, active_version):
    client = logged_in(user)

    assert client.get("/").status_code == 200
    assert client.get("/api/v1/students").status_code == 200
    assert client.get(SETUP).status_code == 302 and client.get(SETUP)["Location"] == "/"


def test_a_model_admin_group_member_without_staff_status_is_asked_too(logged_in, make_user):
    person = make_user("half-promoted", None)
    person.groups.add(Group.objects.get(name=MODEL_ADMIN))

    assert redirected_to(logged_in(person).get("/"), SETUP, "/")


@pytest.mark.parametrize("path", ["/accounts/login/", "/health/live", SETUP])
def test_login_probes_and_the_two_factor_pages_stay_open(logged_in, model_admin, path):
    assert logged_in(model_admin).get(path).status_code == 200


def test_logout_stays_open(logged_in, model_admin):
    client = logged_in(model_admin)

    assert client.post("/accounts/logout/").status_code == 302
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("path, is_open", [("/oidc/callback/", True), ("/oidc/authenticate/", True), ("/o/", False)])
def test_the_oidc_login_urls_stay_open_whatever_their_names(path, is_open):
    request = RequestFactory().get(path)
    request.resolver_match = None
    assert _open(request) is is_open


def test_off_in_development_lets_the_password_alone_in(logged_in, model_admin, settings):
    settings.OTP_REQUIRED = False

    assert logged_in(model_admin).get("/admin/").status_code == 200


def test_turning_it_off_without_debug_stops_start_up():
    import os
    import subprocess
    import sys

    env = dict(os.environ, OTP_REQUIRED="0", DJANGO_DEBUG="0", DJANGO_SETTINGS_MODULE="studentperf.settings",
               DJANGO_SECRET_KEY="s" * 40, DJANGO_READ_DOT_ENV="0")
    result = subprocess.run([sys.executable, "-c", "import django; django.setup()"], env=env, capture_output=True,
                            text=True)
    assert result.returncode != 0 and "OTP_REQUIRED=0 is for development only" in result.stderr
