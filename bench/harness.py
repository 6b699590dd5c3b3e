"""The machinery of the benchmarks (api.py, batch.py, peers.py): servers started on loopback, the load
generator, a meter of the CPU and memory each process used.

Every server listens on 127.0.0.1 only and is stopped by the caller (the functions that start one return
the way to stop it); every wrk run is bounded in time.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

HOST = "127.0.0.1"  # loopback only: nothing here ever talks to another address
LUA_SCRIPT = Path(__file__).resolve().parent / "post.lua"


def step(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def gunicorn_start(app: str, *, directory: Path, env: dict[str, str], port: int, workers: int, log) -> subprocess.Popen:
    """gunicorn serving the WSGI `app` of the project in `directory` on HOST:port, in its own session."""
    command = [
        sys.executable, "-m", "gunicorn", app,
        "--workers", str(workers), "--bind", f"{HOST}:{port}", "--timeout", "120", "--chdir", str(directory),
    ]
    return subprocess.Popen(
        command, cwd=directory, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def gunicorn_stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.terminate()  # gunicorn's master stops its workers on SIGTERM
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # its own session: the master and its workers only
        process.wait(timeout=5)


def wait_live(process: subprocess.Popen, base_url: str, *, timeout_s: float = 60, path: str = "/health/live") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode} before answering (see its log)")
        try:
            with urllib.request.urlopen(f"{base_url}{path}", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{base_url}{path} did not answer 200 within {timeout_s:.0f} s")


def post_check(url: str, key: str, body_file: Path, *, size: int) -> None:
    """One prediction request answered 200 with `size` predictions, so wrk measures predictions, not errors."""
    answer = post_json(url, body_file.read_bytes(), headers={"Authorization": f"Api-Key {key}"})
    got = len(answer["predictions"]) if size > 1 else int("predicted_grade" in answer)
    if got != size:
        raise RuntimeError(f"{url} answered an unexpected shape: {str(answer)[:300]}")


def post_json(url: str, body: bytes, *, headers: dict[str, str] | None = None) -> dict:
    """POST a JSON body; the decoded answer, or RuntimeError with the start of the answer if not 2xx."""
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{url} answered {exc.code}: {exc.read()[:300]!r}") from None


def process_status(pid: int | str = "self") -> dict[str, str]:
    """A process's /proc/<pid>/status as {field: value} ("VmRSS": "123456 kB"); OSError once it has exited."""
    return dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)


def vm_rss_mib(status: dict[str, str]) -> float:
    """The resident memory (VmRSS) of a `process_status`, MiB."""
    return int(status["VmRSS"].split()[0]) / 1024  # "123456 kB"


def worker_memory(master_pid: int) -> list[dict]:
    """Resident memory (VmRSS, MiB) and thread count of each child of a gunicorn master: its workers."""
    workers = []
    for pid in sorted(_children(master_pid)):
        try:
            status = process_status(pid)
        except OSError:  # exited meanwhile
            continue
        workers.append({"pid": pid, "rss_mib": vm_rss_mib(status), "threads": int(status["Threads"])})
    return workers


def _process_cpu_s(pid: int, *, reaped: bool = False) -> float:
    """A process's CPU seconds; with `reaped`, also those of its children that exited and it waited for."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:  # gone
        return 0.0
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if reaped else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def _tree_cpu_s(pid: int) -> float:
    """CPU seconds of a server process and its children, those that exited (counted in its own figures
    once it reaped them: a restarted gunicorn worker, a closed PostgreSQL connection) included."""
    return _process_cpu_s(pid, reaped=True) + sum(_process_cpu_s(child, reaped=True) for child in _children(pid))


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rpartition(")")[2].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def _machine_busy_s() -> float:
    """CPU seconds spent by everything on the machine since boot (all cores, idle and iowait excluded)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """Cores used during a span by server processes and their children (the gunicorn master and workers,
    PostgreSQL), by this process and its waited-for children (wrk), and by everything else on the machine
    ("other"): other load means that the figures understate what the server can do."""

    def __init__(self, **servers: int | None):
        self.servers = {name: pid for name, pid in servers.items() if pid is not None}

    def __enter__(self):
        self.started = time.monotonic()
        self.before = self._sample()
        return self

    def __exit__(self, *exc_info):
        wall = time.monotonic() - self.started
        used = {name: value - self.before[name] for name, value in self._sample().items()}
        machine = used.pop("machine")
        self.cores = {name: value / wall for name, value in used.items()}
        self.cores["other"] = max(0.0, machine - sum(used.values())) / wall

    def _sample(self) -> dict[str, float]:
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return {
            **{name: _tree_cpu_s(pid) for name, pid in self.servers.items()},
            "client": own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime,
            "machine": _machine_busy_s(),
        }


def wrk(url: str, key: str, body_file: Path, *, connections: int, duration_s: int) -> dict:
    """One bounded wrk run against `url` (loopback); its figures from post.lua's JSON line."""
    return _wrk_run(url, LUA_SCRIPT, {"BENCH_BODY": str(body_file), "BENCH_API_KEY": key},
                    connections=connections, duration_s=duration_s)


def wrk_cycle(url: str, key: str, bodies_file: Path, *, connections: int, duration_s: int) -> dict:
    """As `wrk`, but each request's body is the next line of `bodies_file` (one JSON document per line), in
    turn (post.lua with BENCH_BODIES); `Authorization: Api-Key <key>` goes with every request (a server may
    ignore it)."""
    return _wrk_run(url, LUA_SCRIPT, {"BENCH_BODIES": str(bodies_file), "BENCH_API_KEY": key},
                    connections=connections, duration_s=duration_s)


def _wrk_run(url: str, script: Path, variables: dict[str, str], *, connections: int, duration_s: int) -> dict:
    command = [
        "wrk", "--threads", str(min(connections, 2)), "--connections", str(connections),
        "--duration", f"{duration_s}s", "--timeout", "60s", "--script", str(script), url,
    ]
    env = {**os.environ, **variables}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=duration_s + 90, check=False)
    line = next((line for line in result.stdout.splitlines() if line.startswith("BENCH ")), None)
    if result.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stdout[-500:]} {result.stderr[-500:]}")
    figures = json.loads(line[len("BENCH "):])
    failed = sum(figures["errors"].values())
    if failed:
        raise RuntimeError(f"wrk saw {failed} failed requests: {figures['errors']}")
    return figures


def drain(figures: dict, *, connections: int, workers: int) -> None:
    """Wait for the requests wrk left in flight at its deadline, so that the next run does not queue behind
    them (a 1,000-record request takes half a second)."""
    time.sleep(min(5.0, 0.5 + connections * figures["max_us"] / 1e6 / workers))


def postgres_start(workdir: Path) -> tuple[str, Callable[[], None], int]:
    """A throw-away PostgreSQL server on a loopback port with its data in `workdir` (fsync on, as in
    production), as .ci/run starts one; its DATABASE_URL, the function that stops it and its pid."""
    initdb = shutil.which("initdb") or next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))), None)
    if initdb is None:
        raise RuntimeError("--postgres needs PostgreSQL's initdb and pg_ctl (Debian: apt-get install postgresql)")
    bin_dir, data_dir, port = Path(initdb).parent, workdir / "pg", free_port()
    # The server refuses to run as root: then it runs as the "postgres" user (which .ci/run creates too).
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    data_dir.mkdir()
    if as_user:
        workdir.chmod(0o711)  # let that user reach its own folder, without listing ours
        shutil.chown(data_dir, "postgres")

    def run(*command: str) -> None:
        subprocess.run([*as_user, *command], check=True, stdout=subprocess.DEVNULL, timeout=120)

    step(f"PostgreSQL on {HOST}:{port}")
    run(str(bin_dir / "initdb"), "-D", str(data_dir / "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    run(str(bin_dir / "pg_ctl"), "-D", str(data_dir / "data"), "-l", str(data_dir / "log"), "-w",
        "-o", f"-p {port} -k {data_dir} -c listen_addresses={HOST}", "start")

    def stop() -> None:
        run(str(bin_dir / "pg_ctl"), "-D", str(data_dir / "data"), "-m", "fast", "-w", "stop")

    try:
        import psycopg

        with psycopg.connect(host=HOST, port=port, user="postgres", dbname="postgres", autocommit=True) as admin:
            admin.execute("CREATE DATABASE bench")
    except BaseException:
        stop()
        raise
    pid = int((data_dir / "data" / "postmaster.pid").read_text().split()[0])
    return f"postgres://postgres@{HOST}:{port}/bench", stop, pid


def redis_start(workdir: Path) -> tuple[str, subprocess.Popen]:
    """A throw-away redis-server on a free loopback port, without persistence: (its URL, its process)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (apt-get install -y redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        probe = subprocess.run(
            [shutil.which("redis-cli") or "redis-cli", "-h", HOST, "-p", str(port), "ping"],
            capture_output=True, text=True,
        )
        if probe.stdout.strip() == "PONG":
            return f"redis://{HOST}:{port}/0", process
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("redis-server did not answer PING")


def process_stop(process: subprocess.Popen | None) -> None:
    """Stop a process this bench started (its whole session after 20 s), if it still runs."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def bench_options(parser: argparse.ArgumentParser) -> None:
    """The options bench/api.py and bench/peers.py share."""
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument(
        "--no-redis", action="store_true",
        help="without Redis: studentperf's rate limits in the database cache (a deployment without REDIS_URL)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the throw-away folder (prints where)")


def tools_require(parser: argparse.ArgumentParser, args: argparse.Namespace, *, make_target: str) -> None:
    """Stop before anything starts when wrk, or redis-server without --no-redis, is missing."""
    if shutil.which("wrk") is None:
        parser.error(f"wrk is not installed (`make {make_target}` installs it: apt-get install -y wrk)")
    if not args.no_redis and shutil.which("redis-server") is None:
        parser.error(f"redis-server is not installed (`make {make_target}` installs it), or pass --no-redis")
