"""Integration tests: a real redis-server and a real Celery worker process working on the test database.

`redis_server` (session): a redis-server of its own on a free port, without persistence. Skipped when the
binary is missing, but a failure when REQUIRE_REDIS is set (`.ci/run` sets it): CI cannot pass without these
tests. `.url`, `.port`, `.stop()`, `.start()` (again, on the same port), `.ping()`, `.flush()`.

`celery_worker` (function; makes the test transactional): `celery -A studentperf worker` (prefork, one
process, as in development) on that Redis, with the test database, model store and encryption key of this
process, and a visibility timeout of VISIBILITY_TIMEOUT s, so a task whose worker was killed is handed out
again within seconds (start() after kill() waits for that timeout, then the new worker takes the task back). This process's Celery app sends to the same Redis for the test's duration. `.url` (the
broker URL), `.stop()` (warm shutdown), `.kill()` (SIGKILL to the worker and its pool), `.start()`, `.log()`.
Redis is emptied before and after each test, so no message outlives its test.

Tests that log people in also need `roles` (tests/conftest.py): the flush after a transactional test
removes the role groups.
"""
from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import kombu.pools
import pytest
import redis

from tests.integration.helpers import wait_for
from tests.tools import tool_missing

VISIBILITY_TIMEOUT = 5
READY_TIMEOUT = 90
# Thread variables the worker must override (studentperf/threads.py): as a machine's defaults could be.
MANY_THREADS = {name: "8" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    def __init__(self, binary: str, directory: Path):
        self.binary, self.directory = binary, directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(self.directory),
        ]
        with open(self.directory / "redis.log", "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        wait_for(self.ping, timeout=15, message=f"redis-server on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def ping(self) -> bool:
        try:
            return redis.Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=1).ping()
        except redis.ConnectionError:
            return False

    def flush(self) -> None:
        redis.Redis.from_url(self.url, socket_timeout=5).flushall()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    binary = shutil.which("redis-server")
    if binary is None:
        tool_missing("redis-server is not installed (apt-get install redis-server).", required_by="REQUIRE_REDIS")
    server = RedisServer(binary, tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


class CeleryWorker:
    def __init__(self, *, url: str, env: dict[str, str], log_path: Path):
        self.url, self.env, self.log_path = url, env, log_path
        self.command = [
            sys.executable, "-m", "celery", "-A", "studentperf", "worker", "--pool", "prefork", "--concurrency", "1",
            "--without-gossip", "--without-mingle", "--loglevel", "INFO", "--include", "tests.integration.tasks",
            "--hostname", f"test-{uuid.uuid4().hex[:8]}@%h",
        ]
        self.process: subprocess.Popen | None = None
        self.killed_at: float | None = None

    def start(self) -> None:
        """Start the worker and wait until it consumes from the queue.

        After kill(), it first lets the visibility timeout pass: a starting worker takes back the tasks of a
        dead one whose timeout has passed, but after that kombu looks again only every ~100 s.
        """
        if self.killed_at is not None:
            time.sleep(max(0.0, self.killed_at + VISIBILITY_TIMEOUT + 0.5 - time.monotonic()))
            self.killed_at = None
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command, cwd=Path(__file__).resolve().parents[2], env=self.env,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,  # its own group: kill() reaches the pool
            )

        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"The Celery worker exited with {self.process.returncode}:\n{self.log()}")
            return " ready." in self.log()[offset:]

        wait_for(ready, timeout=READY_TIMEOUT, interval=0.1, message="the Celery worker to be ready")

    def stop(self, timeout: float = 30) -> None:
        """Warm shutdown (SIGTERM): the running task finishes first; SIGKILL after `timeout` s."""
        self._signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the worker and its pool process at once, as a crash or the OOM killer would."""
        self._signal(signal.SIGKILL)
        self.process.wait()
        _reap_group(self.process.pid)
        self.killed_at = time.monotonic()

    def _signal(self, signum: int) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signum)
            except ProcessLookupError:
                pass

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _reap_group(pgid: int) -> None:
    """Wait until no process of the group is left (its pool child is not ours to wait for)."""
    def gone() -> bool:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        return False

    wait_for(gone, timeout=10, interval=0.05, message=f"process group {pgid} to exit")


@contextmanager
def celery_app_pointed_at(url: str):
    """This process's Celery app sends tasks to (and reads results from) `url` for the duration."""
    from studentperf.celery import app

    names = ("broker_url", "result_backend", "broker_transport_options")
    saved = {name: app.conf[name] for name in names}

    def reconnect() -> None:
        # The app caches its broker pool, producer pool and result backend, and kombu keeps pools per URL:
        # close and drop them all so that new ones follow the conf (and none holds a dead Redis connection).
        kombu.pools.reset()
        app._pool = None
        app.amqp._producer_pool = None
        app._backend_cache = None
        vars(app._local).pop("backend", None)

    app.conf.update(
        broker_url=url, result_backend=url, broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT}
    )
    reconnect()
    try:
        yield app
    finally:
        app.conf.update(saved)
        reconnect()


@pytest.fixture
def celery_worker(redis_server, transactional_db, settings, tmp_path):
    from django.db import connection

    if not redis_server.ping():  # a test stopped it
        redis_server.start()
    redis_server.flush()
    env = os.environ | MANY_THREADS | {
        "DJANGO_SETTINGS_MODULE": "studentperf.test_settings",
        "STUDENTPERF_TEST_DB_NAME": str(connection.settings_dict["NAME"]),
        "STUDENTPERF_TEST_BROKER_URL": redis_server.url,
        "REDIS_URL": redis_server.url,
        "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        "MODEL_STORE_DIR": str(settings.MODEL_STORE_DIR),
        "MODEL_ENCRYPTION_KEY": base64.urlsafe_b64encode(settings.MODEL_ENCRYPTION_KEY).decode(),
        "PYTHONUNBUFFERED": "1",
    }
    worker = CeleryWorker(url=redis_server.url, env=env, log_path=tmp_path / "celery-worker.log")
    with celery_app_pointed_at(redis_server.url):
        worker.start()
        try:
            yield worker
        finally:
            worker.stop()
            if redis_server.ping():
                redis_server.flush()

