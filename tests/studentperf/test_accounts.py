"""The password-change pages under the login lockout (issue 18, attack 4): the old-password field counts as a login."""
from __future__ import annotations

import os

import pytest
from django.core.management import call_command

from tests.conftest import PASSWORD
from tests.studentperf.test_login import LOGIN, NEW_PASSWORD, fail_logins, log_in

CHANGE = "/accounts/password_change/"
ADMIN_CHANGE = "/admin/password_change/"
GUESSES = 8


def change_password(client, old_password: str, url: str = CHANGE):
    fields = {"old_password": old_password, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    return client.post(url, fields)


def wrong_old_passwords(client, times: int, url: str = CHANGE) -> list[int]:
    return [change_password(client, f"guess-{number}", url).status_code for number in range(times)]


def test_wrong_old_passwords_lock_out_even_the_right_one(client, user, settings):
    """The attack: 8 wrong guesses, then the right one changed the password."""
    limit = settings.AXES_FAILURE_LIMIT
    client.force_login(user)

    statuses = wrong_old_passwords(client, GUESSES)
    response = change_password(client, PASSWORD)

    assert statuses == [200] * (limit - 1) + [429] * (GUESSES - limit + 1)
    assert response.status_code == 429 and "Too many failed logins" in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(PASSWORD) and not user.check_password(NEW_PASSWORD)


def test_the_right_old_password_under_the_limit_changes_the_password(client, user, settings):
    client.force_login(user)
    statuses = wrong_old_passwords(client, settings.AXES_FAILURE_LIMIT - 1)

    response = change_password(client, PASSWORD)

    assert statuses == [200] * (settings.AXES_FAILURE_LIMIT - 1)
    assert response.status_code == 302 and response["Location"] == "/accounts/password_change/done/"
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_failures_are_counted_with_the_login_forms(client, user, settings):
    settings.AXES_FAILURE_LIMIT = 5
    assert fail_logins(client, LOGIN, "teacher", 3) == [200] * 3
    client.force_login(user)

    assert wrong_old_passwords(client, 2) == [200, 429]
    assert change_password(client, PASSWORD).status_code == 429
    client.logout()
    assert log_in(client, LOGIN, "teacher", PASSWORD).status_code == 429


def test_a_lockout_from_the_login_form_holds_on_the_password_change(client, user, settings):
    fail_logins(client, LOGIN, "teacher", settings.AXES_FAILURE_LIMIT)
    client.force_login(user)  # a session made before the lockout

    assert change_password(client, PASSWORD).status_code == 429
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_the_lockout_of_a_password_change_is_lifted_by_axes_reset_username(client, user, settings):
    client.force_login(user)
    wrong_old_passwords(client, settings.AXES_FAILURE_LIMIT)

    call_command("axes_reset_username", "teacher", stdout=open(os.devnull, "w"))

    assert change_password(client, PASSWORD).status_code == 302


def test_the_wrong_old_password_is_still_named_under_the_limit(client, user):
    client.force_login(user)

    page = change_password(client, "not-the-password").content.decode()

    assert "Your old password was entered incorrectly" in page


@pytest.fixture
def verified_model_admin(make_user, settings):
    """A model admin (staff) whose session passed its second factor, if the installation asks for one."""
    settings.OTP_REQUIRED = False
    return make_user("modeladmin", "model_admin")


def test_the_admins_password_change_is_under_the_lockout_too(client, verified_model_admin, settings):
    client.force_login(verified_model_admin)
    assert client.get(ADMIN_CHANGE).status_code == 200

    statuses = wrong_old_passwords(client, settings.AXES_FAILURE_LIMIT, ADMIN_CHANGE)

    assert statuses[-1] == 429
    assert change_password(client, PASSWORD, ADMIN_CHANGE).status_code == 429
    verified_model_admin.refresh_from_db()
    assert verified_model_admin.check_password(PASSWORD)


def test_the_admins_password_change_still_works_and_ends_on_the_admins_done_page(client, verified_model_admin):
    client.force_login(verified_model_admin)

    response = change_password(client, PASSWORD, ADMIN_CHANGE)

    assert response.status_code == 302 and response["Location"] == "/admin/password_change/done/"
    verified_model_admin.refresh_from_db()
    assert verified_model_admin.check_password(NEW_PASSWORD)


def test_the_admins_password_change_is_for_staff_only(client, user):
    client.force_login(user)

    response = client.get(ADMIN_CHANGE)

    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
