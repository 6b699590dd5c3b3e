"""The integration fixtures themselves: a real worker on a real Redis sees the test database, the model store
and the key; a task whose worker is killed runs again on the next worker; Redis down is noticed within a second.
"""
from __future__ import annotations

import socket
import time

import pytest

from studentperf.celery import broker_ping, worker_check
from tests.integration.conftest import celery_app_pointed_at
from tests.integration.helpers import wait_for
from tests.integration.tasks import record_run

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_worker_sees_the_test_database_and_the_active_model(celery_worker, active_version):
    result = worker_check.delay()

    assert result.get(timeout=60) == {
        "database": "ok", "model_version": active_version.version,
        "engines": {"A": "onnxruntime", "B": "onnxruntime", "C": "onnxruntime"},
    }


def test_a_task_whose_worker_was_killed_runs_again_after_a_restart(celery_worker, tmp_path):
    runs = tmp_path / "runs.txt"
    result = record_run.delay(str(runs), seconds=3)
    wait_for(lambda: runs.exists() and "start" in runs.read_text(), timeout=30, message="the task to start")

    celery_worker.kill()
    assert runs.read_text() == "start\n"  # killed mid-task, not acknowledged
    celery_worker.start()

    assert result.get(timeout=90) == 2  # the broker handed it out again after the visibility timeout
    assert runs.read_text() == "start\nstart\ndone\n"


def test_a_task_sent_while_no_worker_runs_waits_for_the_next(celery_worker, tmp_path):
    celery_worker.stop()
    runs = tmp_path / "runs.txt"
    result = record_run.delay(str(runs))
    time.sleep(1)
    assert not runs.exists()

    celery_worker.start()

    assert result.get(timeout=60) == 1


@pytest.fixture
def app_on_redis(redis_server):
    with celery_app_pointed_at(redis_server.url) as app:
        yield app


def test_broker_ping_is_true_while_redis_answers_and_false_within_a_second_when_it_stops(app_on_redis, redis_server):
    assert broker_ping(timeout=1.0) is True
    redis_server.stop()
    try:
        started = time.monotonic()
        assert broker_ping(timeout=1.0) is False
        assert time.monotonic() - started < 1.0
    finally:
        redis_server.start()
    assert broker_ping(timeout=1.0) is True


def test_broker_ping_gives_up_after_its_timeout_when_the_broker_hangs():
    """A host that accepts the connection and never answers (a hung Redis, an overloaded machine)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        with celery_app_pointed_at(f"redis://127.0.0.1:{silent.getsockname()[1]}/0"):
            started = time.monotonic()
            assert broker_ping(timeout=0.5) is False
            elapsed = time.monotonic() - started
    assert 0.4 < elapsed < 1.5


def test_readiness_reports_the_broker_down_without_failing(app_on_redis, redis_server, active_version, client):
    assert client.get("/health/ready").json()["broker"] == "ok"
    redis_server.stop()
    try:
        response = client.get("/health/ready")
    finally:
        redis_server.start()

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok", "database": "ok", "model_version": active_version.version, "broker": "unavailable",
        "engines": {"A": "onnxruntime", "B": "onnxruntime", "C": "onnxruntime"},
    }


def test_a_worker_runs_one_compute_thread_per_pool_process_whatever_the_machine_says(celery_worker):
    # The fixture starts the worker with OMP_NUM_THREADS & co. at 8 (MANY_THREADS): the worker overrides them.
    from tests.integration.tasks import thread_settings

    settings = thread_settings.delay().get(timeout=60)

    assert settings["env"] == {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    assert {api for api, _ in settings["pools"]} >= {"openmp", "blas"}
    assert all(threads == 1 for _, threads in settings["pools"]), settings["pools"]
