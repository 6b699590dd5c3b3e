"""Logging in through OpenID Connect, end to end: studentperf's relying party against a real provider on loopback.

Each login is the browser's path: the login button's URL redirects to the provider with state, nonce and a PKCE
challenge; the provider's code comes back to /oidc/callback/; studentperf then calls the provider's token, JWKS
and userinfo endpoints over HTTP and logs the person in, or sends them back to the login page.
"""
from __future__ import annotations

import socket
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from predictions.access.roles import MODEL_ADMIN, TEACHER
from predictions.sso import texts

from .provider import CLIENT_ID, signing_key

START = "/oidc/authenticate/"
CALLBACK = "/oidc/callback/"
LOGIN = "/accounts/login/"


def start_login(client, provider, next_url: str = "") -> dict:
    """Press the login button: the query of the redirect to the provider's authorization endpoint."""
    response = client.get(START + (f"?next={next_url}" if next_url else ""))
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{provider.issuer}/authorize"
    return {name: values[0] for name, values in parse_qs(location.query).items()}


def log_in(client, provider, claims: dict, **issue) -> tuple:
    """The whole round trip; (the callback's response, the authorization request)."""
    authorization = start_login(client, provider)
    code = provider.issue(authorization, claims, **issue)
    return client.get(CALLBACK, {"code": code, "state": authorization["state"]}), authorization


def logged_in_as(client):
    from django.contrib.auth import get_user_model

    user_id = client.session.get("_auth_user_id")
    return get_user_model().objects.get(pk=user_id) if user_id else None


def refused(client, response) -> bool:
    """Back on the login page with the failure message, and nobody logged in."""
    follow = client.get(response["Location"])
    return (
        response.status_code == 302 and response["Location"] == LOGIN and logged_in_as(client) is None
        and texts.LOGIN_FAILED in follow.content.decode()
    )


# --- off by default ---


def test_single_sign_on_is_off_without_its_variables(client, db):
    assert client.get(START).status_code == 404
    assert client.get(CALLBACK, {"code": "x", "state": "y"}).status_code == 404
    assert "Log in with" not in client.get(LOGIN).content.decode()


def test_the_login_page_links_to_the_provider_keeping_next(client, sso):
    page = client.get(LOGIN + "?next=/students/new/").content.decode()

    assert '<a class="button secondary" href="/oidc/authenticate/?next=%2Fstudents%2Fnew%2F">' in page
    assert "Log in with School Account" in page
    assert "<script" not in page


def test_the_redirect_to_the_provider_carries_state_nonce_and_a_pkce_challenge(client, sso):
    authorization = start_login(client, sso)

    assert authorization["client_id"] == CLIENT_ID
    assert authorization["response_type"] == "code"
    assert authorization["scope"].split() == ["openid", "email", "profile"]
    assert authorization["redirect_uri"] == "http://testserver/oidc/callback/"
    assert len(authorization["state"]) >= 32 and len(authorization["nonce"]) >= 32
    assert authorization["code_challenge_method"] == "S256"


# --- who is logged in, with which role ---


def test_an_existing_teacher_logs_in_with_groups_and_flags_unchanged(client, sso, user):
    authorization = start_login(client, sso, next_url="/students/new/")
    code = sso.issue(authorization, {"sub": "idp-1", "preferred_username": "teacher"})

    response = client.get(CALLBACK, {"code": code, "state": authorization["state"]})

    assert response.status_code == 302 and response["Location"] == "/students/new/"
    assert logged_in_as(client) == user
    assert sso.calls == ["/token", "/jwks", "/userinfo"]  # the relying party asked the provider over HTTP
    user.refresh_from_db()
    assert list(user.groups.values_list("name", flat=True)) == [TEACHER]
    assert not user.is_staff and not user.is_superuser
    assert client.get("/students/new/").status_code == 200


def test_an_unknown_account_is_refused_while_account_creation_is_off(client, sso, django_user_model):
    response, _ = log_in(client, sso, {"sub": "idp-2", "preferred_username": "newcomer"})

    assert refused(client, response)
    assert not django_user_model.objects.filter(username="newcomer").exists()


def test_a_new_account_gets_no_role_and_no_teacher_page(client, sso, settings, django_user_model):
    settings.OIDC_CREATE_USER = True

    response, _ = log_in(client, sso, {"sub": "idp-3", "preferred_username": "newcomer", "email": "n@school.pt"})

    assert response.status_code == 302 and response["Location"] == "/"
    newcomer = django_user_model.objects.get(username="newcomer")
    assert logged_in_as(client) == newcomer
    assert not newcomer.groups.exists() and not newcomer.get_all_permissions()
    assert not newcomer.is_staff and not newcomer.is_superuser and not newcomer.has_usable_password()
    assert newcomer.email == ""  # not said to be verified
    assert client.get("/students/new/").status_code == 403
    assert client.get(reverse("admin:index")).status_code == 302  # to the admin's login: not staff


@pytest.mark.parametrize("existing", [True, False])
def test_claims_cannot_make_anyone_staff_superuser_or_give_a_group(client, sso, settings, make_user, existing,
                                                                   django_user_model):
    settings.OIDC_CREATE_USER = True
    if existing:
        make_user("claimer", "teacher")
    claims = {
        "sub": "idp-4", "preferred_username": "claimer", "is_staff": True, "is_superuser": True,
        "groups": [MODEL_ADMIN], "roles": ["admin", "model_admin"],
    }

    response, _ = log_in(client, sso, claims)

    assert response.status_code == 302
    claimer = django_user_model.objects.get(username="claimer")
    assert logged_in_as(client) == claimer
    assert not claimer.is_staff and not claimer.is_superuser
    assert list(claimer.groups.values_list("name", flat=True)) == ([TEACHER] if existing else [])


def test_an_email_address_at_the_provider_does_not_take_the_account_that_has_it(client, sso, make_user):
    victim = make_user("modeladmin2", "model_admin")
    victim.email = "head@school.pt"
    victim.save()
    claims = {"sub": "idp-5", "preferred_username": "mallory", "email": "head@school.pt", "email_verified": True}

    response, _ = log_in(client, sso, claims)

    assert refused(client, response)


def test_a_deactivated_account_is_refused(client, sso, user):
    user.is_active = False
    user.save()

    response, _ = log_in(client, sso, {"sub": "idp-6", "preferred_username": "teacher"})

    assert refused(client, response)


def test_a_model_admin_logged_in_by_the_provider_still_gives_a_second_factor(client, sso, model_admin, settings):
    settings.OTP_REQUIRED = True

    response, _ = log_in(client, sso, {"sub": "idp-7", "preferred_username": "modeladmin"})

    assert logged_in_as(client) == model_admin
    page = client.get(response["Location"])
    assert page.status_code == 302 and page["Location"].startswith("/accounts/two-factor/")
    assert client.get(reverse("admin:index")).status_code == 302


# --- forged, replayed and mixed-up answers ---


@pytest.mark.parametrize("issue", [
    pytest.param({"key": "another"}, id="signed-by-another-key-with-the-providers-key-id"),
    pytest.param({"id_token": {"nonce": "not-the-requests-nonce"}}, id="wrong-nonce"),
    pytest.param({"id_token": {"nonce": None}}, id="no-nonce"),
    pytest.param({"id_token": {"aud": "another-client"}}, id="issued-for-another-client"),
    pytest.param({"id_token": {"aud": ["another-client", CLIENT_ID], "azp": "another-client"}}, id="azp-another"),
    pytest.param({"id_token": {"iss": "https://elsewhere.example"}}, id="another-issuer"),
    pytest.param({"id_token": {"exp": 1_000_000_000}}, id="expired"),
    pytest.param({"id_token": {"exp": None}}, id="no-expiry"),
    pytest.param({"userinfo": {"sub": "someone-else"}}, id="userinfo-about-another-subject"),
    pytest.param({"id_token": {"preferred_username": "teacher name with spaces"}}, id="not-a-username"),
])
def test_a_forged_or_mismatched_token_is_refused(client, sso, user, issue):
    if issue.get("key") == "another":
        issue = {"key": signing_key()}  # a key of the attacker's, under the provider's key id

    response, _ = log_in(client, sso, {"sub": "idp-8", "preferred_username": "teacher"}, **issue)

    assert refused(client, response)


def test_a_replayed_callback_is_refused(client, sso, user):
    _, authorization = log_in(client, sso, {"sub": "idp-9", "preferred_username": "teacher"})
    assert logged_in_as(client) == user
    client.logout()
    code = sso.issue(authorization, {"sub": "idp-9", "preferred_username": "teacher"})

    replay = client.get(CALLBACK, {"code": code, "state": authorization["state"]})

    assert replay.status_code == 302 and logged_in_as(client) is None


def test_a_callback_started_in_another_browser_is_refused(client, sso, user, django_user_model):
    """Login CSRF: an attacker's own code and state, delivered to the victim's browser, log no one in."""
    from django.test import Client

    attacker = Client()
    authorization = start_login(attacker, sso)
    code = sso.issue(authorization, {"sub": "idp-10", "preferred_username": "teacher"})
    start_login(client, sso)  # the victim has a login of their own under way

    response = client.get(CALLBACK, {"code": code, "state": authorization["state"]})

    assert refused(client, response)


def test_a_code_the_provider_did_not_issue_is_refused(client, sso, user):
    authorization = start_login(client, sso)

    response = client.get(CALLBACK, {"code": "made-up", "state": authorization["state"]})

    assert refused(client, response)
    assert sso.calls == ["/token"]  # refused there (400 invalid_grant)


def test_an_unreachable_provider_sends_back_to_the_login_page_with_a_message(client, sso, settings, user):
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        settings.OIDC_OP_TOKEN_ENDPOINT = f"http://127.0.0.1:{closed.getsockname()[1]}/token"
    authorization = start_login(client, sso)

    response = client.get(CALLBACK, {"code": "any", "state": authorization["state"]})

    assert response.status_code == 302 and response["Location"] == LOGIN and logged_in_as(client) is None
    assert texts.PROVIDER_UNREACHABLE in client.get(LOGIN).content.decode()


def test_password_logins_keep_working_beside_single_sign_on(client, sso, user):
    from tests.conftest import PASSWORD

    response = client.post(LOGIN, {"username": "teacher", "password": PASSWORD, "next": "/"})

    assert response.status_code == 302 and logged_in_as(client) == user


def test_refused_logins_through_the_provider_do_not_lock_out_the_next_ones(client, sso, user):
    """Students pressing the button behind the school's one address must not lock single sign-on for everyone."""
    for _ in range(6):  # more than LOGIN_FAILURE_LIMIT
        response, _ = log_in(client, sso, {"sub": "idp-11", "preferred_username": "somebody-unknown"})
        assert refused(client, response)

    log_in(client, sso, {"sub": "idp-1", "preferred_username": "teacher"})

    assert logged_in_as(client) == user


def test_wrong_passwords_still_lock_out_beside_single_sign_on(client, sso, user):
    from tests.conftest import PASSWORD

    for _ in range(5):
        client.post(LOGIN, {"username": "teacher", "password": "not-the-password", "next": "/"})

    response = client.post(LOGIN, {"username": "teacher", "password": PASSWORD, "next": "/"})

    assert response.status_code == 429 and logged_in_as(client) is None
