"""Fixtures shared by the whole suite.

Training on the real data takes seconds, so pipelines are trained once per test session. Every test that
needs a served model registers and activates small ones (the real recipe with few trees) in its own
(rolled back) transaction; the full-size model is for the tests of training and accuracy.
"""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def dataset():
    from modelstore.ml.data import load_dataset

    return load_dataset()


@pytest.fixture(scope="session")
def trained_pipelines(dataset):
    """dict setup -> fitted Pipeline, the default recipe trained on data/student-mat.csv."""
    from modelstore.ml.recipe import train_pipelines

    return train_pipelines(dataset)


@pytest.fixture(scope="session")
def small_pipelines(dataset):
    """The recipe's pipelines with 5 trees instead of hundreds: the same steps and types, trained on the
    real data, packaged and loaded in a blink. For tests of serving, not of accuracy."""
    from modelstore.ml.recipe import build_pipeline
    from modelstore.schema import SETUP_FEATURES, SETUPS, TARGET

    def small(setup):
        pipeline = build_pipeline(setup)
        sizes = [
            name for name in pipeline.get_params()
            if name.startswith("regressor__estimator__") and name.endswith(("__n_estimators", "__max_iter"))
        ]
        return pipeline.set_params(**dict.fromkeys(sizes, 5))

    return {setup: small(setup).fit(dataset[list(SETUP_FEATURES[setup])], dataset[TARGET]) for setup in SETUPS}


@pytest.fixture
def small_csv(tmp_path, monkeypatch):
    """Every 4th student, trained with few trees and 2-fold cross-validation: the real training path (training,
    cross-validation, registration, validation, compilation), quickly."""
    import functools

    from modelstore import services
    from modelstore.ml import evaluation
    from modelstore.ml.data import DEFAULT_DATA_PATH
    from modelstore.ml.recipe import RECIPE

    monkeypatch.setitem(RECIPE["params"]["mean"], "n_estimators", 10)
    monkeypatch.setitem(RECIPE["params"]["median"], "max_iter", 10)
    monkeypatch.setattr(services, "CV_FOLDS", 2)
    # In this process, so that the fewer trees apply to the cross-validation too.
    monkeypatch.setattr(evaluation, "evaluate", functools.partial(evaluation.evaluate, n_jobs=1))
    header, *rows = DEFAULT_DATA_PATH.read_text().splitlines(keepends=True)
    path = tmp_path / "students.csv"
    path.write_text(header + "".join(rows[::4]))
    return path


@pytest.fixture
def record() -> dict:
    """A valid record with both period grades (setup A): the first student of data/student-mat.csv without
    G3, also the API documentation's example; a fresh copy for each test."""
    from predictions.api.examples import RECORD

    return dict(RECORD)


@pytest.fixture
def odd_record(record) -> dict:
    """A valid record unlike the students the model learned from: each attribute at one of its rarest values in
    data/student-mat.csv (age 22 and 75 absences: one student each), so every model version flags it unusual."""
    return dict(
        record, school="MS", age=22, Pstatus="A", Medu=0, Fedu=0, Fjob="health", guardian="other", traveltime=4,
        failures=3, higher="no", famrel=1, Dalc=5, absences=75,
    )


@pytest.fixture
def active_version(db, small_pipelines):
    """A version registered and activated through the real services, serving the small pipelines."""
    from modelstore import services

    version = services.model_version_register(
        pipelines=small_pipelines, name="test-default", description="trained by the test suite", created_by=None
    )
    return services.model_version_activate(version=version, user=None)


PASSWORD = "a-long-test-password"


@pytest.fixture
def make_user(db, django_user_model):
    """make_user(username, role) -> an account with the password PASSWORD. role: "teacher", "model_admin"
    (through predictions.access.roles.user_create, as `create_user` makes them), "superuser", or None (no role)."""
    from predictions.access.roles import user_create

    def make(username, role="teacher"):
        if role == "superuser":
            return django_user_model.objects.create_superuser(username=username, password=PASSWORD, email="")
        if role is None:
            return django_user_model.objects.create_user(username=username, password=PASSWORD)
        return user_create(username=username, password=PASSWORD, role=role)

    return make


@pytest.fixture
def user(make_user):
    """A teacher."""
    return make_user("teacher")


@pytest.fixture
def model_admin(make_user):
    return make_user("modeladmin", "model_admin")


@pytest.fixture
def superuser(make_user):
    return make_user("root", "superuser")


def otp_verify(client, user):
    """Pass the second factor for `user` in the session of `client` (a Client or APIClient logged in as them), as
    the verification page does (django_otp.login): superusers and model admins reach nothing else without it
    (predictions/two_factor/). Gives `user` a confirmed authenticator app if they have none; returns it."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
        user=user, name="test authenticator", confirmed=True
    )
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return device


def sign_in(client, user):
    """Log `client` in as `user` with their second factor passed: what a person reaches after the full login."""
    client.force_login(user)
    otp_verify(client, user)
    return client


def totp_code(secret: str, *, steps_ahead: int = 0) -> str:
    """The code an authenticator app shows for the base32 `secret` (as the enrolment page prints it, spaces and all),
    `steps_ahead` 30-second steps from now. The server takes one step either side of now, each step once: a second
    login within the same 30 seconds passes with steps_ahead=1."""
    from base64 import b32decode

    from django_otp.oath import TOTP

    return f"{TOTP(b32decode(secret.replace(' ', '').upper()), drift=steps_ahead).token():06d}"


@pytest.fixture
def admin_client(client, admin_user):
    """pytest-django's admin_client, past the second factor as a superuser must be."""
    return sign_in(client, admin_user)


@pytest.fixture
def roles(transactional_db):
    """The role groups again, for tests with real transactions (a worker process or a live server must see
    committed rows): such a test flushes every table afterwards, the migration's groups included."""
    from django.apps import apps

    from predictions.access.roles import roles_sync

    roles_sync(apps=apps)


@pytest.fixture
def make_api_key(db):
    """make_api_key(scopes=("predict", "read", "write"), **fields) -> (ApiKey, key): a stored key and its secret."""
    from predictions.models import ApiKey

    def make(scopes=ApiKey.SCOPES, name="test system", **fields):
        return ApiKey.objects.create_key(name=name, scopes=list(scopes), **fields)

    return make


@pytest.fixture
def api_client(make_api_key):
    """api_client(*scopes) -> an APIClient sending `Authorization: Api-Key <key>`; every scope by default."""
    from rest_framework.test import APIClient

    def make(*scopes):
        api_key, key = make_api_key(scopes=scopes or ("predict", "read", "write"))
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        client.api_key = api_key
        return client

    return make


@pytest.fixture(autouse=True)
def _clear_cache(monkeypatch):
    """Rate-limit counters live in the cache (or in studentperf.ratelimit's per-process fallback): start each test
    with none. Their windows are cut from a clock held 30 s into a minute, so that a test's requests never straddle
    two windows (a test that moves time sets its own clock)."""
    from django.core.cache import cache

    from studentperf import ratelimit

    monkeypatch.setattr(ratelimit, "clock", lambda: 1_800_000_030.0)
    cache.clear()
    ratelimit._local_counts.clear()
    yield
    cache.clear()
    ratelimit._local_counts.clear()
