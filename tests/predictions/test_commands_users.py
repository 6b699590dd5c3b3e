"""The account commands: `create_user`, `ensure_demo_users` (make run's demo logins) and the .env they read."""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from predictions.access.roles import TEACHER, user_role

ROOT = Path(__file__).resolve().parents[2]
NEW_PASSWORD = "kettle-harbour-violin-42"
DEMO_PASSWORDS = {
    "DEV_ADMIN_PASSWORD": "admin-demo-password-1",
    "DEV_TEACHER_PASSWORD": "teacher-demo-password-2",
    "DEV_MODEL_ADMIN_PASSWORD": "model-admin-demo-password-3",
}


class Terminal(io.StringIO):
    """A stand-in for an interactive stdin."""

    def isatty(self) -> bool:
        return True


def create_user(*args, **options) -> str:
    out = io.StringIO()
    call_command("create_user", *args, stdout=out, **options)
    return out.getvalue()


@pytest.fixture
def typed(monkeypatch):
    """typed(*answers): getpass.getpass returns these, one per call."""

    def answer(*answers):
        replies = iter(answers)
        monkeypatch.setattr("getpass.getpass", lambda prompt="": next(replies))

    return answer


# --- create_user ---


def test_create_user_reads_the_password_from_the_named_environment_variable(db, django_user_model, monkeypatch):
    monkeypatch.setenv("NEW_USER_PASSWORD", NEW_PASSWORD)

    out = create_user("ana", "--role", "teacher", "--password-env", "NEW_USER_PASSWORD", "--email", "ana@school.example")

    user = django_user_model.objects.get(username="ana")
    assert user.check_password(NEW_PASSWORD) and user.email == "ana@school.example"
    assert user_role(user=user) == "teacher"
    assert "ana" in out and "teacher" in out and NEW_PASSWORD not in out


def test_create_user_makes_a_model_admin_who_is_staff(db, django_user_model, monkeypatch):
    monkeypatch.setenv("NEW_USER_PASSWORD", NEW_PASSWORD)

    create_user("mo", "--role", "model_admin", "--password-env", "NEW_USER_PASSWORD")

    user = django_user_model.objects.get(username="mo")
    assert user_role(user=user) == "model_admin" and user.is_staff


def test_create_user_asks_twice_for_the_password_at_a_terminal(db, django_user_model, typed):
    typed(NEW_PASSWORD, NEW_PASSWORD)

    out = create_user("ana", "--role", "teacher", stdin=Terminal())

    user = django_user_model.objects.get(username="ana")
    assert user.check_password(NEW_PASSWORD) and user.groups.get().name == TEACHER
    assert NEW_PASSWORD not in out


def test_create_user_refuses_two_different_passwords(db, django_user_model, typed):
    typed(NEW_PASSWORD, NEW_PASSWORD + "x")

    with pytest.raises(CommandError, match="do not match"):
        create_user("ana", "--role", "teacher", stdin=Terminal())

    assert not django_user_model.objects.exists()


def test_create_user_without_a_terminal_says_to_use_password_env(db, django_user_model, typed):
    typed(NEW_PASSWORD, NEW_PASSWORD)

    with pytest.raises(CommandError, match="--password-env"):
        create_user("ana", "--role", "teacher", stdin=io.StringIO(NEW_PASSWORD))

    assert not django_user_model.objects.exists()


@pytest.mark.parametrize("value", [None, ""])
def test_create_user_refuses_an_unset_or_empty_password_variable(db, django_user_model, monkeypatch, value):
    if value is None:
        monkeypatch.delenv("NEW_USER_PASSWORD", raising=False)
    else:
        monkeypatch.setenv("NEW_USER_PASSWORD", value)

    with pytest.raises(CommandError, match="NEW_USER_PASSWORD is not set or is empty"):
        create_user("ana", "--role", "teacher", "--password-env", "NEW_USER_PASSWORD")

    assert not django_user_model.objects.exists()


def test_create_user_accepts_only_the_two_roles(db, django_user_model, monkeypatch):
    monkeypatch.setenv("NEW_USER_PASSWORD", NEW_PASSWORD)

    with pytest.raises(CommandError, match="invalid choice: 'superuser'"):
        create_user("ana", "--role", "superuser", "--password-env", "NEW_USER_PASSWORD")

    assert not django_user_model.objects.exists()


def test_create_user_names_the_field_a_weak_password_or_taken_username_fails(make_user, monkeypatch):
    make_user("ana")
    monkeypatch.setenv("WEAK", "12345")
    monkeypatch.setenv("STRONG", NEW_PASSWORD)

    with pytest.raises(CommandError, match=r"password: This password is too short"):
        create_user("bea", "--role", "teacher", "--password-env", "WEAK")
    with pytest.raises(CommandError, match=r"username: is already taken"):
        create_user("ana", "--role", "teacher", "--password-env", "STRONG")


# --- ensure_demo_users ---


@pytest.fixture
def demo_environment(monkeypatch, settings):
    settings.DEBUG = True
    for name, value in DEMO_PASSWORDS.items():
        monkeypatch.setenv(name, value)


def ensure_demo_users() -> str:
    out = io.StringIO()
    call_command("ensure_demo_users", stdout=out)
    return out.getvalue()


def test_ensure_demo_users_creates_one_login_per_role_and_prints_them(demo_environment, django_user_model):
    out = ensure_demo_users()

    users = {user.username: user for user in django_user_model.objects.all()}
    assert {name: user_role(user=user) for name, user in users.items()} == {
        "admin": "superuser", "teacher": "teacher", "modeladmin": "model_admin",
    }
    assert users["teacher"].check_password(DEMO_PASSWORDS["DEV_TEACHER_PASSWORD"])
    assert users["modeladmin"].check_password(DEMO_PASSWORDS["DEV_MODEL_ADMIN_PASSWORD"])
    assert users["admin"].check_password(DEMO_PASSWORDS["DEV_ADMIN_PASSWORD"])
    table = out[out.index("/accounts/login/"):]
    for username, password in zip(["admin", "teacher", "modeladmin"], DEMO_PASSWORDS.values()):
        assert any(line.split()[:2] == [username, password] for line in table.splitlines()), out


def test_ensure_demo_users_twice_changes_nothing(demo_environment, django_user_model):
    ensure_demo_users()
    before = list(django_user_model.objects.order_by("pk").values_list("pk", "username", "password"))

    out = ensure_demo_users()

    assert list(django_user_model.objects.order_by("pk").values_list("pk", "username", "password")) == before
    assert "Created" not in out and "teacher" in out


def test_ensure_demo_users_keeps_an_existing_account_as_it_is(demo_environment, make_user):
    teacher = make_user("teacher")

    ensure_demo_users()

    teacher.refresh_from_db()
    assert not teacher.check_password(DEMO_PASSWORDS["DEV_TEACHER_PASSWORD"])


def test_ensure_demo_users_refuses_to_run_without_debug(demo_environment, settings, django_user_model):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DJANGO_DEBUG"):
        ensure_demo_users()

    assert not django_user_model.objects.exists()


def test_ensure_demo_users_names_a_missing_password_variable(demo_environment, monkeypatch, django_user_model):
    monkeypatch.delenv("DEV_MODEL_ADMIN_PASSWORD")

    with pytest.raises(CommandError, match="DEV_MODEL_ADMIN_PASSWORD is not set.*--complete"):
        ensure_demo_users()

    assert not django_user_model.objects.exists()


# --- scripts/make_dev_env.py, which writes those passwords to .env ---


def make_dev_env(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "scripts/make_dev_env.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def env_names(text: str) -> list[str]:
    return [line.split("=", 1)[0] for line in text.splitlines() if line and not line.startswith("#")]


def test_a_new_dev_env_holds_the_three_demo_passwords():
    names = env_names(make_dev_env())

    assert {"DEV_ADMIN_PASSWORD", "DEV_TEACHER_PASSWORD", "DEV_MODEL_ADMIN_PASSWORD", "DJANGO_DEBUG"} <= set(names)


def test_completing_an_older_dev_env_appends_only_the_missing_variables(tmp_path):
    env = tmp_path / ".env"
    older = "DJANGO_DEBUG=1\nDJANGO_SECRET_KEY=mine\nMODEL_ENCRYPTION_KEY=key\nDJANGO_ALLOWED_HOSTS=localhost\n"
    env.write_text(older + "DEV_ADMIN_PASSWORD=kept")  # no final newline

    out = make_dev_env("--complete", str(env))

    text = env.read_text()
    assert text.startswith(older + "DEV_ADMIN_PASSWORD=kept\n")
    assert env_names(text) == [
        "DJANGO_DEBUG", "DJANGO_SECRET_KEY", "MODEL_ENCRYPTION_KEY", "DJANGO_ALLOWED_HOSTS", "DEV_ADMIN_PASSWORD",
        "DEV_TEACHER_PASSWORD", "DEV_MODEL_ADMIN_PASSWORD", "METRICS_TOKEN",
    ]
    assert "DEV_TEACHER_PASSWORD" in out
    make_dev_env("--complete", str(env))
    assert env.read_text() == text
