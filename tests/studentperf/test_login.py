"""Logging in and out, the login lockout (django-axes), changing one's password and the 403 page."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import include, path

from tests.conftest import PASSWORD
from tests.studentperf.test_settings import GOOD_KEY, GOOD_SECRET, ROOT

LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"
NEW_PASSWORD = "kettle-harbour-violin-42"


def forbidden(request):
    raise PermissionDenied


# The site's URLs plus one page nobody may open, for the 403 page (tests marked `urls` below use this module).
urlpatterns = [path("forbidden/", forbidden), path("", include("studentperf.urls"))]


def log_in(client, login_url: str, username: str, password: str):
    return client.post(login_url, {"username": username, "password": password, "next": "/"})


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def fail_logins(client, login_url: str, username: str, times: int) -> list[int]:
    return [log_in(client, login_url, username, "not-the-password").status_code for _ in range(times)]


# --- logging in ---


def test_an_anonymous_visitor_is_sent_to_the_login_page(client):
    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"


def test_the_login_page_labels_its_fields_and_focuses_the_username(client):
    page = client.get(LOGIN).content.decode()

    assert '<label for="id_username">Username</label>' in page
    assert '<label for="id_password">Password</label>' in page
    username_input = re.search(r'<input[^>]*id="id_username"[^>]*>', page).group()
    assert "autofocus" in username_input


def test_a_correct_login_goes_to_the_dashboard(client, user):
    response = log_in(client, LOGIN, "teacher", PASSWORD)

    assert response.status_code == 302 and response["Location"] == "/"
    assert logged_in(client)
    assert client.get("/").status_code == 200


def test_a_wrong_password_is_refused_with_a_message(client, user):
    response = log_in(client, LOGIN, "teacher", "not-the-password")

    assert response.status_code == 200 and not logged_in(client)
    assert "Please enter a correct username and password" in response.content.decode()


# --- lockout ---


@pytest.mark.parametrize("login_url", [LOGIN, ADMIN_LOGIN])
def test_too_many_wrong_passwords_lock_out_even_the_right_one(client, model_admin, settings, login_url):
    limit = settings.AXES_FAILURE_LIMIT

    statuses = fail_logins(client, login_url, "modeladmin", limit)
    response = log_in(client, login_url, "modeladmin", PASSWORD)

    assert statuses == [200] * (limit - 1) + [429]
    assert response.status_code == 429 and not logged_in(client)
    page = response.content.decode()
    assert "Too many failed logins" in page and "Try again in 15 minutes" in page


def test_a_lockout_on_one_login_page_holds_on_the_other(client, model_admin, settings):
    fail_logins(client, LOGIN, "modeladmin", settings.AXES_FAILURE_LIMIT)

    assert log_in(client, ADMIN_LOGIN, "modeladmin", PASSWORD).status_code == 429
    assert not logged_in(client)


def test_a_lockout_holds_one_username_from_one_address_only(client, user, make_user, settings):
    make_user("colleague")
    fail_logins(client, LOGIN, "teacher", settings.AXES_FAILURE_LIMIT)

    assert log_in(client, LOGIN, "colleague", PASSWORD).status_code == 302
    client.logout()
    other_address = client.post(LOGIN, {"username": "teacher", "password": PASSWORD}, REMOTE_ADDR="192.0.2.7")
    assert other_address.status_code == 302


def test_a_successful_login_resets_the_count_of_failures(client, user, settings):
    limit = settings.AXES_FAILURE_LIMIT
    fail_logins(client, LOGIN, "teacher", limit - 1)
    assert log_in(client, LOGIN, "teacher", PASSWORD).status_code == 302
    client.logout()

    statuses = fail_logins(client, LOGIN, "teacher", limit - 1)

    assert statuses == [200] * (limit - 1)
    assert log_in(client, LOGIN, "teacher", PASSWORD).status_code == 302 and logged_in(client)


def test_the_lockout_can_be_lifted_with_axes_reset_username(client, user, settings):
    from django.core.management import call_command

    fail_logins(client, LOGIN, "teacher", settings.AXES_FAILURE_LIMIT)

    call_command("axes_reset_username", "teacher", stdout=open(os.devnull, "w"))

    assert log_in(client, LOGIN, "teacher", PASSWORD).status_code == 302


def test_the_lockout_settings_come_from_the_environment():
    script = (
        "import django; from django.conf import settings; django.setup(); "
        "print(settings.AXES_FAILURE_LIMIT, settings.AXES_COOLOFF_TIME.total_seconds())"
    )
    base = {
        "PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "studentperf.settings",
        "DJANGO_SECRET_KEY": GOOD_SECRET, "MODEL_ENCRYPTION_KEY": GOOD_KEY, "LOG_STREAM": "stderr",
    }

    def axes_settings(**env) -> list[str]:
        result = subprocess.run(
            [sys.executable, "-c", script], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.split()

    assert axes_settings() == ["5", "900.0"]
    assert axes_settings(LOGIN_FAILURE_LIMIT="3", LOGIN_LOCKOUT_MINUTES="60") == ["3", "3600.0"]


# --- password change ---


def test_a_teacher_changes_their_password_and_stays_logged_in(client, user):
    client.force_login(user)
    assert client.get("/accounts/password_change/").status_code == 200

    response = client.post(
        "/accounts/password_change/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 302 and response["Location"] == "/accounts/password_change/done/"
    assert "Password changed" in client.get(response["Location"]).content.decode()
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert client.get("/").status_code == 200


def test_a_password_change_with_a_wrong_old_password_is_refused(client, user):
    client.force_login(user)

    response = client.post(
        "/accounts/password_change/",
        {"old_password": "not-the-password", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 200 and "password was not changed" in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_the_password_change_page_needs_a_login(client):
    response = client.get("/accounts/password_change/")

    assert response.status_code == 302 and response["Location"].startswith(LOGIN)


# --- the 403 page ---


@pytest.mark.urls(__name__)
def test_an_account_without_a_role_is_told_to_ask_for_one(client, make_user):
    client.force_login(make_user("newcomer", None))

    response = client.get("/forbidden/")

    assert response.status_code == 403
    page = response.content.decode()
    assert "You do not have access to this page" in page
    assert "ask an administrator to give your account a role" in page.lower()


@pytest.mark.urls(__name__)
def test_an_account_with_a_role_is_told_its_role_does_not_allow_the_page(client, user):
    client.force_login(user)

    response = client.get("/forbidden/")

    assert response.status_code == 403
    page = response.content.decode()
    assert "You do not have access to this page" in page and "give your account a role" not in page
