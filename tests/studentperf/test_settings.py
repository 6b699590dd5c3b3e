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
        "PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "studentperf.settings",
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
    ({}, "django.core.cache.backends.db.DatabaseCache studentperf_cache"),
    # studentperf/cache.py's backend: Django's RedisCache keeping its clients
    ({"REDIS_URL": "redis://queue:6379/0"}, "studentperf.cache.RedisCache redis://queue:6379/0"),
    (
        {"REDIS_URL": "redis://queue:6379/0", "CACHE_REDIS_URL": "redis://cache:6379/1"},
        "studentperf.cache.RedisCache redis://cache:6379/1",
    ),
])
def test_the_shared_cache_is_the_redis_of_redis_url_when_set(env, cache):
    show = "settings.CACHES['default']['BACKEND'], settings.CACHES['default']['LOCATION']"
    result = load_settings({"DJANGO_SECRET_KEY": GOOD_SECRET, "MODEL_ENCRYPTION_KEY": GOOD_KEY, **env}, show=show)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == cache


@pytest.mark.parametrize("env, zone", [({}, "Europe/Lisbon"), ({"TIME_ZONE": "Atlantic/Azores"}, "Atlantic/Azores")])
def test_the_time_zone_is_the_schools_lisbon_by_default_and_celery_follows_it(env, zone):
    show = "settings.TIME_ZONE, settings.CELERY_TIMEZONE, settings.USE_TZ"
    result = load_settings({"DJANGO_SECRET_KEY": GOOD_SECRET, "MODEL_ENCRYPTION_KEY": GOOD_KEY, **env}, show=show)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [zone, zone, "True"]


def test_an_unknown_time_zone_stops_start_up_with_a_message_naming_the_variable():
    env = {"DJANGO_SECRET_KEY": GOOD_SECRET, "MODEL_ENCRYPTION_KEY": GOOD_KEY, "TIME_ZONE": "Europe/Lisboa"}
    result = load_settings(env)
    assert result.returncode != 0
    assert ("ImproperlyConfigured: TIME_ZONE must be an IANA time zone name such as \"Europe/Lisbon\" or \"UTC\" "
            "(got 'Europe/Lisboa').") in result.stderr


@pytest.mark.parametrize("variable", ["API_THROTTLE_KEY", "API_THROTTLE_USER", "API_THROTTLE_ANON"])
def test_a_malformed_rate_stops_start_up_naming_the_variable(variable):
    env = {"DJANGO_SECRET_KEY": GOOD_SECRET, "MODEL_ENCRYPTION_KEY": GOOD_KEY}
    assert load_settings({**env, variable: "20 / minute"}, show="settings.DEBUG").returncode == 0
    result = load_settings({**env, variable: "60/week"})
    assert result.returncode != 0
    assert f"ImproperlyConfigured: {variable} must look like 600/min" in result.stderr and "'60/week'" in result.stderr


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


# --- production behind the TLS proxy (docs/deployment.md, "TLS") ---

PRODUCTION = {"DJANGO_SECRET_KEY": GOOD_SECRET, "MODEL_ENCRYPTION_KEYS": GOOD_KEY,
              "DJANGO_ALLOWED_HOSTS": "studentperf.school.example"}


def test_with_debug_off_the_secure_defaults_are_on_without_any_other_variable():
    show = ("settings.SECURE_SSL_REDIRECT, settings.SECURE_PROXY_SSL_HEADER, settings.SECURE_HSTS_SECONDS, "
            "settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE, settings.CSRF_TRUSTED_ORIGINS, "
            "settings.SECURE_REDIRECT_EXEMPT")
    result = load_settings(PRODUCTION, show=f"repr(({show}))")

    assert result.returncode == 0, result.stderr
    redirect, proxy_header, hsts, session_secure, csrf_secure, origins, exempt = eval(result.stdout)
    assert redirect is True and session_secure is True and csrf_secure is True
    assert proxy_header == ("HTTP_X_FORWARDED_PROTO", "https")
    assert hsts >= 365 * 24 * 3600
    assert origins == ["https://studentperf.school.example"]
    assert any(__import__("re").search(pattern, "health/ready") for pattern in exempt)


def test_development_keeps_plain_http():
    result = load_settings({**PRODUCTION, "DJANGO_DEBUG": "1"},
                           show="settings.SECURE_SSL_REDIRECT, settings.SECURE_HSTS_SECONDS")

    assert result.stdout.split() == ["False", "0"]


@pytest.mark.parametrize("env, origins", [
    ({"DJANGO_ALLOWED_HOSTS": "a.example,.school.example,*"}, ["https://a.example", "https://*.school.example"]),
    ({"DJANGO_CSRF_TRUSTED_ORIGINS": "https://localhost:8443, https://127.0.0.1:8443"},
     ["https://localhost:8443", "https://127.0.0.1:8443"]),
])
def test_csrf_trusted_origins_default_to_https_of_each_allowed_host(env, origins):
    result = load_settings({**PRODUCTION, **env}, show="repr(settings.CSRF_TRUSTED_ORIGINS)")

    assert result.returncode == 0, result.stderr
    assert eval(result.stdout) == origins


def test_check_deploy_passes_with_only_the_required_production_variables():
    """`manage.py check --deploy --fail-level WARNING` is clean: no HSTS, SSL-redirect or cookie warnings."""
    env = {"PATH": os.environ["PATH"], "LOG_STREAM": "stderr", **PRODUCTION}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_model_encryption_keys_take_several_keys_and_the_single_key_still_works():
    other = base64.urlsafe_b64encode(os.urandom(32)).decode()
    several = load_settings({**PRODUCTION, "MODEL_ENCRYPTION_KEYS": f"{other}, {GOOD_KEY}"},
                            show="len(settings.MODEL_ENCRYPTION_KEYS), settings.MODEL_ENCRYPTION_KEY.hex()")
    single = load_settings({"DJANGO_SECRET_KEY": GOOD_SECRET, "MODEL_ENCRYPTION_KEY": GOOD_KEY},
                           show="len(settings.MODEL_ENCRYPTION_KEYS), settings.MODEL_ENCRYPTION_KEY.hex()")

    assert several.stdout.split() == ["2", base64.urlsafe_b64decode(other).hex()]
    assert single.stdout.split() == ["1", base64.urlsafe_b64decode(GOOD_KEY).hex()]
    bad = load_settings({**PRODUCTION, "MODEL_ENCRYPTION_KEYS": f"{GOOD_KEY},c2hvcnQ="})
    assert bad.returncode != 0 and "MODEL_ENCRYPTION_KEYS (key 2) must decode to 32 bytes" in bad.stderr


@pytest.fixture
def project_with_a_stray_env(tmp_path):
    """A copy of the settings module (and studentperf/env.py, which it imports) in a folder whose .env says DEBUG
    on, with insecure cookies."""
    package = tmp_path / "studentperf"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for module in ("settings.py", "env.py"):
        (package / module).write_text((ROOT / "studentperf" / module).read_text())
    (tmp_path / ".env").write_text(
        f"DJANGO_DEBUG=1\nDJANGO_SECURE_COOKIES=0\nDJANGO_ALLOWED_HOSTS=*\nDATABASE_URL=sqlite:///{tmp_path}/dev.db\n"
    )
    return tmp_path


def settings_in(folder, env: dict) -> list[str]:
    script = ("import studentperf.settings as s; "
              "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.ALLOWED_HOSTS, s.DATABASES['default']['NAME'])")
    base = {"PATH": os.environ["PATH"], "PYTHONPATH": str(folder), "LOG_STREAM": "stderr"}
    result = subprocess.run([sys.executable, "-c", script], cwd=folder, env={**base, **env},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_a_stray_env_file_changes_nothing_in_production(project_with_a_stray_env):
    debug, secure_cookies, hosts, database = settings_in(project_with_a_stray_env, PRODUCTION)

    assert (debug, secure_cookies) == ("False", "True")
    assert hosts == "['studentperf.school.example']"
    assert not database.endswith("dev.db")


def test_the_env_file_is_read_when_make_run_asks_for_it(project_with_a_stray_env):
    env = {name: value for name, value in PRODUCTION.items() if name != "DJANGO_ALLOWED_HOSTS"}
    debug, secure_cookies, hosts, database = settings_in(project_with_a_stray_env, {**env, "DJANGO_READ_DOT_ENV": "1"})

    assert (debug, secure_cookies, hosts) == ("True", "False", "['*']")
    assert database.endswith("dev.db")
