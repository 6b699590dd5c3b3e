"""Benchmark of `POST /api/v1/predict`: gunicorn (2 workers) on loopback under wrk, next to in-process figures.

Run it with `make bench` (which installs gunicorn, wrk and this folder's requirements first) or
`.venv/bin/python bench/api.py [--duration SECONDS] [--profile] [--json PATH]`. See bench/README.md.

Everything happens in a throw-away folder: its own SQLite database (or, with --postgres, PostgreSQL server),
model store and secrets, a model trained with the default recipe, an API key with scope predict. Nothing of
the project's `.env` or database is read or touched. The folder is removed and the servers stopped on exit,
also after an error, Ctrl-C or SIGTERM.

What is measured, on the same records (rows of data/student-mat.csv, setups A, B and C in turn):
- in-process, one thread, in four layers: the pipelines' `predict` alone; `predict_records` (grade, interval,
  pass probability and explanations); the prediction service (validation + audit rows written);
  the whole Django stack through the test client (no network); the number of SQL queries per request;
- over HTTP with wrk: one record per request with 1 and 16 connections, 1,000 records per request with 1 and
  2 connections: requests/s, records/s, p50 and p99 latency.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from harness import (
    HOST,
    CpuMeter,
    bench_options,
    drain,
    free_port,
    gunicorn_start,
    gunicorn_stop,
    post_check,
    postgres_start,
    process_stop,
    redis_start,
    step,
    tools_require,
    wait_live,
    wrk,
)

ROOT = Path(__file__).resolve().parent.parent
PREDICT_PATH = "/api/v1/predict"
WORKERS = 2
BATCH_SIZE = 1000
OTHER_LOAD_WARN = 0.2  # cores used by other processes during a measurement that make it suspect
# One BLAS/OpenMP thread per process: two workers on two cores must not fight over them, and the in-process
# figures are then those of one worker.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def bench_environment(workdir: Path, *, settings_module: str = "studentperf.settings") -> dict[str, str]:
    """The variables of the throw-away installation (see README, "Configuration")."""
    return {
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
        "DJANGO_ALLOWED_HOSTS": HOST,
        # wrk speaks plain HTTP to gunicorn itself, as the TLS proxy does (a redirect would be all it measured).
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
        "MODEL_STORE_DIR": str(workdir / "models"),
        "MODEL_ENCRYPTION_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        # Rate limits far above what two cores can serve. Per second, not per minute: DRF's throttle keeps
        # one timestamp per request of the window in the cache and reads and writes that list on every
        # request, so a per-minute window at bench rates would measure a 10,000-entry list that no real
        # limit (600/min by default) lets grow.
        "API_THROTTLE_KEY": "1000000/s",
        "API_THROTTLE_USER": "1000000/s",
        "LOG_LEVEL": "INFO",  # production's default; the count of model loads is read from these logs
        **{name: "1" for name in THREAD_VARIABLES},
    }


# --- the installation ----------------------------------------------------------------------------------


def install(workdir: Path) -> str:
    """Migrate, create the cache table, train and activate a model, create an API key; the key."""
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    if any(cache["BACKEND"].endswith("DatabaseCache") for cache in settings.CACHES.values()):
        call_command("createcachetable", verbosity=0)
    step("training and activating the default recipe")
    _model_train_activate()
    output = _command_output("create_api_key", "bench", "--scopes", "predict")
    match = re.search(r"\b[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}\b", output)
    if match is None:
        raise RuntimeError(f"create_api_key printed no key: {output!r}")
    return match.group(0)


def _model_train_activate() -> None:
    # What `train_model --activate` does, less its 10-fold cross-validation (1.5 minutes on 2 cores): the
    # served pipelines are the same; the cross-validated metrics stored beside them are not needed here.
    from modelstore.ml.data import DEFAULT_DATA_PATH, file_sha256, load_dataset
    from modelstore.ml.recipe import train_pipelines
    from modelstore.services import model_version_activate, model_version_register

    version = model_version_register(
        pipelines=train_pipelines(load_dataset()),
        name="bench",
        training_data_sha256=file_sha256(DEFAULT_DATA_PATH),
    )
    if version.status != version.Status.VALIDATED:
        raise RuntimeError(f"The bench model was rejected: {version.rejection_reason}")
    model_version_activate(version=version, user=None)


def _command_output(*args: str) -> str:
    import io

    from django.core.management import call_command

    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def bench_records() -> list[dict]:
    """The CSV's rows as API records (without G3), in turn with G1 and G2 (setup A), G1 only (B), neither (C)."""
    from modelstore.ml.data import load_dataset

    rows = load_dataset().drop(columns=["G3"]).to_dict(orient="records")
    records = []
    for index in range(BATCH_SIZE):
        drop = {0: (), 1: ("G2",), 2: ("G1", "G2")}[index % 3]
        records.append({name: value for name, value in rows[index % len(rows)].items() if name not in drop})
    return records


# --- in-process figures --------------------------------------------------------------------------------


def timed(function: Callable[[], object], *, budget_s: float, at_most: int, at_least: int = 5) -> dict:
    """The median and spread of `function`'s wall time over repetitions, after one warm-up call."""
    function()
    times: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(times) < at_least or (len(times) < at_most and time.perf_counter() < deadline):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    times.sort()
    return {
        "runs": len(times),
        "median_ms": statistics.median(times) * 1000,
        "p99_ms": times[min(len(times) - 1, int(len(times) * 0.99))] * 1000,
    }


def in_process_figures(records: list[dict], key: str, *, budget_s: float) -> dict:
    """Each layer of a prediction timed in this process (one thread), for one record and for 1,000."""
    import pandas as pd
    from django.conf import settings
    from django.test import Client

    from modelstore.ml.inference import predict_records
    from modelstore.schema import setup_for
    from modelstore.loader import loaded_model_get
    from predictions.services import prediction_create, prediction_create_many

    loaded = loaded_model_get()
    pipelines = loaded.pipelines
    single, batch = records[:1], records

    def frames(chunk: list[dict]) -> list[tuple]:
        by_setup: dict[str, list[dict]] = {}
        for record in chunk:
            by_setup.setdefault(setup_for(record), []).append(record)
        return [(pipelines[setup], pd.DataFrame(rows)) for setup, rows in by_setup.items()]

    def pipeline_predict(prepared: list[tuple]) -> Callable[[], None]:
        return lambda: [pipeline.predict(frame) for pipeline, frame in prepared]

    def explained(chunk: list[dict]) -> Callable[[], object]:
        return lambda: predict_records(
            loaded.predictors, chunk, coverage=settings.PREDICTION_INTERVAL_COVERAGE, top_k=settings.TOP_FACTORS
        )

    client = Client(HTTP_HOST=HOST, HTTP_AUTHORIZATION=f"Api-Key {key}")
    single_body, batch_body = json.dumps(single[0]), json.dumps({"instances": batch})

    def http(body: str) -> Callable[[], None]:
        def post() -> None:
            response = client.post(PREDICT_PATH, data=body, content_type="application/json")
            if response.status_code != 200:
                raise RuntimeError(f"{PREDICT_PATH} answered {response.status_code}: {response.content[:300]!r}")
        return post

    single_frames, batch_frames = frames(single), frames(batch)
    figures = {}
    for label, size, function in (
        ("pipeline.predict", 1, pipeline_predict(single_frames)),
        ("predict_records", 1, explained(single)),
        ("service", 1, lambda: prediction_create(record=single[0], source="api")),
        ("django", 1, http(single_body)),
        ("pipeline.predict", BATCH_SIZE, pipeline_predict(batch_frames)),
        ("predict_records", BATCH_SIZE, explained(batch)),
        ("service", BATCH_SIZE, lambda: prediction_create_many(records=batch, source="api")),
        ("django", BATCH_SIZE, http(batch_body)),
    ):
        step(f"in-process {label}, {size} record(s)")
        figures[(label, size)] = timed(function, budget_s=budget_s, at_most=300 if size == 1 else 30)
    return figures


def query_counts(records: list[dict], key: str) -> dict[int, list[str]]:
    """The SQL of one steady-state request (model loaded, key known), one record and 1,000."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST=HOST, HTTP_AUTHORIZATION=f"Api-Key {key}")
    counts = {}
    for size, body in ((1, records[0]), (BATCH_SIZE, {"instances": records})):
        payload = json.dumps(body)
        client.post(PREDICT_PATH, data=payload, content_type="application/json")
        with CaptureQueriesContext(connection) as captured:
            response = client.post(PREDICT_PATH, data=payload, content_type="application/json")
        if response.status_code != 200:
            raise RuntimeError(f"{PREDICT_PATH} answered {response.status_code}: {response.content[:300]!r}")
        counts[size] = [query["sql"] for query in captured.captured_queries]
    return counts


def profile(records: list[dict], key: str, out_dir: Path) -> list[Path]:
    """pyinstrument profiles of the Django stack (test client) for one record x 200 and 1,000 records x 5."""
    from django.test import Client
    from pyinstrument import Profiler

    client = Client(HTTP_HOST=HOST, HTTP_AUTHORIZATION=f"Api-Key {key}")
    written = []
    for name, body, repeat in (("single", records[0], 200), ("batch", {"instances": records}, 5)):
        payload = json.dumps(body)
        client.post(PREDICT_PATH, data=payload, content_type="application/json")
        profiler = Profiler(interval=0.0005)
        with profiler:
            for _ in range(repeat):
                client.post(PREDICT_PATH, data=payload, content_type="application/json")
        path = out_dir / f"profile-{name}.txt"
        path.write_text(profiler.output_text(unicode=True, color=False, show_all=False))
        written.append(path)
    return written


# --- over HTTP -----------------------------------------------------------------------------------------


def http_figures(
    env: dict[str, str], workdir: Path, key: str, records: list[dict], *, duration_s: int, database_pid: int | None
) -> tuple[dict, int]:
    """wrk's figures of each run, by (records per request, connections), and how many times the workers
    loaded a model package."""
    single_file, batch_file = workdir / "single.json", workdir / "batch.json"
    single_file.write_text(json.dumps(records[0]))
    batch_file.write_text(json.dumps({"instances": records}))
    port = free_port()
    base_url = f"http://{HOST}:{port}"
    url = base_url + PREDICT_PATH
    step(f"gunicorn, {WORKERS} workers, on {base_url}")
    with open(workdir / "gunicorn.log", "wb") as log:
        process = gunicorn_start("studentperf.wsgi", directory=ROOT, env=env, port=port, workers=WORKERS, log=log)
    try:
        wait_live(process, base_url)
        post_check(url, key, single_file, size=1)
        post_check(url, key, batch_file, size=BATCH_SIZE)
        step("warming up both workers")
        for body, connections in ((single_file, 4), (batch_file, 2)):
            figure = wrk(url, key, body, connections=connections, duration_s=3)
            drain(figure, connections=connections, workers=WORKERS)
        figures: dict = {}
        for size, body, connections in ((1, single_file, 1), (1, single_file, 16),
                                        (BATCH_SIZE, batch_file, 1), (BATCH_SIZE, batch_file, 2)):
            step(f"wrk: {size} record(s) per request, {connections} connection(s), {duration_s} s")
            with CpuMeter(server=process.pid, database=database_pid) as meter:
                figure = wrk(url, key, body, connections=connections, duration_s=duration_s)
            figures[(size, connections)] = {**figure, "cores": meter.cores}
            drain(figure, connections=connections, workers=WORKERS)
    finally:
        gunicorn_stop(process)
    # The selectors log each load of a model package: once per worker, or something reloads it.
    log = (workdir / "gunicorn.log").read_text(errors="replace")
    return figures, log.count('"message": "active model loaded"')


# --- the report ----------------------------------------------------------------------------------------


def report(
    local: dict, http: dict, queries: dict[int, list[str]], *, show_queries: bool, in_process_other: float
) -> str:
    """The figures side by side. 'x raw' compares with pipeline.predict of the same records in-process:
    latency as a multiple of it, records/s as a share of what the busy workers could do on predict alone.
    'cores' is the CPU the gunicorn workers used (2 at most), plus PostgreSQL's when it runs here."""
    lines = [
        f"{'':44} {'req/s':>7} {'records/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'p50 x raw':>9} "
        f"{'rec/s vs raw':>12} cores",
    ]
    for size in (1, BATCH_SIZE):
        raw_ms = local[("pipeline.predict", size)]["median_ms"]
        lines.append(f"-- {size} record(s) per request " + "-" * (74 if size == 1 else 71))
        for label, title in (("pipeline.predict", "in-process pipeline.predict (raw)"),
                             ("predict_records", "in-process predict_records (+ explanations)"),
                             ("service", "in-process service (+ validation, INSERT)"),
                             ("django", "in-process Django test client (no network)")):
            figure = local[(label, size)]
            rate = 1000 / figure["median_ms"]
            lines.append(
                f"{title:44} {rate:7.1f} {rate * size:9.0f} {figure['median_ms']:8.2f} {figure['p99_ms']:8.2f} "
                f"{figure['median_ms'] / raw_ms:9.1f} {raw_ms / figure['median_ms']:12.2f}"
            )
        for (http_size, connections), figure in http.items():
            if http_size != size:
                continue
            rate = figure["requests"] / (figure["duration_us"] / 1e6)
            busy = min(connections, WORKERS)  # workers that can be busy at once
            lines.append(
                f"{f'HTTP gunicorn x{WORKERS}, {connections} connection(s)':44} {rate:7.1f} {rate * size:9.0f} "
                f"{figure['p50_us'] / 1000:8.2f} {figure['p99_us'] / 1000:8.2f} "
                f"{figure['p50_us'] / 1000 / raw_ms:9.1f} {rate * raw_ms / 1000 / busy:12.2f} "
                + f"{figure['cores']['server']:.2f}"
                + (f"+{figure['cores']['database']:.2f}" if "database" in figure["cores"] else "")
            )
    lines.append("")
    for size, sql in queries.items():
        lines.append(f"SQL queries per request, {size} record(s): {len(sql)}")
        if show_queries:
            lines.extend(f"    {statement[:150]}" for statement in sql)
    busy_elsewhere = {f"{size} record(s), {connections} connection(s)": figure["cores"]["other"]
                      for (size, connections), figure in http.items() if figure["cores"]["other"] > OTHER_LOAD_WARN}
    if in_process_other > OTHER_LOAD_WARN:
        busy_elsewhere["the in-process timings"] = in_process_other
    for span, cores in busy_elsewhere.items():
        lines.append(f"WARNING: other processes used {cores:.2f} cores during {span}: figures understated.")
    return "\n".join(lines)


def connections_vendor() -> str:
    from django.db import connection

    return connection.vendor


def _terminate(signum, frame):  # noqa: ARG001
    raise KeyboardInterrupt  # unwinds through the finally blocks: gunicorn stopped, folder removed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=12, help="seconds of each wrk run (default 12)")
    parser.add_argument("--budget", type=float, default=3.0, help="seconds per in-process timing (default 3)")
    parser.add_argument("--profile", action="store_true", help="also write pyinstrument profiles to --out")
    parser.add_argument("--show-queries", action="store_true", help="print the SQL of each request")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out", help="where profiles go")
    parser.add_argument(
        "--settings", default="studentperf.settings",
        help="the Django settings module, to compare a variant (importable, e.g. through PYTHONPATH)",
    )
    parser.add_argument(
        "--postgres", action="store_true", help="on a throw-away PostgreSQL server instead of SQLite"
    )
    bench_options(parser)
    args = parser.parse_args(argv)
    tools_require(parser, args, make_target="bench-api")

    # Ctrl-C and SIGTERM both unwind through the cleanup (SIGINT too when the shell started us ignoring it).
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    workdir = Path(tempfile.mkdtemp(prefix="studentperf-bench-"))
    started = time.monotonic()
    postgres_stop = database_pid = redis = None
    try:
        env = {**os.environ, **bench_environment(workdir, settings_module=args.settings)}
        if args.postgres:
            env["DATABASE_URL"], postgres_stop, database_pid = postgres_start(workdir)
        if not args.no_redis:  # as deployed: the rate limits counted in Redis (the cache follows REDIS_URL)
            env["REDIS_URL"], redis = redis_start(workdir)
        os.environ.update(env)  # before Django, numpy and scikit-learn are imported: one thread each
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        step(f"throw-away installation in {workdir} ({connections_vendor()})")
        key = install(workdir)
        records = bench_records()
        with CpuMeter(database=database_pid) as meter:
            local = in_process_figures(records, key, budget_s=args.budget)
        in_process_other = meter.cores["other"]
        queries = query_counts(records, key)
        if args.profile:
            args.out.mkdir(parents=True, exist_ok=True)
            for path in profile(records, key, args.out):
                step(f"wrote {path}")
        from django.db import connections

        connections.close_all()  # gunicorn's workers have the database to themselves from here
        http, model_loads = http_figures(
            env, workdir, key, records, duration_s=args.duration, database_pid=database_pid
        )
        print(report(local, http, queries, show_queries=args.show_queries, in_process_other=in_process_other))
        print(f"Model packages loaded by the {WORKERS} workers in all: {model_loads}")
        print(f"\n{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, database {connections_vendor()}, "
              f"cache {'redis' if redis else 'database'}, {time.monotonic() - started:.0f} s in all")
        if args.json:
            args.json.write_text(json.dumps({
                "date": time.strftime("%Y-%m-%d"),
                "cores": os.cpu_count(),
                "database": connections_vendor(),
                "cache": "redis" if redis else "database",
                "other_cores_in_process": in_process_other,
                "in_process": [{"layer": label, "records": size, **figure} for (label, size), figure in local.items()],
                "http": [{"records": size, "connections": connections, **figure}
                         for (size, connections), figure in http.items()],
                "queries": {str(size): sql for size, sql in queries.items()},
                "model_loads": model_loads,
            }, indent=2))
        return 0
    except KeyboardInterrupt:
        step("interrupted")
        return 130
    finally:
        process_stop(redis)
        if postgres_stop is not None:
            from django.db import connections

            with contextlib.suppress(Exception):  # Django may not have been set up yet
                connections.close_all()
            postgres_stop()
        if args.keep:
            step(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
