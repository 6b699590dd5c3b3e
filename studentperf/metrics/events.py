"""What a process sees happen, counted in process: requests, errors, refused fields, predictions.

With PROMETHEUS_MULTIPROC_DIR set (before prometheus_client is first imported), every process writes its
values to files in that directory and /metrics sums them (registry.py), so several gunicorn workers and
Celery pool processes count as one service.
"""
from __future__ import annotations

import os
import re
from collections import Counter as Tally
from collections.abc import Iterable, Sequence
from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string
from prometheus_client import Counter, Histogram, disable_created_metrics

# The `_created` timestamps double the series and do not exist in multiprocess mode: off in both modes alike.
disable_created_metrics()

# From 1 ms to 10 s: a health check takes about a millisecond, one prediction over HTTP about 30 ms and the
# largest API call (1,000 records) about half a second (docs/performance.md).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SOURCES = ("api", "web", "batch")
# A client may send any method name: the others are counted as "OTHER".
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Field names outside the schema come from the client (an unknown key in a body): each process keeps at most
# this many of them as labels and counts the rest as "other", so that no client can create series without end.
OTHER_FIELDS_MAX = 50
FIELD_NAME_MAX = 40
_FIELD_UNSAFE = re.compile(r"[^A-Za-z0-9_]")

HTTP_REQUESTS = Counter(
    "studentperf_http_requests", "HTTP requests answered, by route pattern, method and status.",
    ["endpoint", "method", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "studentperf_http_request_duration_seconds", "Time from the request's arrival to its response.",
    ["endpoint", "method", "status"], buckets=LATENCY_BUCKETS,
)
ERRORS = Counter("studentperf_errors", "Requests answered with an error, by error type.", ["type"])
VALIDATION_ERRORS = Counter(
    "studentperf_validation_errors", "Fields refused by validation (one per field per record or row).",
    ["field", "source"],
)
PREDICTIONS = Counter(
    "studentperf_predictions", "Predictions served.", ["model_version", "setup", "source", "risk"],
)
UNUSUAL_PREDICTIONS = Counter(
    "studentperf_predictions_unusual",
    "Predictions served for a record unlike the students the model learned from (flagged unusual).",
    ["model_version", "setup", "source", "risk"],
)
PREDICTION_DURATION = Histogram(
    "studentperf_prediction_duration_seconds",
    "Latency of one call that serves predictions (validation, model lookup, prediction), whatever its size.",
    ["source"], buckets=LATENCY_BUCKETS,
)
# The challenger's shadow scoring (issue 19): predictions scored, or failed (the sweep could not score them);
# neither touches the answer served.
SHADOW_OUTCOMES = ("scored", "failed")
SHADOW_PREDICTIONS = Counter(
    "studentperf_shadow_predictions", "Served predictions the challenger scored in shadow, or failed to, by outcome.",
    ["outcome"],
)
# Why an API request was refused for its credentials (studentperf.api.exceptions.CredentialsRejected): a small,
# fixed set, each pre-initialised at 0 so that rate() sees a series before its first failure. `throttled`: refused
# before authentication, the address having spent its budget (studentperf/api/credential_budget.py). Under
# PROMETHEUS_MULTIPROC_DIR a series is a file in that directory: where it does not exist yet (`manage.py migrate`
# before gunicorn has made it) the reasons appear at their first count instead of failing the import.
AUTH_FAILURE_REASONS = ("missing", "wrong_scheme", "malformed", "unknown", "expired", "invalid", "throttled")
AUTH_FAILURES = Counter(
    "studentperf_auth_failures",
    "API requests refused for missing or wrong credentials (401), or refused before authentication because their "
    "address sent too many of those (throttled, 429), by reason.",
    ["reason"],
)
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.path.isdir(os.environ["PROMETHEUS_MULTIPROC_DIR"]):
    for _reason in AUTH_FAILURE_REASONS:
        AUTH_FAILURES.labels(_reason)
_other_fields: set[str] = set()


def request_observe(*, endpoint: str, method: str, status: int, seconds: float) -> None:
    """One HTTP request answered (called by the request middleware for every request)."""
    method = method.upper()
    labels = (endpoint, method if method in METHODS else "OTHER", str(status))
    HTTP_REQUESTS.labels(*labels).inc()
    HTTP_REQUEST_DURATION.labels(*labels).observe(seconds)


def error_observe(*, error_type: str) -> None:
    """One request answered with an error of `error_type` (observability.ERROR_TYPES; ValueError otherwise)."""
    from studentperf.observability import ERROR_TYPES

    if error_type not in ERROR_TYPES:
        raise ValueError(f"error_type must be one of {', '.join(ERROR_TYPES)}, not {error_type!r}.")
    ERRORS.labels(error_type).inc()


def auth_failure_observe(*, reason: str) -> None:
    """One API request refused for its credentials, `reason` one of AUTH_FAILURE_REASONS (ValueError otherwise)."""
    if reason not in AUTH_FAILURE_REASONS:
        raise ValueError(f"reason must be one of {', '.join(AUTH_FAILURE_REASONS)}, not {reason!r}.")
    AUTH_FAILURES.labels(reason).inc()


def validation_errors_observe(*, fields: Iterable[str], source: str) -> None:
    """Fields refused by validation; names like `instances.3.age` or `3.age` count as `age`.
    `source`: "api", "web" or "batch"."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, not {source!r}.")
    for field, count in Tally(field_label(name) for name in fields).items():
        VALIDATION_ERRORS.labels(field, source).inc(count)


def field_label(name: str) -> str:
    """The label of a refused field: its last non-numeric dotted part ("instances.3.age" -> "age"; a whole
    record refused, "3" -> "record"), length-limited; beyond OTHER_FIELDS_MAX names outside the schema, "other"."""
    parts = [part for part in str(name).split(".") if part and not part.isdigit()]
    if not parts:
        return "record"
    label = _FIELD_UNSAFE.sub("_", parts[-1])[:FIELD_NAME_MAX]
    if label in _known_fields() or label in _other_fields:
        return label
    if len(_other_fields) >= OTHER_FIELDS_MAX:
        return "other"
    _other_fields.add(label)
    return label


@cache
def _known_fields() -> frozenset[str]:
    # The apps name their fields (settings.METRICS_ERROR_FIELDS): the ground floor imports no app.
    return frozenset(import_string(settings.METRICS_ERROR_FIELDS)())


def predictions_observe(*, predictions: Sequence, source: str, seconds: float) -> None:
    """Predictions served in one call (Prediction rows), those flagged unusual among them (`unusual` True; None,
    a version without the check, is not), and the call's latency in seconds.

    The version label is the version number, read from the ModelVersion each row holds (predictions_serve
    sets the object, so counting costs no query).
    """
    _predictions_count(PREDICTIONS, predictions, source=source)
    _predictions_count(UNUSUAL_PREDICTIONS, [row for row in predictions if row.unusual], source=source)
    PREDICTION_DURATION.labels(source).observe(seconds)


def _predictions_count(counter: Counter, predictions: Sequence, *, source: str) -> None:
    tally = Tally((row.model_version.version, row.setup, row.risk) for row in predictions)
    for (version, setup, risk), count in tally.items():
        counter.labels(str(version), setup, source, risk).inc(count)


def shadow_predictions_observe(*, outcome: str, count: int) -> None:
    """`count` served predictions the challenger scored in shadow, or did not (SHADOW_OUTCOMES)."""
    if outcome not in SHADOW_OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(SHADOW_OUTCOMES)}, not {outcome!r}.")
    SHADOW_PREDICTIONS.labels(outcome).inc(count)
