"""Settings, all from environment variables (see README, "Configuration").

The project's `.env` (written by `make run` for development, never committed) is read only when
DJANGO_READ_DOT_ENV=1, which `make run` sets: a stray `.env` left in a production folder changes nothing.
Real environment variables win over it. With DJANGO_DEBUG off, the settings refuse to start without a
real DJANGO_SECRET_KEY and MODEL_ENCRYPTION_KEYS (or MODEL_ENCRYPTION_KEY), and the secure defaults for
running behind an HTTPS proxy are on (docs/deployment.md, "TLS").
"""
from __future__ import annotations

import base64
import binascii
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv

BASE_DIR = Path(__file__).resolve().parent.parent
# Only on request: production (containers, systemd) sets real variables and must not pick up a developer's file.
if os.environ.get("DJANGO_READ_DOT_ENV", "").strip() == "1":
    load_dotenv(BASE_DIR / ".env", override=False)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ImproperlyConfigured(f"{name} must be set (see README, 'Configuration').")
    return value


def _encryption_key(raw: str, name: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(raw.encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise ImproperlyConfigured(f"{name} must be URL-safe base64.") from exc
    if len(key) != 32:
        raise ImproperlyConfigured(f"{name} must decode to 32 bytes (AES-256).")
    return key


def _encryption_keys() -> tuple[bytes, ...]:
    """MODEL_ENCRYPTION_KEYS (comma-separated: the first encrypts, every one decrypts), else MODEL_ENCRYPTION_KEY."""
    if env_list("MODEL_ENCRYPTION_KEYS"):
        return tuple(
            _encryption_key(raw, f"MODEL_ENCRYPTION_KEYS (key {number})")
            for number, raw in enumerate(env_list("MODEL_ENCRYPTION_KEYS"), start=1)
        )
    if not os.environ.get("MODEL_ENCRYPTION_KEY", "").strip():
        raise ImproperlyConfigured(
            "MODEL_ENCRYPTION_KEYS or MODEL_ENCRYPTION_KEY must be set (see README, 'Configuration')."
        )
    return (_encryption_key(os.environ["MODEL_ENCRYPTION_KEY"].strip(), "MODEL_ENCRYPTION_KEY"),)


DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = _required("DJANGO_SECRET_KEY")
if not DEBUG and (SECRET_KEY.startswith("django-insecure") or len(SECRET_KEY) < 32):
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be a real secret of 32+ characters in production.")
# Model artifacts at rest (modelstore/storage.py): written under the first key, read under any of them, so that a
# new key can be put first and `manage.py rotate_model_key` re-encrypts the store before the old one is dropped.
MODEL_ENCRYPTION_KEYS = _encryption_keys()
MODEL_ENCRYPTION_KEY = MODEL_ENCRYPTION_KEYS[0]
MODEL_STORE_DIR = Path(os.environ.get("MODEL_STORE_DIR", "") or BASE_DIR / "var" / "models")
MODEL_UPLOAD_MAX_BYTES = int(os.environ.get("MODEL_UPLOAD_MAX_BYTES", "") or 50 * 1024 * 1024)  # admin model uploads
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "modelstore",
    "predictions",
]

MIDDLEWARE = [
    # First: every response gets its X-Request-ID and an access line, static files and errors included.
    "studentperf.observability.middleware.RequestLogMiddleware",
    # Then the probes, answered whatever the Host header, and the forwarded headers of untrusted clients dropped,
    # both before anything reads the host or the scheme (studentperf/proxy.py).
    "studentperf.proxy.HealthProbeMiddleware",
    "studentperf.proxy.ForwardedHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "studentperf.urls"
WSGI_APPLICATION = "studentperf.wsgi.application"
ASGI_APPLICATION = "studentperf.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", "") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default is shared by the web server and the Celery worker: WAL lets pages read while a
    # worker commits a chunk, writers queue for the lock (up to `timeout` seconds) instead of failing with
    # "database is locked", and IMMEDIATE transactions take the write lock up front, so two writers never
    # deadlock upgrading a read lock. synchronous=NORMAL is WAL's recommended durability trade-off.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=int(os.environ.get("SQLITE_TIMEOUT", "30")),
        transaction_mode="IMMEDIATE",
        init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

# Login lockout (django-axes; docs/security.md): after LOGIN_FAILURE_LIMIT wrong passwords for one username from
# one IP address, that pair is refused for LOGIN_LOCKOUT_MINUTES (each further attempt starts the wait again), on
# every form that authenticates with the request: /accounts/login/ and /admin/login/. The IP address is the client's
# as the trusted proxy forwards it (studentperf.proxy.client_address): behind the TLS proxy, REMOTE_ADDR is the
# proxy's for everyone, and one attacker would lock every teacher out. X-Forwarded-For is believed only from
# FORWARDED_ALLOW_IPS, so a client cannot pick a fresh address for each guess.
INSTALLED_APPS += ["axes"]
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]  # last, as axes requires: it turns a refused login into its page
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "") or 5)
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("LOGIN_LOCKOUT_MINUTES", "") or 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "studentperf.proxy.client_address"

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]  # the app's own stylesheet and scripts: no CDN, works offline

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE = not DEBUG and env_bool("DJANGO_SECURE_COOKIES", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- Behind the TLS proxy (docs/deployment.md, "TLS"; studentperf/proxy.py) -----------------------------------
# With DJANGO_DEBUG off these are on without any variable: the request is HTTPS when the trusted proxy says so,
# plain HTTP is redirected (except the probes and /metrics, which orchestrators and Prometheus ask of the process
# itself over the internal network; the proxy does not pass /metrics on),
# browsers are told to stay on HTTPS for a year (HSTS), and cookies are only sent over HTTPS (above).
# The proxy's addresses (or networks; `*` where only the proxy can reach the web processes, as in compose.yaml),
# read by gunicorn too for its own scheme headers. Default: a proxy on the same machine.
FORWARDED_ALLOW_IPS = env_list("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
HEALTH_PROBE_PATHS = ("/health/live", "/health/ready")
SECURE_REDIRECT_EXEMPT = [r"^health/(live|ready)$", r"^metrics$"]
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", "") or (0 if DEBUG else 365 * 24 * 3600))
# A dedicated host name for studentperf: its subdomains are its own. Preload only takes effect if someone submits
# the domain to the browsers' list; the directive alone changes nothing.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", True)


def _trusted_origins(hosts: list[str]) -> list[str]:
    """`https://` + each allowed host (`.example.org` becomes `https://*.example.org`; `*` gives nothing)."""
    return [f"https://*{host}" if host.startswith(".") else f"https://{host}" for host in hosts if host != "*"]


# Origins whose form POSTs pass the CSRF check besides the site's own: DJANGO_CSRF_TRUSTED_ORIGINS
# (comma-separated, with scheme and any port, e.g. https://studentperf.school.example:8443).
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS") or _trusted_origins(ALLOWED_HOSTS)

# Risk bands from the pass probability: below RISK_HIGH_BELOW is high risk, below RISK_MEDIUM_BELOW medium.
RISK_HIGH_BELOW = float(os.environ.get("RISK_HIGH_BELOW", "0.5"))
RISK_MEDIUM_BELOW = float(os.environ.get("RISK_MEDIUM_BELOW", "0.8"))
# Stated coverage of the grade interval (split-conformal).
PREDICTION_INTERVAL_COVERAGE = float(os.environ.get("PREDICTION_INTERVAL_COVERAGE", "0.9"))
TOP_FACTORS = 5
# How often a process looks again at which model version is active (one small query; README, "Serving"): an
# activation or rollback is served by the other processes within this many seconds, by the process that made
# it at once. 0: look on every prediction.
ACTIVE_MODEL_CHECK_SECONDS = float(os.environ.get("ACTIVE_MODEL_CHECK_SECONDS", "") or 1)

# Accuracy and drift checks, and their alerts (docs/monitoring.md). Beat runs the check every
# ACCURACY_CHECK_INTERVAL_HOURS (in the Celery block); `manage.py check_accuracy` and the monitoring page run it now.
DRIFT_WINDOW_DAYS = int(os.environ.get("DRIFT_WINDOW_DAYS", "") or 30)  # "recent" predictions and batch rows
DRIFT_MIN_SAMPLES = int(os.environ.get("DRIFT_MIN_SAMPLES", "") or 30)  # fewer recent records: "not enough data"
DRIFT_P_VALUE = float(os.environ.get("DRIFT_P_VALUE", "") or 0.01)  # family-wise, Bonferroni-corrected per feature
ALERT_ACCURACY_BELOW = float(os.environ.get("ALERT_ACCURACY_BELOW", "") or 0.80)
ALERT_MIN_PAIRS = int(os.environ.get("ALERT_MIN_PAIRS", "") or 30)  # fewer pairs (or batch rows): no alert
ALERT_COVERAGE_TOLERANCE = float(os.environ.get("ALERT_COVERAGE_TOLERANCE", "") or 0.05)
ALERT_FAILED_SHARE_ABOVE = float(os.environ.get("ALERT_FAILED_SHARE_ABOVE", "") or 0.2)
ALERT_EMAILS = env_list("ALERT_EMAILS")  # comma-separated; empty: no e-mail
ALERT_WEBHOOK_URL = os.environ.get("ALERT_WEBHOOK_URL", "").strip()  # a JSON POST per alert; empty: none
ALERT_WEBHOOK_TIMEOUT = float(os.environ.get("ALERT_WEBHOOK_TIMEOUT", "") or 5)

# Outgoing e-mail (alerts). SMTP when EMAIL_HOST is set; otherwise mail is printed on the console, so that
# nothing is silently lost in development. EMAIL_BACKEND overrides both.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "").strip()
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "") or 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = float(os.environ.get("EMAIL_TIMEOUT", "") or 10)
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "").strip() or (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend"
)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "") or "studentperf@localhost"

# The REST API (docs/api.md).
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "studentperf.api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["studentperf.api.permissions.HasScope"],
    "DEFAULT_THROTTLE_CLASSES": [
        "studentperf.api.throttling.ApiKeyRateThrottle",
        "studentperf.api.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "api_key": os.environ.get("API_THROTTLE_KEY", "600/min"),
        "user": os.environ.get("API_THROTTLE_USER", "300/min"),
    },
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "studentperf.api.pagination.ApiPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "studentperf.api.exceptions.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "studentperf API",
    "DESCRIPTION": (
        "Predictions of secondary-school students' final mathematics grade (UCI Student Performance). "
        "Send `Authorization: Api-Key <key>`. Every error is "
        '`{"error": "<kind>", "message": "<sentence>", "fields": {"<name>": ["<why>"]}, "request_id": "<id>"}`; '
        "the id is also the `X-Request-ID` response header. See docs/api.md."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Choice sets several attributes share get one name each in the schema.
    "ENUM_NAME_OVERRIDES": {
        "YesNoEnum": "modelstore.schema.YES_NO",
        "JobEnum": "modelstore.schema.JOBS",
        "SetupEnum": "modelstore.schema.SETUPS",
    },
}
# Largest request body accepted (413 above it): 5 MB holds 1,000 records with room to spare.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("API_MAX_BODY_BYTES", str(5 * 1024 * 1024)))

# The shared cache (API rate limits), so that every web process counts against the same limits: Redis at
# CACHE_REDIS_URL, by default the REDIS_URL Celery uses when that is set (no SQL per request), else a database
# table (`manage.py createcachetable`; six queries per API request: docs/performance.md). Short timeouts: a
# Redis that does not answer makes each process count for itself for a while (studentperf/api/throttling.py)
# instead of holding requests. Nothing may call cache.clear(): on Redis it empties the database, Celery's too.
CACHE_REDIS_URL = os.environ.get("CACHE_REDIS_URL", "").strip() or os.environ.get("REDIS_URL", "").strip()
CACHES = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
        if CACHE_REDIS_URL
        else {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "studentperf_cache"}
    )
}

# --- Celery and Redis (studentperf/celery.py, docs/deployment.md) ---------------------------------------------
# Redis is the broker and the result backend. CELERY_BROKER_URL / CELERY_RESULT_BACKEND in the environment win
# over REDIS_URL: `make run` sets them for its no-Redis fallback (kombu's filesystem transport).
REDIS_URL = os.environ.get("REDIS_URL", "") or "redis://127.0.0.1:6379/0"
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "") or REDIS_URL
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", "") or REDIS_URL
# How long Redis keeps a delivered but unacknowledged task before it hands it to another worker (a worker
# that died mid-task). Longer than any task may run (see the time limits below), or a slow task runs twice.
CELERY_VISIBILITY_TIMEOUT = int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "") or 3600)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's filesystem transport: one folder of messages that every process on this machine shares.
    _CELERY_FILES = BASE_DIR / "var" / "celery"
    CELERY_BROKER_TRANSPORT_OPTIONS |= {
        "data_folder_in": str(_CELERY_FILES / "queue"),
        "data_folder_out": str(_CELERY_FILES / "queue"),
        "control_folder": str(_CELERY_FILES / "control"),
        "store_processed": False,
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A task is acknowledged when it has finished, not when it starts: a worker killed mid-task leaves it in Redis
# for another worker. Tasks are idempotent (docs/architecture.md), so running one twice is safe.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# The worker's connection to Redis dropped: its unacknowledged tasks go back to the queue, so stop running them.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # a long batch job does not hold other tasks back on its worker
CELERY_TASK_SERIALIZER = CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TRACK_STARTED = True
CELERY_RESULT_EXPIRES = timedelta(days=1)
# A batch job of the largest allowed file takes minutes; a task still running after these is stuck. Both stay
# under the visibility timeout, so a stuck task is stopped before Redis would hand it out again.
CELERY_TASK_SOFT_TIME_LIMIT = int(os.environ.get("CELERY_TASK_SOFT_TIME_LIMIT", "") or 25 * 60)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 5 * 60
CELERY_TIMEZONE = TIME_ZONE
ACCURACY_CHECK_INTERVAL_HOURS = float(os.environ.get("ACCURACY_CHECK_INTERVAL_HOURS", "") or 24)
# Celery beat (exactly one per deployment) queues these. A message no worker took before the next one is due
# expires rather than piling up while the workers are down.
CELERY_BEAT_SCHEDULE = {
    "accuracy-check": {
        "task": "predictions.tasks.accuracy_check_run",
        "schedule": timedelta(hours=ACCURACY_CHECK_INTERVAL_HOURS),
        "options": {"expires": ACCURACY_CHECK_INTERVAL_HOURS * 3600},
    },
    "batch-jobs-resume-stale": {
        "task": "predictions.tasks.batch_jobs_resume_stale",
        "schedule": 60.0,
        "options": {"expires": 60},
    },
}
# --- end of Celery and Redis --------------------------------------------------------------------------------

# --- CSV batch predictions (docs/api.md, docs/web.md) ---------------------------------------------------------
BATCH_MAX_BYTES = int(os.environ.get("BATCH_MAX_BYTES", "") or 20 * 1024 * 1024)  # larger uploads: 413
BATCH_MAX_ROWS = int(os.environ.get("BATCH_MAX_ROWS", "") or 200_000)
# Rows predicted and committed together: a worker killed mid-job loses at most one chunk's work, never a row.
BATCH_CHUNK_SIZE = int(os.environ.get("BATCH_CHUNK_SIZE", "") or 1000)
# A running job whose progress is older than this is taken to have lost its worker, and is queued again.
BATCH_STALE_SECONDS = int(os.environ.get("BATCH_STALE_SECONDS", "") or 120)
# Workers started on one job at most (retries and resumptions): a file that keeps killing workers fails instead.
BATCH_MAX_ATTEMPTS = int(os.environ.get("BATCH_MAX_ATTEMPTS", "") or 10)

# --- Logs (studentperf/observability/, docs/monitoring.md "Logs") ---------------------------------------------
# JSON lines, each with the request id, on LOG_STREAM: "stdout" (default: the servers' log stream, as gunicorn, Celery
# and container runtimes expect) or "stderr". manage.py commands other than runserver default to stderr, so that
# stdout stays for what they print (a new key, --json). Also to LOG_FILE when set, rotated at LOG_FILE_MAX_BYTES with LOG_FILE_BACKUP_COUNT old files kept.
# Several processes (gunicorn workers, Celery) append to that one file: concurrent-log-handler locks it around
# each write and rotation, which the standard library's RotatingFileHandler does not.
LOG_LEVEL = os.environ.get("LOG_LEVEL", "").strip() or "INFO"
LOG_FILE = os.environ.get("LOG_FILE", "").strip()
LOG_FILE_MAX_BYTES = int(os.environ.get("LOG_FILE_MAX_BYTES", "") or 10 * 1024 * 1024)
LOG_FILE_BACKUP_COUNT = int(os.environ.get("LOG_FILE_BACKUP_COUNT", "") or 5)
# The record's attributes on each prediction line: off by default, as they describe a student.
LOG_PREDICTION_INPUTS = env_bool("LOG_PREDICTION_INPUTS", False)
LOG_STREAM = os.environ.get("LOG_STREAM", "").strip().lower() or "stdout"
if LOG_STREAM not in ("stdout", "stderr"):
    raise ImproperlyConfigured(f"LOG_STREAM must be stdout or stderr, not {LOG_STREAM!r}.")
_LOG_HANDLERS = {"console": {
    "class": "logging.StreamHandler", "stream": f"ext://sys.{LOG_STREAM}", "formatter": "json", "filters": ["request_id"],
}}
if LOG_FILE:
    _LOG_HANDLERS["file"] = {
        "class": "concurrent_log_handler.ConcurrentRotatingFileHandler", "formatter": "json",
        "filters": ["request_id"], "filename": LOG_FILE, "maxBytes": LOG_FILE_MAX_BYTES,
        "backupCount": LOG_FILE_BACKUP_COUNT, "encoding": "utf-8",
    }
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "studentperf.observability.RequestIdFilter"}},
    "formatters": {
        "json": {
            "()": "studentperf.observability.log_format.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s",
        }
    },
    "handlers": _LOG_HANDLERS,
    "root": {"handlers": list(_LOG_HANDLERS), "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
# Celery workers keep these handlers (JSON, request ids) instead of replacing them with their own text format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Prometheus metrics (studentperf/metrics/, docs/monitoring.md) ---------------------------------------------
# GET /metrics wants `Authorization: Bearer <METRICS_TOKEN>`; unset or empty, /metrics refuses everyone (403).
# PROMETHEUS_MULTIPROC_DIR is read by prometheus_client itself, from the real environment (not .env: the library
# is imported before this file reads .env); docs/deployment.md.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "").strip()

# --- Error tracking (optional; docs/deployment.md, "Error tracking") ---------------------------------------------
# Sentry when SENTRY_DSN is set, off otherwise: Django's and Celery's errors, with no personal data (no request
# bodies, cookies, users or local variables: studentperf/observability/sentry.py).
SENTRY_DSN = os.environ.get("SENTRY_DSN", "").strip()
if SENTRY_DSN:
    from studentperf.observability.sentry import sentry_init

    sentry_init(
        dsn=SENTRY_DSN,
        environment=os.environ.get("SENTRY_ENVIRONMENT", "").strip() or "production",
        release=os.environ.get("SENTRY_RELEASE", "").strip() or None,
        traces_sample_rate=float(os.environ.get("SENTRY_TRACES_SAMPLE_RATE", "") or 0),
    )
