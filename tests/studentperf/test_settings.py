"""The settings come from the environment, and production refuses to start without real secrets."""
import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = base64.urlsafe_b64encode(os.urandom(32)).decode()
GOOD_SECRET = "s" * 10 + base64.urlsafe_b64encode(os.urandom(32)).decode()


def load_settings(
    env: dict, show: str = "settings.DATABASES['default']['ENGINE'], settings.DEBUG"
) -> subprocess.CompletedProcess:
    """Import the production settings in a fresh process with exactly `env` (no .env file is read); stdout is
    `show`, evaluated there."""
    script = f"import django, sys; from django.conf import settings; django.setup(); print({show})"
    # Log lines (django-axes says hello at start-up) go to stderr: stdout is the answer read here.
    base = {
        "PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "studentperf.settings", "DOTENV_DISABLED": "1",
        "LOG_STREAM": "stderr",
    }
    return subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=60
    )


def test_production_refuses_to_start_without_a_secret_key():
    result = load_settings({"MODEL_ENCRYPTION_KEY": GOOD_KEY})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_production_refuses_a_weak_secret_key():
    result = load_settings({"DJANGO_SECRET_KEY": "django-insecure-short", "MODEL_ENCRYPTION_KEY": GOOD_KEY})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be a real secret" in result.stderr


@pytest.mark.parametrize(
    "key, reason",
    [("", "MODEL_ENCRYPTION_KEY must be set"), (base64.urlsafe_b64encode(b"short").decode(), "32 bytes")],
)
def test_production_refuses_a_missing_or_wrong_size_encryption_key(key, reason):
    result = load_settings({"DJANGO_SECRET_KEY": GOOD_SECRET, "MODEL_ENCRYPTION_KEY": key})
    assert result.returncode != 0
    assert reason in result.stderr


def test_database_url_selects_postgresql_and_default_is_sqlite():
    env = {"DJANGO_SECRET_KEY": GOOD_SECRET, "MODEL_ENCRYPTION_KEY": GOOD_KEY}
    default = load_settings(env)
    assert default.returncode == 0, default.stderr
    assert default.stdout.split() == ["django.db.backends.sqlite3", "False"]
    postgres = load_settings({**env, "DATABASE_URL": "postgres://u:p@127.0.0.1:5432/db"})
    assert postgres.returncode == 0, postgres.stderr
    assert postgres.stdout.split()[0] == "django.db.backends.postgresql"


@pytest.mark.parametrize("env, cache", [
    ({}, "DatabaseCache studentperf_cache"),
    ({"REDIS_URL": "redis://queue:6379/0"}, "RedisCache redis://queue:6379/0"),
    (
        {"REDIS_URL": "redis://queue:6379/0", "CACHE_REDIS_URL": "redis://cache:6379/1"},
        "RedisCache redis://cache:6379/1",
    ),
])
def test_the_shared_cache_is_the_redis_of_redis_url_when_set(env, cache):
    show = "settings.CACHES['default']['BACKEND'].rpartition('.')[2], settings.CACHES['default']['LOCATION']"
    result = load_settings({"DJANGO_SECRET_KEY": GOOD_SECRET, "MODEL_ENCRYPTION_KEY": GOOD_KEY, **env}, show=show)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == cache


def test_sqlite_lets_a_worker_write_while_a_page_reads_and_waits_for_the_lock(db):
    """The web server and a Celery worker share the embedded SQLite file: WAL, a busy timeout, and write
    transactions that take the lock up front (a reader never has to upgrade, so two writers cannot deadlock)."""
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    with connection.cursor() as cursor:
        journal = cursor.execute("PRAGMA journal_mode").fetchone()[0]
        busy_ms = cursor.execute("PRAGMA busy_timeout").fetchone()[0]
    assert journal == "wal"
    assert busy_ms >= 20_000
    assert connection.settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def test_an_unknown_log_stream_is_refused_by_name():
    result = load_settings({"DJANGO_SECRET_KEY": GOOD_SECRET, "MODEL_ENCRYPTION_KEY": GOOD_KEY, "LOG_STREAM": "syslog"})
    assert result.returncode != 0
    assert "LOG_STREAM must be stdout or stderr" in result.stderr
