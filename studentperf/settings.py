"""Settings, all from environment variables (see README, "Configuration").

The project's `.env` (written by `make run` for development, never committed) is read only when
DJANGO_READ_DOT_ENV=1, which `make run` sets: a stray `.env` left in a production folder changes nothing.
Real environment variables win over it. With DJANGO_DEBUG off, the settings refuse to start without a
real DJANGO_SECRET_KEY and MODEL_ENCRYPTION_KEYS (or MODEL_ENCRYPTION_KEY), and the secure defaults for
running behind an HTTPS proxy are on (docs/deployment.md, "TLS"). Every variable is read through
studentperf/env.py, so that a malformed value stops start-up with an error that names it.
"""
from __future__ import annotations

import base64
import binascii
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv

from studentperf.env import (
    env_bool, env_choice, env_float, env_int, env_list, env_pairs, env_path, env_str, env_time_zone, rate_parse,
)

BASE_DIR = Path(__file__).resolve().parent.parent
# Only on request: production (containers, systemd) sets real variables and must not pick up a developer's file.
if env_str("DJANGO_READ_DOT_ENV") == "1":
    load_dotenv(BASE_DIR / ".env", override=False)


def _required(name: str) -> str:
    value = env_str(name)
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
    if not env_str("MODEL_ENCRYPTION_KEY"):
        raise ImproperlyConfigured(
            "MODEL_ENCRYPTION_KEYS or MODEL_ENCRYPTION_KEY must be set (see README, 'Configuration')."
        )
    return (_encryption_key(env_str("MODEL_ENCRYPTION_KEY"), "MODEL_ENCRYPTION_KEY"),)


DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = _required("DJANGO_SECRET_KEY")
if not DEBUG and (SECRET_KEY.startswith("django-insecure") or len(SECRET_KEY) < 32):
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be a real secret of 32+ characters in production.")
# Model artifacts at rest (modelstore/storage.py): written under the first key, read under any of them, so that a
# new key can be put first and `manage.py rotate_model_key` re-encrypts the store before the old one is dropped.
MODEL_ENCRYPTION_KEYS = _encryption_keys()
MODEL_ENCRYPTION_KEY = MODEL_ENCRYPTION_KEYS[0]
MODEL_STORE_DIR = env_path("MODEL_STORE_DIR", BASE_DIR / "var" / "models")
# Admin model uploads: the default model's package is about 45 MB (issue 19), so twice that leaves room to grow.
MODEL_UPLOAD_MAX_BYTES = env_int("MODEL_UPLOAD_MAX_BYTES", 100 * 1024 * 1024, minimum=0)
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
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default is shared by the web server and the Celery worker: WAL lets pages read while a
    # worker commits a chunk, writers queue for the lock (up to `timeout` seconds) instead of failing with
    # "database is locked", and IMMEDIATE transactions take the write lock up front, so two writers never
    # deadlock upgrading a read lock. synchronous=NORMAL is WAL's recommended durability trade-off.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=env_int("SQLITE_TIMEOUT", 30, minimum=0),
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
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_float("LOGIN_LOCKOUT_MINUTES", 15, minimum=0))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "studentperf.proxy.client_address"

# --- Single sign-on for staff (optional; OpenID Connect; docs/security.md, "Single sign-on (OpenID Connect)") ---
# Off unless the provider's variables are set; then every one of them must be, or start-up stops naming those
# missing. mozilla-django-oidc does the protocol (authorization code with PKCE, state and nonce); the backend
# (predictions/sso/backend.py) matches an account whose username equals the OIDC_USERNAME_CLAIM claim, creates
# accounts only with OIDC_CREATE_USERS and then with no role, and never changes groups, staff or superuser
# status. It comes after axes, which keeps counting password logins; the two-factor check applies whichever way
# a person logged in. No SessionRefresh middleware: it would send API calls of a session to the provider every
# 15 minutes; an account is cut off at once by deactivating it here (docs/security.md).
_OIDC_REQUIRED = (
    "OIDC_RP_CLIENT_ID", "OIDC_RP_CLIENT_SECRET", "OIDC_OP_AUTHORIZATION_ENDPOINT", "OIDC_OP_TOKEN_ENDPOINT",
    "OIDC_OP_USER_ENDPOINT", "OIDC_OP_JWKS_ENDPOINT",
)
_OIDC_SIGN_ALGOS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512")  # the provider's key, from its JWKS
OIDC_ENABLED = any(env_str(name) for name in _OIDC_REQUIRED)
if OIDC_ENABLED and not all(env_str(name) for name in _OIDC_REQUIRED):
    raise ImproperlyConfigured(
        "Single sign-on (OpenID Connect) needs all of its variables; missing: "
        + ", ".join(name for name in _OIDC_REQUIRED if not env_str(name)) + " (see docs/deployment.md)."
    )
for _name in _OIDC_REQUIRED[2:]:  # the endpoints: tokens and the client secret never travel in clear
    if OIDC_ENABLED and not DEBUG and not env_str(_name).startswith("https://"):
        raise ImproperlyConfigured(f"{_name} must be an https:// address in production (got {env_str(_name)!r}).")
OIDC_RP_CLIENT_ID = env_str("OIDC_RP_CLIENT_ID")
OIDC_RP_CLIENT_SECRET = env_str("OIDC_RP_CLIENT_SECRET", strip=False)
OIDC_OP_AUTHORIZATION_ENDPOINT = env_str("OIDC_OP_AUTHORIZATION_ENDPOINT")
OIDC_OP_TOKEN_ENDPOINT = env_str("OIDC_OP_TOKEN_ENDPOINT")
OIDC_OP_USER_ENDPOINT = env_str("OIDC_OP_USER_ENDPOINT")
OIDC_OP_JWKS_ENDPOINT = env_str("OIDC_OP_JWKS_ENDPOINT")
OIDC_OP_ISSUER = env_str("OIDC_OP_ISSUER")  # when set, ID tokens from another issuer are refused
OIDC_RP_SIGN_ALGO = env_str("OIDC_RP_SIGN_ALGO", "RS256").upper()
if OIDC_RP_SIGN_ALGO not in _OIDC_SIGN_ALGOS:
    raise ImproperlyConfigured(
        f"OIDC_RP_SIGN_ALGO must be one of {', '.join(_OIDC_SIGN_ALGOS)} (got {OIDC_RP_SIGN_ALGO!r})."
    )
OIDC_PROVIDER_NAME = env_str("OIDC_PROVIDER_NAME", "single sign-on")  # the button says "Log in with <name>"
OIDC_USERNAME_CLAIM = env_str("OIDC_USERNAME_CLAIM", "preferred_username")
OIDC_CREATE_USER = env_bool("OIDC_CREATE_USERS", False)  # the library's name for it
OIDC_RP_SCOPES = "openid email profile"
OIDC_USE_PKCE = True
OIDC_TIMEOUT = 10  # seconds for each call to the provider (the library's default waits for ever)
if OIDC_ENABLED:
    INSTALLED_APPS += ["mozilla_django_oidc"]
    AUTHENTICATION_BACKENDS += ["predictions.sso.backend.StaffOIDCBackend"]
# The provider's callbacks pass no password: axes neither counts nor refuses them (predictions/sso/lockout.py).
AXES_WHITELIST_CALLABLE = "predictions.sso.lockout.not_a_password_guess"
# --- end of single sign-on ----------------------------------------------------------------------------------------

# --- Two-factor authentication (issue 18; docs/security.md, "Two-factor authentication") ---------------------
# Superusers and model admins (staff) confirm every login with a code from an authenticator app (TOTP) or a one-use
# recovery code (django-otp). predictions.two_factor.middleware holds their session at enrolment or verification
# until then, whatever made the session (login form, admin, OIDC). OTP_REQUIRED=0 turns that off, in development only.
OTP_REQUIRED = env_bool("OTP_REQUIRED", True)
if not OTP_REQUIRED and not DEBUG:
    raise ImproperlyConfigured("OTP_REQUIRED=0 is for development only (with DJANGO_DEBUG=1).")
INSTALLED_APPS += ["django_otp", "django_otp.plugins.otp_totp", "django_otp.plugins.otp_static"]
_AFTER_AUTH = MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1
MIDDLEWARE[_AFTER_AUTH:_AFTER_AUTH] = [
    "django_otp.middleware.OTPMiddleware", "predictions.two_factor.middleware.TwoFactorMiddleware",
]
OTP_TOTP_ISSUER = "studentperf"
# After n wrong codes in a row a device refuses every code for 2**(n-1) seconds (1, 2, 4, ... about a day after 17),
# until a right one. Per device (authenticator, recovery codes), apart from the password lockout above.
OTP_TOTP_THROTTLE_FACTOR = OTP_STATIC_THROTTLE_FACTOR = 1
# The admin's device pages (superusers only) never show a secret key or its QR code.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# --- end of two-factor authentication ----------------------------------------------------------------------------

LANGUAGE_CODE = "en"
# The school's time zone: pages show times in it, the monitoring charts count days in it, and beat plans by it
# (CELERY_TIMEZONE). Times are stored in UTC (USE_TZ) whatever it is. The UCI schools are in Portugal.
TIME_ZONE = env_time_zone("TIME_ZONE", "Europe/Lisbon")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]  # the app's own stylesheet and scripts: no CDN, works offline

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE = not DEBUG and env_bool("DJANGO_SECURE_COOKIES", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- Content-Security-Policy and Permissions-Policy (issue 18, attack 12; docs/security.md) -----------------------
# On every response (pages, API JSON, error pages, static files): nothing but this origin's own files runs or
# styles a page; no inline script or style unless a template nonces it (`nonce="{{ request.csp_nonce }}"`).
# `data:` images: Swagger UI's stylesheet carries some of its images inline. `upgrade-insecure-requests` is added on
# answers that went out over HTTPS (studentperf/security_headers.py). Forms post here only (single sign-on reaches
# the provider by a link and redirects, never a form: docs/security.md). CSP_REPORT_URI: where browsers report
# violations.
from csp.constants import NONCE, NONE, SELF  # noqa: E402

_CSP_REPORT_URI = env_str("CSP_REPORT_URI")
if _CSP_REPORT_URI and not _CSP_REPORT_URI.startswith(("/", "https://", "http://")):
    raise ImproperlyConfigured("CSP_REPORT_URI must be a path (/...) or an http(s):// URL.")
INSTALLED_APPS += ["csp"]  # for its system checks, which refuse settings in its older format (else ignored)
MIDDLEWARE.insert(
    MIDDLEWARE.index("studentperf.proxy.HealthProbeMiddleware"),  # so that the probes' answers carry them too
    "studentperf.security_headers.ContentSecurityPolicyMiddleware",
)
MIDDLEWARE.insert(
    MIDDLEWARE.index("studentperf.proxy.HealthProbeMiddleware"),
    "studentperf.security_headers.PermissionsPolicyMiddleware",
)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "report-uri": _CSP_REPORT_URI or None,
    },
}
# Features studentperf never uses, refused to the pages and anything they might embed. Only names Chromium knows:
# an unknown one (`bluetooth`, `battery`, `ambient-light-sensor`...) is a console error on every page.
PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer", "autoplay", "browsing-topics", "camera", "display-capture", "geolocation", "gyroscope", "hid",
        "idle-detection", "magnetometer", "microphone", "midi", "payment", "serial", "usb", "xr-spatial-tracking",
    )
}
# --- end of Content-Security-Policy and Permissions-Policy ----------------------------------------------------------

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
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 3600, minimum=0)
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
RISK_HIGH_BELOW = env_float("RISK_HIGH_BELOW", 0.5, minimum=0, maximum=1)
RISK_MEDIUM_BELOW = env_float("RISK_MEDIUM_BELOW", 0.8, minimum=0, maximum=1)
# What a teacher may record as done for a student (predictions.interventions), code:name pairs in the order shown.
# A code once used stays in the records: rename freely, but keep the codes of past interventions in the list.
# The schools of this installation (issue 17), `code:name` pairs; codes of at most 16 characters
# (predictions.models.SCHOOL_CODE_MAX). The default is the two schools of the UCI data, the only ones the
# model was trained on: it takes any other school as unknown (AttributeReference.filled).
SCHOOLS = env_pairs("SCHOOLS", "GP:Gabriel Pereira,MS:Mousinho da Silveira", max_code_length=16)
INTERVENTION_KINDS = env_pairs(
    "INTERVENTION_KINDS",
    "tutoring:Tutoring,parent_meeting:Parent meeting,counselling:Counselling,study_plan:Study plan,"
    "peer_mentoring:Peer mentoring,other:Other",
)
# Stated coverage of the grade interval (split-conformal).
PREDICTION_INTERVAL_COVERAGE = env_float("PREDICTION_INTERVAL_COVERAGE", 0.9, minimum=0, maximum=1)
TOP_FACTORS = 5
# How often a process looks again at which model version is active (one small query; README, "Serving"): an
# activation or rollback is served by the other processes within this many seconds, by the process that made
# it at once. 0: look on every prediction.
ACTIVE_MODEL_CHECK_SECONDS = env_float("ACTIVE_MODEL_CHECK_SECONDS", 1, minimum=0)
# The challenger (issue 19; docs/monitoring.md, "The challenger"): serving does nothing for it; a periodic task
# (SHADOW_SWEEP_SECONDS, in the Celery block) scores the committed predictions in shadow, SHADOW_SWEEP_BATCH at
# a time. The accuracy check compares it with the active version once CHALLENGER_MIN_STUDENTS students have an
# outcome.
CHALLENGER_MIN_STUDENTS = env_int("CHALLENGER_MIN_STUDENTS", 30, minimum=1)
SHADOW_SWEEP_BATCH = env_int("SHADOW_SWEEP_BATCH", 1000, minimum=1)

# Accuracy and drift checks, and their alerts (docs/monitoring.md). Beat runs the check every
# ACCURACY_CHECK_INTERVAL_HOURS (in the Celery block); `manage.py check_accuracy` and the monitoring page run it now.
DRIFT_WINDOW_DAYS = env_int("DRIFT_WINDOW_DAYS", 30, minimum=1)  # "recent" predictions and batch rows
DRIFT_MIN_SAMPLES = env_int("DRIFT_MIN_SAMPLES", 30, minimum=1)  # fewer recent records: "not enough data"
DRIFT_P_VALUE = env_float("DRIFT_P_VALUE", 0.01, minimum=0, maximum=1)  # family-wise, Bonferroni-corrected per feature
ALERT_ACCURACY_BELOW = env_float("ALERT_ACCURACY_BELOW", 0.80, minimum=0, maximum=1)
ALERT_MIN_PAIRS = env_int("ALERT_MIN_PAIRS", 30, minimum=0)  # fewer pairs (or batch rows): no alert
ALERT_COVERAGE_TOLERANCE = env_float("ALERT_COVERAGE_TOLERANCE", 0.05, minimum=0, maximum=1)
ALERT_FAILED_SHARE_ABOVE = env_float("ALERT_FAILED_SHARE_ABOVE", 0.2, minimum=0, maximum=1)
ALERT_EMAILS = env_list("ALERT_EMAILS")  # comma-separated; empty: no e-mail
ALERT_WEBHOOK_URL = env_str("ALERT_WEBHOOK_URL")  # a JSON POST per alert; empty: none
ALERT_WEBHOOK_TIMEOUT = env_float("ALERT_WEBHOOK_TIMEOUT", 5, minimum=0)

# Outgoing e-mail (alerts). SMTP when EMAIL_HOST is set; otherwise mail is printed on the console, so that
# nothing is silently lost in development. EMAIL_BACKEND overrides both.
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", strip=False)
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", strip=False)
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_float("EMAIL_TIMEOUT", 10, minimum=0)
EMAIL_BACKEND = env_str("EMAIL_BACKEND") or (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend"
)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "studentperf@localhost")

# The REST API (docs/api.md).
# --- Wiring: the ground floor (studentperf/) imports no app; it reaches the apps' pieces by these dotted paths ---
# /health/ready (studentperf/readiness.py): after the database, each callable returns a dict merged into the
# answer, or raises ApplicationError(kind="unavailable") whose `fields` name what is down.
READINESS_CHECKS = ["modelstore.loader.model_readiness"]
# /metrics (studentperf/metrics/registry.py): prometheus_client collectors read at each scrape.
METRICS_COLLECTORS = ["predictions.monitoring.metrics.DatabaseCollector"]
# The admin's "Retrain from recorded outcomes" button (modelstore/admin.py) queues through this: modelstore
# imports nothing of predictions, where the school's outcomes are.
MODEL_RETRAIN_QUEUE = "predictions.retraining.services.model_retrain_queue"
# What the admin's version page shows of the challenger's comparison on recorded outcomes (issue 19): a dotted
# path, as above, because modelstore does not import predictions.
MODEL_CHALLENGER_SUMMARY = "predictions.monitoring.selectors.challenger_summary_current"
# The field names a validation error may carry as a metric label (others are folded into a few "other" labels).
METRICS_ERROR_FIELDS = "predictions.validation.error_field_names"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First, for the WWW-Authenticate challenge of a 401: `Api-Key`; `Bearer` is left to the next; others: 401.
        "predictions.access.authentication.ApiKeyAuthentication",
        "predictions.access.oauth.OAuthTokenAuthentication",  # `Bearer` (the OAuth2 block below)
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["predictions.access.permissions.HasScope"],
    "DEFAULT_THROTTLE_CLASSES": [
        "predictions.access.throttling.ApiKeyRateThrottle",
        "predictions.access.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "api_key": env_str("API_THROTTLE_KEY", "600/min"),
        "user": env_str("API_THROTTLE_USER", "300/min"),
        # Requests without valid credentials (401) per client address; over it, every API request from that
        # address is refused before authentication until the window ends (studentperf/api/credential_budget.py).
        "anon": env_str("API_THROTTLE_ANON", "60/min"),
    },
    "DEFAULT_PARSER_CLASSES": ["studentperf.api.parsers.BoundedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "studentperf.api.pagination.ApiPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "studentperf.api.exceptions.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
# Each rate read as the limits read it (studentperf/ratelimit.py): a typo stops start-up, not the first request.
_RATE_VARIABLES = {"api_key": "API_THROTTLE_KEY", "user": "API_THROTTLE_USER", "anon": "API_THROTTLE_ANON"}
for _scope, _variable in _RATE_VARIABLES.items():
    rate_parse(REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][_scope], name=_variable)
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
# --- OAuth2 client credentials for school systems (django-oauth-toolkit; issue 18; docs/api.md, docs/security.md) ---
# A client (manage.py create_oauth_client, or the admin) posts its id and secret to /oauth/token/ and gets a bearer
# token with the scopes it asks for among those it was granted (predictions/access/oauth.py). Only the
# client-credentials grant exists (BackendApplicationServer: no authorization pages, no refresh tokens). Client
# secrets are stored hashed (DOT's default) and tokens only as their SHA-256 checksum (TOKEN_STORAGE). Tokens live
# OAUTH_TOKEN_SECONDS, 15 minutes by default: a leaked token is worth little for long, and asking for a new one is
# a single request a client makes four times an hour.
# Before predictions, whose admin replaces oauth2_provider's (admin registrations run in INSTALLED_APPS order).
INSTALLED_APPS.insert(INSTALLED_APPS.index("predictions"), "oauth2_provider")
OAUTH2_PROVIDER = {
    "SCOPES": {
        "predict": "Predict final grades (POST /api/v1/predict, what-ifs, batches)",
        "read": "Read students, predictions, outcomes, model versions and accuracy checks",
        "write": "Create and change students, record outcomes and interventions",
    },
    "SCOPES_BACKEND_CLASS": "predictions.access.oauth.ClientScopes",
    "OAUTH2_VALIDATOR_CLASS": "predictions.access.oauth.ClientCredentialsValidator",
    "OAUTH2_SERVER_CLASS": "oauthlib.oauth2.BackendApplicationServer",
    "ACCESS_TOKEN_EXPIRE_SECONDS": env_int("OAUTH_TOKEN_SECONDS", 900, minimum=60, maximum=24 * 3600),
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    # The OAuth 2.0 Security BCP (RFC 9700) for what the grant above never uses, so that `check --deploy` is clean
    # and nothing loosens should a grant be added: tokens only in the Authorization header, no password or
    # implicit grant, https redirects, S256 PKCE, refresh-token replay detection.
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
    "PKCE_REQUIRED": True,
}
SPECTACULAR_SETTINGS.update(
    OAUTH2_FLOWS=["clientCredentials"],
    OAUTH2_TOKEN_URL="/oauth/token/",
    OAUTH2_SCOPES=OAUTH2_PROVIDER["SCOPES"],
    DESCRIPTION=SPECTACULAR_SETTINGS["DESCRIPTION"].replace(
        "Send `Authorization: Api-Key <key>`.",
        "Send `Authorization: Api-Key <key>`, or an OAuth2 token from `POST /oauth/token/` (client credentials) as "
        "`Authorization: Bearer <token>`.",
    ),
)

# Largest request body accepted (413 above it): 5 MB holds 1,000 records with room to spare.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("API_MAX_BODY_BYTES", 5 * 1024 * 1024, minimum=0)

# The shared cache (API rate limits), so that every web process counts against the same limits: Redis at
# CACHE_REDIS_URL, by default the REDIS_URL Celery uses when that is set (no SQL per request), else a database
# table (`manage.py createcachetable`), where the rate limits are counted per process (studentperf/ratelimit.py).
# Short timeouts: a Redis that does not answer makes each process count for itself for a while (ratelimit.py)
# instead of holding requests. Nothing may call cache.clear(): on Redis it empties the database, Celery's too.
CACHE_REDIS_URL = env_str("CACHE_REDIS_URL") or env_str("REDIS_URL")
CACHES = {
    "default": (
        {
            # Django's RedisCache keeping its redis-py clients (studentperf/cache.py).
            "BACKEND": "studentperf.cache.RedisCache",
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
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", REDIS_URL)
# How long Redis keeps a delivered but unacknowledged task before it hands it to another worker (a worker
# that died mid-task). Longer than any task may run (see the time limits below), or a slow task runs twice.
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=1)
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
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 25 * 60, minimum=1)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 5 * 60
CELERY_TIMEZONE = TIME_ZONE
ACCURACY_CHECK_INTERVAL_HOURS = env_float("ACCURACY_CHECK_INTERVAL_HOURS", 24, minimum=0)
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
# The challenger's shadow scoring (issue 19; docs/monitoring.md, "The challenger"): beat queues a sweep of the
# audit log every SHADOW_SWEEP_SECONDS; 0: no sweep is scheduled (a challenger then scores nothing in shadow).
SHADOW_SWEEP_SECONDS = env_float("SHADOW_SWEEP_SECONDS", 5, minimum=0)
if SHADOW_SWEEP_SECONDS:
    CELERY_BEAT_SCHEDULE["shadow-sweep"] = {
        "task": "predictions.tasks.shadow_predictions_sweep",
        "schedule": SHADOW_SWEEP_SECONDS,
        "options": {"expires": SHADOW_SWEEP_SECONDS},
    }
# Retraining from recorded outcomes (issue 19; docs/admin.md, "Retraining"): every RETRAIN_INTERVAL_DAYS days
# when set; 0 or unset: only by hand (`manage.py retrain`, the admin's button).
RETRAIN_INTERVAL_DAYS = env_float("RETRAIN_INTERVAL_DAYS", 0, minimum=0)
if RETRAIN_INTERVAL_DAYS:
    CELERY_BEAT_SCHEDULE["retrain"] = {
        "task": "predictions.tasks.model_retrain",
        "schedule": timedelta(days=RETRAIN_INTERVAL_DAYS),
        # A scheduled run nobody waits for: one that cannot train raises an alert (docs/monitoring.md, "Alerts").
        "kwargs": {"scheduled": True},
        "options": {"expires": RETRAIN_INTERVAL_DAYS * 86400},
    }
# --- end of Celery and Redis --------------------------------------------------------------------------------

# --- CSV batch predictions (docs/api.md, docs/web.md) ---------------------------------------------------------
BATCH_MAX_BYTES = env_int("BATCH_MAX_BYTES", 20 * 1024 * 1024, minimum=0)  # larger uploads: 413
BATCH_MAX_ROWS = env_int("BATCH_MAX_ROWS", 200_000, minimum=0)
# Rows predicted and committed together, at most: a worker killed mid-job loses at most one chunk's work, never
# a row. Smaller files get smaller chunks, so that their progress moves (predictions.batches.files.batch_chunk_size).
BATCH_CHUNK_SIZE = env_int("BATCH_CHUNK_SIZE", 1000, minimum=1)
# A running job whose progress is older than this is taken to have lost its worker, and is queued again.
BATCH_STALE_SECONDS = env_int("BATCH_STALE_SECONDS", 120, minimum=1)
# Workers started on one job at most (retries and resumptions): a file that keeps killing workers fails instead.
BATCH_MAX_ATTEMPTS = env_int("BATCH_MAX_ATTEMPTS", 10, minimum=1)

# --- Chunked request bodies (issue 18, attack 5; studentperf/chunked.py, docs/api.md) ---------------------------
# A body sent without a Content-Length is read before Django sees it where the server ends the input stream
# (gunicorn), else answered 411: up to API_MAX_BODY_BYTES, or for a multipart upload up to the largest upload a
# page takes (the page then applies its own limit); 413 above. Just after SecurityMiddleware: its HTTPS redirect
# comes before any body is read, and the 411 and 413 answers get its headers.
CHUNKED_UPLOAD_MAX_BYTES = max(BATCH_MAX_BYTES, MODEL_UPLOAD_MAX_BYTES) + 1024 * 1024  # + the multipart framing
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1, "studentperf.chunked.ChunkedBodyMiddleware"
)

# --- Logs (studentperf/observability/, docs/monitoring.md "Logs") ---------------------------------------------
# JSON lines, each with the request id, on LOG_STREAM: "stdout" (default: the servers' log stream, as gunicorn, Celery
# and container runtimes expect) or "stderr". manage.py commands other than runserver default to stderr, so that
# stdout stays for what they print (a new key, --json). Also to LOG_FILE when set, rotated at LOG_FILE_MAX_BYTES with LOG_FILE_BACKUP_COUNT old files kept.
# Several processes (gunicorn workers, Celery) append to that one file: concurrent-log-handler locks it around
# each write and rotation, which the standard library's RotatingFileHandler does not.
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOG_FILE = env_str("LOG_FILE")
LOG_FILE_MAX_BYTES = env_int("LOG_FILE_MAX_BYTES", 10 * 1024 * 1024, minimum=0)
LOG_FILE_BACKUP_COUNT = env_int("LOG_FILE_BACKUP_COUNT", 5, minimum=0)
# The record's attributes on each prediction line: off by default, as they describe a student.
LOG_PREDICTION_INPUTS = env_bool("LOG_PREDICTION_INPUTS", False)
LOG_STREAM = env_choice("LOG_STREAM", "stdout", ("stdout", "stderr"))
_LOG_HANDLERS = {"console": {
    "class": "logging.StreamHandler", "stream": f"ext://sys.{LOG_STREAM}", "formatter": "json",
    "filters": ["request_id", "routine_tasks"],
}}
if LOG_FILE:
    _LOG_HANDLERS["file"] = {
        "class": "concurrent_log_handler.ConcurrentRotatingFileHandler", "formatter": "json",
        "filters": ["request_id", "routine_tasks"], "filename": LOG_FILE, "maxBytes": LOG_FILE_MAX_BYTES,
        "backupCount": LOG_FILE_BACKUP_COUNT, "encoding": "utf-8",
    }
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "studentperf.observability.RequestIdFilter"},
        # Celery's per-run INFO lines of the tasks beat runs every few seconds (the shadow sweep) are dropped.
        "routine_tasks": {"()": "studentperf.observability.routine_tasks.RoutineTaskFilter"},
    },
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
METRICS_TOKEN = env_str("METRICS_TOKEN")

# --- Error tracking (optional; docs/deployment.md, "Error tracking") ---------------------------------------------
# Sentry when SENTRY_DSN is set, off otherwise: Django's and Celery's errors, with no personal data (no request
# bodies, cookies, users or local variables: studentperf/observability/sentry.py).
SENTRY_DSN = env_str("SENTRY_DSN")
if SENTRY_DSN:
    from studentperf.observability.sentry import sentry_init

    sentry_init(
        dsn=SENTRY_DSN,
        environment=env_str("SENTRY_ENVIRONMENT", "production"),
        release=env_str("SENTRY_RELEASE") or None,
        traces_sample_rate=env_float("SENTRY_TRACES_SAMPLE_RATE", 0, minimum=0, maximum=1),
    )
