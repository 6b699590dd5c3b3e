"""/metrics under gunicorn with two workers and deploy/gunicorn.conf.py: the counts of both workers are summed
(prometheus_client's multiprocess mode), and survive a worker's restart.

gunicorn runs the production settings on a throw-away SQLite database migrated here, in a separate process:
it cannot see the test database's uncommitted rows, and needs none (no Redis either).
"""
from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import free_port
from tests.integration.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "gunicorn-metrics-token-0123456789"
BATCH = 40
COUNTER_FILE = re.compile(r"counter_(\d+)\.db")


class Gunicorn:
    def __init__(self, *, env: dict[str, str], log_path: Path):
        self.env, self.log_path = env, log_path
        self.url = f"http://{env['GUNICORN_BIND']}"
        self.metrics_dir = Path(env["PROMETHEUS_MULTIPROC_DIR"])
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "--no-control-socket",
                   "studentperf.wsgi"]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        wait_for(self.answers, timeout=60, interval=0.2, message="gunicorn to answer /metrics")

    def answers(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"gunicorn exited with {self.process.returncode}:\n{self.log()}")
        try:
            return self.scrape() is not None  # not /health/live: those requests are the ones counted
        except OSError:
            return False

    def get(self, path: str, **headers) -> tuple[int, bytes]:
        request = urllib.request.Request(self.url + path, headers={"Connection": "close", **headers})
        with urllib.request.urlopen(request, timeout=10) as response:  # a new connection each time
            return response.status, response.read()

    def scrape(self) -> dict[str, list]:
        status, body = self.get("/metrics", Authorization=f"Bearer {TOKEN}")
        assert status == 200
        return samples_of(text_string_to_metric_families(body.decode()))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # the master stops its workers
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def samples_of(families) -> dict[str, list]:
    """{sample name: [(labels, value), ...]}"""
    samples: dict[str, list] = {}
    for family in families:
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def live_requests(samples: dict) -> float:
    return sum(value for labels, value in samples.get("studentperf_http_requests_total", ())
               if labels == {"endpoint": "health/live", "method": "GET", "status": "200"})


def counter_files(directory: Path) -> dict[int, Path]:
    """pid -> its counter file: a worker writes one once it has answered a request."""
    return {int(match.group(1)): path for path in directory.iterdir() if (match := COUNTER_FILE.fullmatch(path.name))}


def live_requests_of(path: Path) -> float:
    """The /health/live requests one process counted, read from its file alone."""
    return live_requests(samples_of(MultiProcessCollector.merge([str(path)])))


@pytest.fixture
def gunicorn(tmp_path):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "studentperf.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": base64.urlsafe_b64encode(os.urandom(48)).decode(),
        "MODEL_ENCRYPTION_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "MODEL_STORE_DIR": str(tmp_path / "models"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "METRICS_TOKEN": TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),  # deploy/gunicorn.conf.py makes it
        "WEB_CONCURRENCY": "2",
        "GUNICORN_BIND": f"127.0.0.1:{free_port()}",
        "PYTHONUNBUFFERED": "1",
    }
    migrate = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=300)
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    server = Gunicorn(env=env, log_path=tmp_path / "gunicorn.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def scraped_until(gunicorn: Gunicorn, pids_wanted) -> dict[int, Path]:
    """Scrape until the workers that answered satisfy `pids_wanted(pids)`: a worker counts once it answered."""
    def answered():
        gunicorn.scrape()
        return pids_wanted(set(counter_files(gunicorn.metrics_dir)))

    wait_for(answered, timeout=60, interval=0.1, message="the workers to answer")
    return counter_files(gunicorn.metrics_dir)


def test_metrics_sum_the_requests_of_both_workers_and_keep_them_when_a_worker_restarts(gunicorn):
    workers = set(scraped_until(gunicorn, lambda pids: len(pids) == 2))  # both booted

    # Batches of several at once, each on its own connection, until both workers have answered some: which
    # worker accepts a connection is the kernel's choice, and on a loaded machine one may take a whole batch.
    sent, per_worker = 0, {}

    def both_answered() -> bool:
        nonlocal sent, per_worker
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(lambda _: gunicorn.get("/health/live")[0], range(BATCH)))
        assert statuses == [200] * BATCH
        sent += BATCH
        files = counter_files(gunicorn.metrics_dir)
        per_worker = {pid: live_requests_of(files[pid]) for pid in workers}
        return all(per_worker.values())

    wait_for(both_answered, timeout=120, interval=0, message="both workers to answer /health/live")
    samples = gunicorn.scrape()
    assert live_requests(samples) == sum(per_worker.values()) == sent
    assert samples["studentperf_database_up"] == [({}, 1.0)]
    assert samples["studentperf_model_active_version"] == [({}, 0.0)]  # a fresh database: none active

    os.kill(min(workers), signal.SIGTERM)  # the master starts another worker; the dead one's counts stay
    scraped_until(gunicorn, lambda pids: pids - workers)

    assert live_requests(gunicorn.scrape()) == sent
    assert "Traceback" not in gunicorn.log()
