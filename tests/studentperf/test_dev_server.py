"""scripts/dev_server.py (`make run`): which broker it picks, and that one Ctrl-C stops every process it started."""
from __future__ import annotations

import importlib.util
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("dev_server", ROOT / "scripts" / "dev_server.py")
dev_server = sys.modules["dev_server"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(dev_server)


def choose(env=None, *, redis_server="/usr/bin/redis-server", busy=()):
    return dev_server.broker_choose(
        env or {}, redis_server=redis_server, port_free=lambda port: port not in busy, free_port=lambda: 50123
    )


def test_a_configured_redis_url_is_used_and_nothing_is_started():
    broker = choose({"REDIS_URL": "redis://cache:6379/0"})

    assert (broker.env, broker.redis_port, broker.warning) == ({}, None, "")
    assert "redis://cache:6379/0" in broker.description


def test_a_configured_celery_broker_url_is_used_too():
    assert choose({"CELERY_BROKER_URL": "filesystem://"}, redis_server=None).env == {}


def test_without_redis_url_a_local_redis_server_is_started_on_6379():
    broker = choose()

    assert broker.redis_port == 6379
    assert broker.env == {"REDIS_URL": "redis://127.0.0.1:6379/0"}


def test_the_local_redis_server_takes_another_port_when_6379_is_busy():
    broker = choose(busy={6379})

    assert broker.redis_port == 50123
    assert broker.env == {"REDIS_URL": "redis://127.0.0.1:50123/0"}


def test_without_redis_server_it_falls_back_to_the_filesystem_transport_and_says_so():
    broker = choose(redis_server=None)

    assert broker.redis_port is None
    assert broker.env["CELERY_BROKER_URL"] == "filesystem://"
    assert broker.env["CELERY_RESULT_BACKEND"] == f"file://{ROOT / 'var' / 'celery' / 'results'}"
    assert "filesystem transport" in broker.warning
    assert "Production uses Redis" in broker.warning


def test_the_plan_is_web_worker_and_beat_with_a_single_threaded_worker():
    children = dev_server.children_plan(host="127.0.0.1", port=8123, broker=choose())

    assert [child.name for child in children] == ["redis", "worker", "beat", "web"]
    redis, worker, beat, web = children
    assert redis.command[redis.command.index("--port") + 1] == "6379"
    assert redis.command[redis.command.index("--dir") + 1] == str(ROOT / "var" / "redis")
    assert worker.command[worker.command.index("--concurrency") + 1] == "1"
    assert worker.env == {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    assert beat.command[beat.command.index("--schedule") + 1].startswith(str(ROOT / "var"))
    assert web.command[-2:] == ["runserver", "127.0.0.1:8123"]


def test_no_redis_server_is_planned_when_the_broker_is_configured():
    children = dev_server.children_plan(host="127.0.0.1", port=8000, broker=choose({"REDIS_URL": "redis://x/0"}))

    assert [child.name for child in children] == ["worker", "beat", "web"]


# A child that starts a grandchild (as runserver's reloader and Celery's prefork pool do), writes both pids, says
# "up", and exits with 3 after its lifetime. SIGTERM kills it but not the grandchild: the supervisor must.
CHILD = """
import subprocess, sys, time
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
open(sys.argv[1], "w").write(f"{__import__('os').getpid()} {grandchild.pid}")
print("up", flush=True)
time.sleep(float(sys.argv[2]))
sys.exit(3)
"""
SUPERVISE = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("dev_server", sys.argv[1])
dev_server = sys.modules["dev_server"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(dev_server)
child_code, pid_dir, lifetimes = sys.argv[2], sys.argv[3], sys.argv[4:]
children = [
    dev_server.Child(name, [sys.executable, "-c", child_code, f"{pid_dir}/{name}.pids", lifetime])
    for name, lifetime in zip(("web", "worker", "beat"), lifetimes)
]
sys.exit(dev_server.Supervisor(children, stop_timeout=5).run())
"""


def supervise(tmp_path, lifetimes):
    """The real Supervisor in its own process, running three CHILDren living `lifetimes` seconds each."""
    return subprocess.Popen(
        [sys.executable, "-c", SUPERVISE, str(ROOT / "scripts" / "dev_server.py"), CHILD, str(tmp_path), *lifetimes],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )


def pids_when_up(tmp_path, names=("web", "worker", "beat")) -> list[int]:
    files = [tmp_path / f"{name}.pids" for name in names]
    deadline = time.monotonic() + 30
    while not all(file.exists() and file.read_text() for file in files):
        assert time.monotonic() < deadline, "the children did not start"
        time.sleep(0.05)
    return [int(pid) for file in files for pid in file.read_text().split()]


def alive(pid: int) -> bool:
    """Running (a zombie nobody reaped yet does not count)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def still_alive(pids: list[int], *, within: float) -> list[int]:
    """The pids still running after waiting up to `within` seconds for them to exit."""
    deadline = time.monotonic() + within
    while (running := [pid for pid in pids if alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return running


@pytest.mark.skipif(not Path("/proc").exists(), reason="reads process states from /proc (Linux)")
def test_ctrl_c_stops_every_child_and_their_children(tmp_path):
    supervisor = supervise(tmp_path, ["600", "600", "600"])
    try:
        pids = pids_when_up(tmp_path)
        assert all(alive(pid) for pid in pids)

        supervisor.send_signal(signal.SIGINT)
        out, err = supervisor.communicate(timeout=30)
    finally:
        supervisor.kill()

    assert supervisor.returncode == 0, err
    assert not still_alive(pids, within=10)
    assert {"web    | up", "worker | up", "beat   | up"} <= set(out.splitlines())


@pytest.mark.skipif(not Path("/proc").exists(), reason="reads process states from /proc (Linux)")
def test_when_one_child_dies_the_others_are_stopped_and_it_is_named(tmp_path):
    supervisor = supervise(tmp_path, ["600", "1", "600"])
    try:
        out, err = supervisor.communicate(timeout=60)
    finally:
        supervisor.kill()
    pids = pids_when_up(tmp_path)

    assert supervisor.returncode == 1
    assert "worker exited with code 3; stopped the others." in err
    # Signalled before the supervisor exits; a grandchild may take a moment to finish dying on a loaded machine.
    assert not still_alive(pids, within=10)


def test_a_configured_broker_is_printed_and_used(tmp_path, monkeypatch):
    """main() with REDIS_URL set starts no redis-server and hands the processes the environment unchanged."""
    started = []
    monkeypatch.setattr(dev_server, "VAR", tmp_path)
    monkeypatch.setattr(dev_server.Supervisor, "run", lambda self: started.append(self) or 0)
    monkeypatch.setattr(sys, "argv", ["dev_server.py", "--port", "8765"])
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6390/0")

    assert dev_server.main() == 0
    (supervisor,) = started
    assert [child.name for child in supervisor.children] == ["worker", "beat", "web"]
    assert supervisor.env["REDIS_URL"] == "redis://127.0.0.1:6390/0"
