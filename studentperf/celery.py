"""The Celery application: configuration from the Django settings (`CELERY_*`, docs/deployment.md).

Workers run `celery -A studentperf worker`; the tasks live in each app's `tasks.py` (found by autodiscovery).
The broker and result backend are Redis (REDIS_URL); `make run` may fall back to kombu's filesystem transport.
"""
from __future__ import annotations

import os
import sys

from studentperf.threads import threads_configure, worker_command

# A worker predicts CSV batches: INFERENCE_THREADS compute threads per pool process, set before numpy is
# imported (studentperf/threads.py); its parallelism comes from --concurrency. Other processes import this
# module too (every Django process does, through studentperf/__init__.py) and keep their own settings.
if worker_command(sys.argv):
    threads_configure()

from celery import Celery  # noqa: E402

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


@app.task(name="studentperf.worker_check")
def worker_check() -> dict:
    """What a worker sees: its database and active model (as /health/ready reports them for a web process).

    A round trip through the broker: `celery -A studentperf call studentperf.worker_check` after a
    deployment, or the integration tests, prove that workers share the database, model store and key.
    """
    from studentperf.health import readiness_check

    return readiness_check()


from studentperf import metrics  # noqa: F401,E402 (Celery signals)
from studentperf import observability  # noqa: F401,E402  (Celery signals)
