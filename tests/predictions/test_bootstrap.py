"""`manage.py bootstrap` (predictions/installation.py): first run and upgrade, doing only what is missing."""
from __future__ import annotations

import functools
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest
from django.test import Client

from modelstore import services as model_services
from modelstore.models import ModelVersion

PASSWORD = "quarry-lantern-mosaic-81"
SUPERUSER = {
    "DJANGO_SUPERUSER_USERNAME": "operator",
    "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
    "DJANGO_SUPERUSER_EMAIL": "operator@school.example",
}
CACHE_TABLE = "bootstrap_test_cache"


def bootstrap() -> list[str]:
    out = io.StringIO()
    call_command("bootstrap", stdout=out)
    return out.getvalue().splitlines()


@pytest.fixture(autouse=True)
def environment(monkeypatch):
    """environment(**variables): the DJANGO_SUPERUSER_* variables bootstrap sees; none unless given."""
    for name in SUPERUSER:
        monkeypatch.delenv(name, raising=False)

    def set_variables(**variables):
        for name, value in variables.items():
            monkeypatch.setenv(name, value)

    return set_variables


@pytest.fixture
def database_cache(settings):
    """The production default: the cache in a database table, here one the test database does not have yet."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": CACHE_TABLE}
    }


def test_a_second_run_creates_nothing_changes_no_password_and_trains_nothing(
    environment, database_cache, active_version
):
    environment(**SUPERUSER)

    first = bootstrap()
    password_hash = get_user_model().objects.get(username="operator").password
    second = bootstrap()

    assert first == [
        "Migrations: none to apply.",
        f"Cache table: created {CACHE_TABLE}.",
        "Superuser: created 'operator'.",
        "Model: v1 'test-default' is active; nothing trained.",
    ]
    assert second == [
        "Migrations: none to apply.",
        f"Cache table: {CACHE_TABLE} exists; nothing to do.",
        "Superuser: 'operator' exists; left unchanged.",
        "Model: v1 'test-default' is active; nothing trained.",
    ]
    assert get_user_model().objects.get(username="operator").password == password_hash
    assert CACHE_TABLE in connection.introspection.table_names()
    assert ModelVersion.objects.count() == 1


def test_the_superuser_comes_from_the_environment_and_can_log_in(environment, active_version):
    environment(**SUPERUSER)

    bootstrap()

    user = get_user_model().objects.get(username="operator")
    assert user.email == "operator@school.example" and user.is_superuser and user.is_staff and user.is_active
    assert Client().login(request=HttpRequest(), username="operator", password=PASSWORD)


def test_an_existing_account_keeps_its_password_and_rights(environment, make_user, active_version):
    teacher = make_user("operator")
    environment(**SUPERUSER)

    assert "Superuser: 'operator' exists; left unchanged." in bootstrap()

    unchanged = get_user_model().objects.get(pk=teacher.pk)
    assert unchanged.password == teacher.password and not unchanged.is_superuser


def test_a_username_without_password_fails_before_doing_anything(environment, db):
    environment(DJANGO_SUPERUSER_USERNAME="operator")
    out = io.StringIO()

    with pytest.raises(CommandError, match="DJANGO_SUPERUSER_USERNAME is set but DJANGO_SUPERUSER_PASSWORD is not"):
        call_command("bootstrap", stdout=out)
    assert out.getvalue() == "" and not get_user_model().objects.exists()


def test_a_password_without_username_fails(environment, db):
    environment(DJANGO_SUPERUSER_PASSWORD=PASSWORD)

    with pytest.raises(CommandError, match="DJANGO_SUPERUSER_PASSWORD or DJANGO_SUPERUSER_EMAIL is set but"):
        bootstrap()


def test_a_weak_password_is_refused_by_the_validators(environment, active_version):
    environment(**SUPERUSER | {"DJANGO_SUPERUSER_PASSWORD": "password"})

    with pytest.raises(CommandError, match=r"DJANGO_SUPERUSER_PASSWORD: .*too common"):
        bootstrap()
    assert not get_user_model().objects.filter(username="operator").exists()


def test_without_superuser_variables_none_is_created_and_it_says_so(active_version):
    assert "Superuser: DJANGO_SUPERUSER_USERNAME is not set; none created." in bootstrap()
    assert not get_user_model().objects.exists()


# Some rare categories are missing from a quarter of the students: expected, and encoded as "none of them".
@pytest.mark.filterwarnings("ignore:Found unknown categories")
def test_with_no_active_version_the_default_model_is_trained_and_activated_once(db, small_csv, monkeypatch):
    # The real training path (train_model's), on a quarter of the students with few trees; the full recipe is
    # trained in tests/modelstore.
    train = functools.partial(model_services.model_version_train, data_path=small_csv)
    monkeypatch.setattr(model_services, "model_version_train", train)

    first = bootstrap()
    second = bootstrap()

    version = ModelVersion.objects.get()
    assert (version.version, version.name, version.status) == (1, "default", "active")
    assert first[-1] == "Model: trained and activated v1 'default'."
    assert second[-1] == "Model: v1 'default' is active; nothing trained."


def test_a_rejected_default_model_fails_the_run(db, monkeypatch):
    def train_rejected(**options):
        assert options == {"activate": True}
        return ModelVersion.objects.create(
            version=1, name="default", status=ModelVersion.Status.REJECTED, rejection_reason="It predicts nonsense."
        )

    monkeypatch.setattr(model_services, "model_version_train", train_rejected)

    with pytest.raises(CommandError, match="v1 was trained but rejected: It predicts nonsense."):
        bootstrap()


@pytest.fixture
def schema_restored(transactional_db):
    """Real transactions (SQLite cannot migrate inside the test's), and every migration applied again afterwards
    whatever the test did, for the tests that follow."""
    yield
    call_command("migrate", verbosity=0)


def test_pending_migrations_are_applied(schema_restored, active_version):
    # Back before the newest modelstore migration, which takes the predictions migration needing it along.
    call_command("migrate", "modelstore", "0003", verbosity=0)
    plan = MigrationExecutor(connection).migration_plan(MigrationExecutor(connection).loader.graph.leaf_nodes())
    pending = [f"{migration.app_label}.{migration.name}" for migration, _ in plan]

    lines = bootstrap()

    assert pending[:2] == ["modelstore.0004_challenger_training_data", "predictions.0014_shadow_predictions"]
    assert lines[0] == f"Migrations: applied {len(pending)} ({', '.join(pending)})."
    executor = MigrationExecutor(connection)
    assert executor.migration_plan(executor.loader.graph.leaf_nodes()) == []


@pytest.fixture
def database_starting(db, monkeypatch):
    """The database refuses connections `refusals` times, then answers (as PostgreSQL does while it initialises)."""
    from django.db import OperationalError

    state = {"refusals": 0, "attempts": 0, "answered_on_attempt": None}
    real = connection.ensure_connection

    def ensure_connection():
        state["attempts"] += 1
        if state["attempts"] <= state["refusals"]:
            raise OperationalError("connection refused")
        state["answered_on_attempt"] = state["answered_on_attempt"] or state["attempts"]
        return real()

    monkeypatch.setattr(connection, "ensure_connection", ensure_connection)
    yield state
    state["refusals"] = 0  # the database answers again for the test's own teardown (its rollback)


def test_bootstrap_waits_for_a_database_that_is_still_starting(database_starting, active_version, monkeypatch):
    from predictions import installation

    monkeypatch.setattr(installation.time, "sleep", lambda seconds: None)
    database_starting.update(refusals=3, attempts=0, answered_on_attempt=None)  # from now on
    out = io.StringIO()

    call_command("bootstrap", "--wait-for-database", "30", stdout=out)

    assert database_starting["answered_on_attempt"] == 4
    assert out.getvalue().splitlines()[0].startswith("Database: answered after")


def test_bootstrap_gives_up_on_a_database_that_never_answers_and_names_it(database_starting, db):
    database_starting.update(refusals=10**6, attempts=0)

    with pytest.raises(CommandError, match="The database did not accept a connection within 0.05 s"):
        call_command("bootstrap", "--wait-for-database", "0.05", stdout=io.StringIO())
