"""The Celery app's settings come from the environment (REDIS_URL), and broker_ping answers fast either way."""
from __future__ import annotations

import runpy
import socket
import time
from datetime import timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CELERY_ENVIRONMENT = (
    "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CELERY_VISIBILITY_TIMEOUT",
    "CELERY_TASK_SOFT_TIME_LIMIT", "ACCURACY_CHECK_INTERVAL_HOURS",
)


@pytest.fixture
def production_settings(monkeypatch):
    """production_settings(**env) -> the names studentperf/settings.py defines when run with exactly `env` for
    its Celery variables (and no .env file)."""
    def load(**env) -> dict:
        monkeypatch.delenv("DJANGO_READ_DOT_ENV", raising=False)
        for name in CELERY_ENVIRONMENT:
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return runpy.run_path(str(ROOT / "studentperf" / "settings.py"))

    return load


def test_broker_and_results_are_redis_from_redis_url_with_late_acknowledgement(production_settings):
    conf = production_settings(REDIS_URL="redis://cache.internal:6380/2")

    assert conf["CELERY_BROKER_URL"] == conf["CELERY_RESULT_BACKEND"] == "redis://cache.internal:6380/2"
    assert conf["CELERY_TASK_ACKS_LATE"] is conf["CELERY_TASK_REJECT_ON_WORKER_LOST"] is True
    assert conf["CELERY_WORKER_PREFETCH_MULTIPLIER"] == 1
    assert conf["CELERY_TASK_SERIALIZER"] == "json"
    assert "CELERY_TASK_ALWAYS_EAGER" not in conf
    assert conf["CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP"] is True
    assert conf["CELERY_BROKER_TRANSPORT_OPTIONS"] == {"visibility_timeout": 3600}
    # A stuck task is stopped before Redis would hand it to a second worker.
    assert conf["CELERY_TASK_SOFT_TIME_LIMIT"] < conf["CELERY_TASK_TIME_LIMIT"] < 3600


def test_without_redis_url_the_broker_is_a_local_redis(production_settings):
    assert production_settings()["CELERY_BROKER_URL"] == "redis://127.0.0.1:6379/0"


def test_an_explicit_celery_broker_url_wins_over_redis_url(production_settings):
    conf = production_settings(REDIS_URL="redis://cache.internal:6379/0", CELERY_BROKER_URL="redis://other:6379/1")

    assert conf["CELERY_BROKER_URL"] == "redis://other:6379/1"
    assert conf["CELERY_RESULT_BACKEND"] == "redis://cache.internal:6379/0"


def test_the_filesystem_fallback_keeps_its_messages_under_var_celery(production_settings):
    conf = production_settings(CELERY_BROKER_URL="filesystem://", CELERY_RESULT_BACKEND="file:///tmp/results")

    options = conf["CELERY_BROKER_TRANSPORT_OPTIONS"]
    assert options["data_folder_in"] == options["data_folder_out"] == str(ROOT / "var" / "celery" / "queue")
    assert options["control_folder"] == str(ROOT / "var" / "celery" / "control")
    assert conf["CELERY_RESULT_BACKEND"] == "file:///tmp/results"


def test_visibility_timeout_and_accuracy_interval_come_from_the_environment(production_settings):
    conf = production_settings(CELERY_VISIBILITY_TIMEOUT="7200", ACCURACY_CHECK_INTERVAL_HOURS="6")

    assert conf["CELERY_BROKER_TRANSPORT_OPTIONS"]["visibility_timeout"] == 7200
    assert conf["CELERY_BEAT_SCHEDULE"]["accuracy-check"]["schedule"] == timedelta(hours=6)


def test_beat_runs_the_accuracy_check_daily_resumes_stale_batch_jobs_and_sweeps_for_the_challenger(production_settings):
    beat = production_settings()["CELERY_BEAT_SCHEDULE"]

    assert {name: (entry["task"], entry["schedule"]) for name, entry in beat.items()} == {
        "accuracy-check": ("predictions.tasks.accuracy_check_run", timedelta(hours=24)),
        "batch-jobs-resume-stale": ("predictions.tasks.batch_jobs_resume_stale", 60.0),
        "shadow-sweep": ("predictions.tasks.shadow_predictions_sweep", 5.0),
    }


def test_the_app_reads_the_celery_settings():
    from studentperf.celery import app

    assert app.conf.task_acks_late is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert "predictions.tasks.batch_jobs_resume_stale" in {entry["task"] for entry in app.conf.beat_schedule.values()}


def test_tests_never_use_a_real_broker_unless_the_integration_fixtures_say_so():
    from django.conf import settings

    assert settings.CELERY_BROKER_URL == "memory://"


@pytest.fixture
def broker_url():
    """broker_url(url): point the Celery app at `url` for this test."""
    from studentperf.celery import app

    saved = app.conf.broker_url
    yield lambda url: setattr(app.conf, "broker_url", url)
    app.conf.broker_url = saved


def test_broker_ping_is_true_for_a_broker_that_answers(broker_url):
    from studentperf.celery import broker_ping

    broker_url("memory://")
    assert broker_ping() is True


def test_broker_ping_is_false_at_once_when_nothing_listens(broker_url):
    from studentperf.celery import broker_ping

    with socket.socket() as sock:  # a port that was free a moment ago
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    broker_url(f"redis://127.0.0.1:{port}/0")
    started = time.monotonic()

    assert broker_ping(timeout=1.0) is False
    assert time.monotonic() - started < 1.0


def test_broker_ping_is_false_for_a_broken_url(broker_url):
    from studentperf.celery import broker_ping

    broker_url("nosuchtransport://somewhere")
    assert broker_ping() is False


def test_the_worker_check_task_reports_what_readiness_reports(active_version):
    from studentperf.celery import worker_check

    assert worker_check() == {
        "database": "ok", "model_version": active_version.version,
        "engines": {"A": "onnxruntime", "B": "onnxruntime", "C": "onnxruntime"},
    }
