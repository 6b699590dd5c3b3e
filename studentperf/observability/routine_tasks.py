"""Celery's bookkeeping lines for the tasks beat runs every few seconds, kept out of the log.

Beat queues the challenger's shadow sweep every SHADOW_SWEEP_SECONDS (5), and for each run Celery writes three
INFO lines ("Scheduler: Sending due task", "Task ... received", "Task ... succeeded"): some 50,000 a day that
say nothing. `RoutineTaskFilter` (on every handler of settings.LOGGING) drops those INFO lines for the tasks and
beat entries in ROUTINE_TASKS; their warnings and errors (a failed or retried run) stay, as does what the task
itself logs (the sweep writes a line when it scored something), and its runs are counted in the metrics.
"""
from __future__ import annotations

import logging

# Task names and beat entry names whose routine INFO lines are dropped.
ROUTINE_TASKS = frozenset({"predictions.tasks.shadow_predictions_sweep", "shadow-sweep"})
# The loggers of Celery's per-run lines: the worker's "received" and "succeeded", beat's "sending due task".
CELERY_LOGGERS = frozenset({"celery.worker.strategy", "celery.app.trace", "celery.beat"})


class RoutineTaskFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or record.name not in CELERY_LOGGERS:
            return True
        args = record.args
        values = args.values() if isinstance(args, dict) else args if isinstance(args, tuple) else ()
        return not any(isinstance(value, str) and value in ROUTINE_TASKS for value in values)
