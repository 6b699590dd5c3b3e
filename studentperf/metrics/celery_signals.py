"""Celery task outcomes and durations, counted where the task runs (a worker's pool process, or the worker
itself for a task it lost: a time limit, a killed pool process). Connected when this module is imported:
studentperf/celery.py imports the metrics package, so every process that loads the Celery app counts."""
from __future__ import annotations

import os
import time

from celery import signals
from prometheus_client import Counter, Histogram

# From 10 ms (a stale-job sweep) to 30 minutes (a batch job of the largest allowed file).
TASK_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0)

CELERY_TASKS = Counter(
    "studentperf_celery_tasks", "Celery task runs by task name and outcome (succeeded, failed, retried, revoked).",
    ["task", "outcome"],
)
CELERY_TASK_DURATION = Histogram(
    "studentperf_celery_task_duration_seconds",
    "Time a task ran, whatever its outcome (a run that ends in a retry too).", ["task"], buckets=TASK_BUCKETS,
)
_started: dict[str, float] = {}  # task id -> time.perf_counter() at its start, in the process running it


def _task_name(sender) -> str:
    return getattr(sender, "name", None) or "unknown"


def _outcome_counter(outcome: str):
    def count(sender=None, **kwargs) -> None:
        CELERY_TASKS.labels(_task_name(sender), outcome).inc()
    return count


for _outcome, _signal in (
    ("succeeded", signals.task_success), ("failed", signals.task_failure), ("retried", signals.task_retry),
    ("revoked", signals.task_revoked),
):
    _signal.connect(_outcome_counter(_outcome), weak=False, dispatch_uid=f"studentperf.metrics.task_{_outcome}")


@signals.task_prerun.connect
def _on_prerun(task_id=None, **kwargs) -> None:
    _started[task_id] = time.perf_counter()


@signals.task_postrun.connect
def _on_postrun(sender=None, task_id=None, **kwargs) -> None:
    started = _started.pop(task_id, None)
    if started is not None:
        CELERY_TASK_DURATION.labels(_task_name(sender)).observe(time.perf_counter() - started)


@signals.worker_process_shutdown.connect
def _on_pool_process_exit(**kwargs) -> None:
    """A pool process ends: in multiprocess mode its live gauges' files must go (its counters stay summed)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid())
