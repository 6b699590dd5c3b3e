"""Single sign-on is off unless its variables are set, and a partial set stops start-up naming what is missing."""
from __future__ import annotations

import pytest

from tests.studentperf.test_settings import GOOD_KEY, GOOD_SECRET, load_settings

BASE = {"DJANGO_SECRET_KEY": GOOD_SECRET, "MODEL_ENCRYPTION_KEY": GOOD_KEY}
PROVIDER = {
    "OIDC_RP_CLIENT_ID": "studentperf",
    "OIDC_RP_CLIENT_SECRET": "a-client-secret",
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "https://id.school.example/auth",
    "OIDC_OP_TOKEN_ENDPOINT": "https://id.school.example/token",
    "OIDC_OP_USER_ENDPOINT": "https://id.school.example/userinfo",
    "OIDC_OP_JWKS_ENDPOINT": "https://id.school.example/certs",
}
SHOW = (
    "settings.OIDC_ENABLED, 'mozilla_django_oidc' in settings.INSTALLED_APPS, "
    "'|'.join(settings.AUTHENTICATION_BACKENDS), settings.OIDC_CREATE_USER, settings.OIDC_RP_SIGN_ALGO"
)


def test_single_sign_on_is_off_when_no_oidc_variable_is_set():
    result = load_settings(BASE, show=SHOW)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "False", "False", "axes.backends.AxesStandaloneBackend|django.contrib.auth.backends.ModelBackend", "False",
        "RS256",
    ]


def test_the_provider_variables_turn_it_on_after_the_lockout_and_password_backends():
    result = load_settings({**BASE, **PROVIDER, "OIDC_CREATE_USERS": "yes"}, show=SHOW)

    assert result.returncode == 0, result.stderr
    enabled, installed, backends, create, algorithm = result.stdout.split()
    assert (enabled, installed, create, algorithm) == ("True", "True", "True", "RS256")
    assert backends.split("|") == [
        "axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend",
        "predictions.sso.backend.StaffOIDCBackend",
    ]


@pytest.mark.parametrize("missing", [
    ("OIDC_OP_JWKS_ENDPOINT",),
    ("OIDC_RP_CLIENT_SECRET", "OIDC_OP_USER_ENDPOINT"),
    tuple(name for name in PROVIDER if name != "OIDC_RP_CLIENT_ID"),
])
def test_a_partial_configuration_refuses_to_start_naming_what_is_missing(missing):
    env = {**BASE, **{name: value for name, value in PROVIDER.items() if name not in missing}}

    result = load_settings(env)

    assert result.returncode != 0
    message = result.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured" in message and "missing: " + ", ".join(missing) in message
    assert "a-client-secret" not in result.stderr


def test_a_provider_endpoint_in_clear_refuses_to_start_in_production():
    env = {**BASE, **PROVIDER, "OIDC_OP_TOKEN_ENDPOINT": "http://id.school.example/token"}

    result = load_settings(env)

    assert result.returncode != 0
    assert "OIDC_OP_TOKEN_ENDPOINT must be an https:// address" in result.stderr


@pytest.mark.parametrize("algorithm", ["none", "HS256", "PS256"])
def test_an_algorithm_without_the_providers_public_key_refuses_to_start(algorithm):
    result = load_settings({**BASE, **PROVIDER, "OIDC_RP_SIGN_ALGO": algorithm})

    assert result.returncode != 0
    assert "OIDC_RP_SIGN_ALGO must be one of RS256" in result.stderr
