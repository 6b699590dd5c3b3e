"""Request ids, structured log lines, error types and error tracking (docs/monitoring.md, "Logs", "Error tracking").

- request_ids: the request id in a context variable, the logging filter that puts it on every line, and the
  Celery signal handlers that carry it into the tasks a request queues (connected on import).
- error_types: ERROR_TYPES and error_mark(), how code says what kind of error it answers with.
- prediction_logs: prediction_log(), the line per prediction.
- log_format: the JSON formatter of settings.LOGGING.
- middleware: RequestLogMiddleware (settings.MIDDLEWARE), the access and error lines; imported by Django only,
  as it needs the settings and the metrics.
- sentry: sentry_init(), optional error tracking scrubbed of student data; imported by the settings only, and
  only when SENTRY_DSN is set.
"""
from .error_types import ERROR_TYPES, error_mark
from .prediction_logs import prediction_log
from .request_ids import RequestIdFilter, request_id_bound, request_id_get

__all__ = ("ERROR_TYPES", "RequestIdFilter", "error_mark", "prediction_log", "request_id_bound", "request_id_get")
