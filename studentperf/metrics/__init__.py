"""Prometheus metrics: events each process counts (events.py, celery_signals.py), facts the apps read from the
database at scrape time (the collectors of settings.METRICS_COLLECTORS, registry.py), exposed together by
GET /metrics (views.py). docs/monitoring.md lists them.

Multiprocess mode: with PROMETHEUS_MULTIPROC_DIR set in the environment before prometheus_client is first
imported, every process (gunicorn workers, Celery pool processes) writes its counts to files in that directory
and /metrics sums them. The directory must be emptied before the services start.
"""
from . import celery_signals  # noqa: F401  (connects the Celery signal handlers)
from .events import (
    auth_failure_observe, error_observe, predictions_observe, request_observe, shadow_predictions_observe,
    validation_errors_observe,
)
from .registry import error_summary

__all__ = (
    "auth_failure_observe", "error_observe", "error_summary", "predictions_observe", "request_observe",
    "shadow_predictions_observe", "validation_errors_observe",
)
