"""Celery's per-run INFO lines of the shadow sweep (beat runs it every 5 s) stay out of the log; everything
else Celery says, and the sweep's own lines, stay in (studentperf/observability/routine_tasks.py)."""
from __future__ import annotations

import logging

import pytest
from celery.app import trace

from studentperf.observability.routine_tasks import RoutineTaskFilter

SWEEP = "predictions.tasks.shadow_predictions_sweep"


class Kept(logging.Handler):
    def __init__(self):
        super().__init__()
        self.addFilter(RoutineTaskFilter())
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@pytest.fixture
def kept():
    handler = Kept()
    loggers = [logging.getLogger(name) for name in ("celery.app.trace", "celery.worker.strategy", "celery.beat",
                                                    "predictions.shadow.services")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    yield handler.lines
    for logger, level in zip(loggers, levels):
        logger.removeHandler(handler)
        logger.setLevel(level)


def _context(name: str) -> dict:
    return {"id": "0b1c", "name": name, "return_value": "0", "runtime": 0.004, "args": "()", "kwargs": "{}"}


def test_the_sweeps_bookkeeping_lines_are_dropped_and_other_tasks_lines_kept(kept):
    for name in (SWEEP, "predictions.tasks.accuracy_check_run"):
        logging.getLogger("celery.worker.strategy").info(trace.LOG_RECEIVED, _context(name))
        logging.getLogger("celery.app.trace").info(trace.LOG_SUCCESS, _context(name))
    logging.getLogger("celery.beat").info("Scheduler: Sending due task %s (%s)", "shadow-sweep", SWEEP)
    logging.getLogger("celery.beat").info("Scheduler: Sending due task %s (%s)", "accuracy-check", "x")

    assert kept == [
        "Task predictions.tasks.accuracy_check_run[0b1c] received",
        "Task predictions.tasks.accuracy_check_run[0b1c] succeeded in 0.004s: 0",
        "Scheduler: Sending due task accuracy-check (x)",
    ]


def test_a_failing_sweep_and_what_the_sweep_itself_logs_are_kept(kept):
    failure = {**_context(SWEEP), "description": "raised unexpected", "exc": "OperationalError"}
    logging.getLogger("celery.app.trace").error(trace.LOG_FAILURE, failure)
    logging.getLogger("predictions.shadow.services").info("shadow predictions scored")

    assert len(kept) == 2 and "raised unexpected: OperationalError" in kept[0]
    assert kept[1] == "shadow predictions scored"


def test_the_filter_is_on_every_handler_of_the_settings(settings):
    handlers = settings.LOGGING["handlers"]
    assert handlers and all("routine_tasks" in handler["filters"] for handler in handlers.values())
