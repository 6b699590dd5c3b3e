"""First run and upgrade (`manage.py bootstrap`): each step brings one thing to its wanted state and says whether
it had to do anything, so that running them all on every start is safe."""
from __future__ import annotations

import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.validators import validate_email
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections
from django.db.migrations.executor import MigrationExecutor

from modelstore import selectors as model_selectors
from modelstore import services as model_services
from modelstore.models import ModelVersion
from predictions.access.roles import password_validate
from studentperf.errors import ApplicationError

DATABASE_CACHE = "django.core.cache.backends.db.DatabaseCache"


def database_wait(*, seconds: float, interval: float = 1.0) -> float:
    """Wait until the default database accepts a connection, for at most `seconds`; how long it took.

    A container starts beside its database (compose starts both at once; some runtimes cannot wait for the
    database's health check): the first run must not fail because PostgreSQL is still initialising. Raises
    ApplicationError naming the database once the time is up.
    """
    connection = connections[DEFAULT_DB_ALIAS]
    started = time.monotonic()
    while True:
        try:
            connection.ensure_connection()
            return time.monotonic() - started
        except OperationalError as exc:  # the connection was not made: the next attempt opens a new one
            if time.monotonic() - started + interval > seconds:
                raise ApplicationError(
                    f"The database did not accept a connection within {seconds:g} s ({type(exc).__name__}: "
                    f"{str(exc).strip().splitlines()[0] if str(exc).strip() else 'no detail'}).",
                    kind="unavailable", fields={"database": ["does not answer"]},
                ) from exc
            time.sleep(interval)


def migrations_apply() -> list[str]:
    """Apply every migration not yet applied to the default database; the "app.name" of each one applied."""
    connection = connections[DEFAULT_DB_ALIAS]
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        call_command("migrate", interactive=False, verbosity=0)
    return [f"{migration.app_label}.{migration.name}" for migration, _ in plan]


def cache_tables_ensure() -> tuple[list[str], list[str]]:
    """(created, already there): the tables of the caches in settings.CACHES that use the database."""
    tables = [
        cache["LOCATION"] for cache in settings.CACHES.values() if cache.get("BACKEND") == DATABASE_CACHE
    ]
    if not tables:
        return [], []
    existing = set(connections[DEFAULT_DB_ALIAS].introspection.table_names())
    call_command("createcachetable", verbosity=0)  # creates the missing ones only
    return [table for table in tables if table not in existing], [table for table in tables if table in existing]


def superuser_ensure(*, username: str, email: str, password: str) -> bool:
    """Create a superuser (staff, every permission: no role group needed) unless an account `username` exists;
    an existing account is left exactly as it is, its password included. True if it was created.

    The password must pass settings.AUTH_PASSWORD_VALIDATORS. Raises ApplicationError naming the bad field.
    """
    username = username.strip()
    if not username:
        raise ApplicationError("A username is required.", fields={"username": ["is required"]})
    user_model = get_user_model()
    if user_model.objects.filter(username=username).exists():
        return False
    if email:
        try:
            validate_email(email)
        except ValidationError as exc:
            raise ApplicationError("The e-mail address is not valid.", fields={"email": list(exc.messages)}) from exc
    password_validate(password=password, user=user_model(username=username, email=email))
    user_model.objects.create_superuser(username=username, email=email, password=password)
    return True


def default_model_ensure() -> tuple[ModelVersion, bool]:
    """(the active version, whether it was trained now): when no version is active, train the recipe on
    data/student-mat.csv, as `train_model --activate` does, and activate it. Raises ApplicationError if the new
    version is rejected."""
    active = model_selectors.model_version_active_find()
    if active is not None:
        return active, False
    version = model_services.model_version_train(activate=True)
    if version.status != ModelVersion.Status.ACTIVE:
        raise ApplicationError(
            f"The default model v{version.version} was trained but rejected: {version.rejection_reason}",
            kind="unavailable",
        )
    return version, True
