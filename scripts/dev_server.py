"""`make run`: the web server, one Celery worker and Celery beat in one command; Ctrl-C stops them all.

The broker: REDIS_URL (or CELERY_BROKER_URL) when the environment or .env sets it; otherwise a redis-server
started here when one is installed (port 6379 if free); otherwise kombu's filesystem transport under
var/celery/, which needs no server but only works on one machine: production uses Redis (docs/deployment.md).
When any process exits, the others are stopped and this script exits non-zero, naming it.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
VAR = BASE_DIR / "var"
REDIS_PORT = 6379
READY_TIMEOUT = 30  # seconds for redis-server to answer
# One BLAS/OpenMP thread per worker process: several threads each in several processes fight over the cores.
SINGLE_THREADED = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
CELERY = [sys.executable, "-m", "celery", "-A", "studentperf"]


@dataclass
class Broker:
    description: str
    env: dict[str, str]  # added to every process's environment
    redis_port: int | None = None  # start a redis-server on this port
    warning: str = ""


def broker_choose(
    env: Mapping[str, str], *, redis_server: str | None, port_free: Callable[[int], bool], free_port: Callable[[], int]
) -> Broker:
    """Which broker the processes use. `env`: the environment with .env beneath it; `redis_server`: the binary's
    path, or None when it is not installed."""
    configured = env.get("CELERY_BROKER_URL") or env.get("REDIS_URL")
    if configured:
        return Broker(f"{configured} (set in the environment or .env)", env={})
    if redis_server:
        port = REDIS_PORT if port_free(REDIS_PORT) else free_port()
        url = f"redis://127.0.0.1:{port}/0"
        return Broker(f"{url}: a redis-server started here, data in {shown(VAR / 'redis')}/, not kept",
                      {"REDIS_URL": url}, port)
    folder = VAR / "celery"
    return Broker(
        f"kombu's filesystem transport in {shown(folder)}/ (results in {shown(folder / 'results')}/)",
        {"CELERY_BROKER_URL": "filesystem://", "CELERY_RESULT_BACKEND": f"file://{folder / 'results'}"},
        warning=(
            "REDIS_URL is not set and redis-server is not installed: Celery falls back to kombu's filesystem "
            "transport, which needs no server but works on this machine only. Production uses Redis "
            "(docs/deployment.md); install redis-server (apt-get install redis-server) to use it here too."
        ),
    )


@dataclass
class Child:
    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)  # added to this script's environment
    ready: Callable[[], bool] | None = None  # start the next process only once this is true
    process: subprocess.Popen | None = None
    relay: threading.Thread | None = None


def children_plan(*, host: str, port: int, broker: Broker) -> list[Child]:
    schedule = VAR / "celery" / "beat-schedule"
    children = []
    if broker.redis_port is not None:
        data = VAR / "redis"
        children.append(Child("redis", [
            shutil.which("redis-server") or "redis-server", "--port", str(broker.redis_port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", str(data),
        ], ready=lambda: port_answers(broker.redis_port)))
    return children + [
        Child("worker", CELERY + ["worker", "--concurrency", "1", "--loglevel", "INFO", "--hostname", "dev@%h"],
              env=SINGLE_THREADED),
        Child("beat", CELERY + ["beat", "--loglevel", "INFO", "--schedule", str(schedule)]),
        Child("web", [sys.executable, "manage.py", "runserver", f"{host}:{port}"]),
    ]


class Supervisor:
    """Runs the children, each in its own process group, their output prefixed with their name. Returns 0 after
    SIGINT/SIGTERM/SIGHUP stopped them all, 1 when one of them exited by itself (the others are stopped)."""

    def __init__(self, children: list[Child], *, env: Mapping[str, str] | None = None, stop_timeout: float = 15):
        self.children, self.stop_timeout = children, stop_timeout
        self.env = dict(os.environ if env is None else env) | {"PYTHONUNBUFFERED": "1"}
        self.signals = 0
        self.output_lock = threading.Lock()
        self.width = max(len(child.name) for child in children)

    def run(self) -> int:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        try:
            failure = self._start_all() or self._watch()
        finally:
            self._stop_all()
        if failure is None:
            return 0
        self.say(f"{failure}; stopped the others.", sys.stderr)
        return 1

    def say(self, message: str, stream=None) -> None:
        with self.output_lock:
            print(f"{'':{self.width}} * {message}", file=stream or sys.stdout, flush=True)

    def _on_signal(self, signum, frame) -> None:
        self.signals += 1

    def _start_all(self) -> str | None:
        """Start the children in order; what went wrong, or None."""
        for child in self.children:
            if self.signals:
                return None
            child.process = subprocess.Popen(
                child.command, cwd=BASE_DIR, env=self.env | child.env, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
            )
            child.relay = threading.Thread(target=self._relay, args=(child,), daemon=True)
            child.relay.start()
            deadline = time.monotonic() + READY_TIMEOUT
            while child.ready is not None and not child.ready() and not self.signals:
                if child.process.poll() is not None:
                    return f"{child.name} exited with code {child.process.returncode}"
                if time.monotonic() > deadline:
                    return f"{child.name} was not ready after {READY_TIMEOUT} s"
                time.sleep(0.1)
        return None

    def _watch(self) -> str | None:
        """Wait for a signal (None) or a child's exit (which one)."""
        while not self.signals:
            for child in self.children:
                if child.process.poll() is not None:
                    return f"{child.name} exited with code {child.process.returncode}"
            time.sleep(0.2)
        return None

    def _relay(self, child: Child) -> None:
        for line in iter(child.process.stdout.readline, b""):
            with self.output_lock:
                sys.stdout.write(f"{child.name:{self.width}} | {line.decode(errors='replace')}")
                sys.stdout.flush()

    def _stop_all(self) -> None:
        """Stop the processes the others waited for at start (Redis) after the others, so that the worker can
        still acknowledge its last task. Gracefully: SIGTERM, all at once; SIGKILL to what is left of each process
        group after stop_timeout s (at once after a second Ctrl-C)."""
        self._stop([child for child in self.children if child.ready is None])
        self._stop([child for child in self.children if child.ready is not None])

    def _stop(self, children: list[Child]) -> None:
        started = [child for child in children if child.process is not None]
        for child in started:
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        while any(child.process.poll() is None for child in started):
            if time.monotonic() > deadline or self.signals > 1:
                break
            time.sleep(0.05)
        for child in started:
            if child.process.poll() is None:
                self.say(f"{child.name} did not stop within {self.stop_timeout:g} s: killed.", sys.stderr)
            try:
                os.killpg(child.process.pid, signal.SIGKILL)  # what is left: a pool process, a reloader's child
            except ProcessLookupError:
                pass
            child.process.wait()
            child.relay.join(timeout=2)  # its last lines


def metrics_env() -> dict[str, str]:
    """One Prometheus multiprocess directory for web, worker and beat, emptied first: the files of an earlier
    run would carry its counts into this one's (docs/monitoring.md)."""
    folder = VAR / "prometheus"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return {"PROMETHEUS_MULTIPROC_DIR": str(folder)}


def shown(path: Path) -> str:
    return os.path.relpath(path, BASE_DIR)


def port_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    from dotenv import dotenv_values

    env = {**dotenv_values(BASE_DIR / ".env"), **os.environ}
    broker = broker_choose(env, redis_server=shutil.which("redis-server"), port_free=port_free, free_port=free_port)
    for folder in ("redis", "celery/queue", "celery/control", "celery/results"):
        (VAR / folder).mkdir(parents=True, exist_ok=True)
    children = children_plan(host=args.host, port=args.port, broker=broker)
    supervisor = Supervisor(children, env=os.environ | broker.env | metrics_env())
    if broker.warning:
        supervisor.say(broker.warning)
    supervisor.say(f"web     http://{args.host}:{args.port}/ (manage.py runserver)")
    supervisor.say("worker  celery worker, 1 process, OMP/OpenBLAS/MKL threads 1")
    supervisor.say(f"beat    celery beat, schedule in {shown(VAR / 'celery' / 'beat-schedule')}")
    supervisor.say(f"broker  {broker.description}")
    supervisor.say(f"metrics http://{args.host}:{args.port}/metrics with Authorization: Bearer $METRICS_TOKEN (.env); "
                   f"counts of all three in {shown(VAR / 'prometheus')}/")
    supervisor.say("Ctrl-C stops them all.")
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
