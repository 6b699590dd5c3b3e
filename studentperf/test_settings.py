"""Settings for the test suite: throw-away secrets and model store, the database from DATABASE_URL."""
import base64
import datetime
import os
import tempfile

os.environ.setdefault("DJANGO_DEBUG", "0")
os.environ.setdefault("DJANGO_SECRET_KEY", "test-" + base64.urlsafe_b64encode(os.urandom(32)).decode())
os.environ.setdefault("MODEL_ENCRYPTION_KEY", base64.urlsafe_b64encode(os.urandom(32)).decode())
os.environ.setdefault("MODEL_STORE_DIR", tempfile.mkdtemp(prefix="studentperf-models-"))
_XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _XDIST_WORKER and os.environ.get("STUDENTPERF_TEST_STORE_OF") != _XDIST_WORKER:
    # Each pytest-xdist worker has its own database, so its own model files too: version ids, hence file names,
    # repeat across workers (the controller's MODEL_STORE_DIR above reached every worker through the environment).
    # Once per worker: the processes a worker starts (a Celery worker, gunicorn) inherit its directory.
    os.environ["MODEL_STORE_DIR"] = tempfile.mkdtemp(prefix=f"studentperf-models-{_XDIST_WORKER}-")
    os.environ["STUDENTPERF_TEST_STORE_OF"] = _XDIST_WORKER
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")

from .settings import *  # noqa: E402,F401,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# A file (not in-memory) SQLite test database, so that a second process can open it in the tests
# that check what other processes see. Two processes writing (the tests and a Celery worker) wait for each
# other's lock rather than failing at once with "database is locked".
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(tempfile.mkdtemp(prefix="studentperf-db-"), "test.sqlite3")}  # noqa: F405
    DATABASES["default"].setdefault("OPTIONS", {}).update(timeout=60, transaction_mode="IMMEDIATE")  # noqa: F405
# A process the tests start (a Celery worker, tests/integration) is pointed at the test database by its name:
# the SQLite file, or PostgreSQL's test_<name>.
if os.environ.get("STUDENTPERF_TEST_DB_NAME"):
    DATABASES["default"]["NAME"] = os.environ["STUDENTPERF_TEST_DB_NAME"]  # noqa: F405

# Celery: tests never reach a developer's Redis. Messages stay in this process (kombu's memory transport)
# unless the integration fixtures start a redis-server and a worker (STUDENTPERF_TEST_BROKER_URL).
CELERY_BROKER_URL = os.environ.get("STUDENTPERF_TEST_BROKER_URL", "") or "memory://"
CELERY_RESULT_BACKEND = os.environ.get("STUDENTPERF_TEST_BROKER_URL", "") or "cache+memory://"

STATIC_ROOT = tempfile.mkdtemp(prefix="studentperf-static-")

# One process, no cache table to create: rate-limit counters in memory.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "studentperf-tests"}}
# Every test starts from its own (rolled back) data: the active model is looked up on every prediction.
ACTIVE_MODEL_CHECK_SECONDS = 0

# The login lockout (django-axes) stays on, for tests/studentperf/test_login.py, with the production defaults
# whatever a developer's .env says. Its backend needs the request: tests log in with force_login (or
# Client.login(request=HttpRequest(), ...)), as Client.login alone raises AxesBackendRequestParameterRequired.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = datetime.timedelta(minutes=15)

# The suite's client speaks plain HTTP to the application itself, as a process behind the proxy hears it; the
# secure defaults of production (redirect to HTTPS, HSTS) are tested on their own (tests/studentperf/test_settings.py).
SECURE_SSL_REDIRECT = False
SECURE_HSTS_SECONDS = 0
