"""The Celery application: configuration from the Django settings (`CELERY_*`, docs/deployment.md).

Workers run `celery -A studentperf worker`; the tasks live in each app's `tasks.py` (found by autodiscovery).
The broker and result backend are Redis (REDIS_URL); `make run` may fall back to kombu's filesystem transport.
"""
from __future__ import annotations

import logging
import os
import sys

from studentperf.threads import threads_configure, worker_command

# A worker predicts CSV batches: INFERENCE_THREADS compute threads per pool process, set before numpy is
# imported (studentperf/threads.py); its parallelism comes from --concurrency. Other processes import this
# module too (every Django process does, through studentperf/__init__.py) and keep their own settings.
if worker_command(sys.argv):
    threads_configure()

from celery import Celery  # noqa: E402

from studentperf.errors import ApplicationError  # noqa: E402

logger = logging.getLogger(__name__)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studentperf.settings")

app = Celery("studentperf")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def broker_ping(timeout: float = 1.0) -> bool:
    """True when the broker accepts a connection within `timeout` seconds; False (never an exception) otherwise.

    One attempt, no retry: the callers (readiness, the batch upload) answer a person and must not hang
    while Redis is down or unreachable.
    """
    options = {**app.conf.broker_transport_options, "socket_connect_timeout": timeout, "socket_timeout": timeout}
    try:
        with app.connection_for_write(connect_timeout=timeout, transport_options=options) as connection:
            connection.ensure_connection(max_retries=0, interval_start=0, interval_step=0, timeout=timeout)
    except Exception:  # kombu wraps most errors as OperationalError, but a broken URL raises others
        return False
    return True


def broker_require(message: str) -> None:
    """Raise ApplicationError(message, kind="unavailable") unless the broker answers a quick ping: a person is
    told at once, before anything is saved, rather than after their work waits for a worker that never hears."""
    if not broker_ping():
        raise ApplicationError(message, kind="unavailable")


def task_send(task, *args) -> bool:
    """Send `task` with `args`; False, logged, when the broker refuses mid-publish (a broker lost since the ping).
    Never an exception: the caller, inside a request or an on_commit callback, decides what a refusal means.
    Tasks take ids, so the arguments are safe to log."""
    try:
        task.delay(*args)
    except Exception:  # kombu's OperationalError, or a connection refused mid-publish
        logger.warning("task not sent to the broker", exc_info=True,
                       extra={"task": task.name, "task_args": [str(arg) for arg in args]})
        return False
    return True


@app.task(name="studentperf.worker_check")
def worker_check() -> dict:
    """What a worker sees: its database and active model (as /health/ready reports them for a web process).

    A round trip through the broker: `celery -A studentperf call studentperf.worker_check` after a
    deployment, or the integration tests, prove that workers share the database, model store and key.
    """
    from studentperf.readiness import readiness_check

    return readiness_check()


from studentperf import (
    metrics,  # noqa: F401,E402 (Celery signals)
    observability,  # noqa: F401,E402  (Celery signals)
)
