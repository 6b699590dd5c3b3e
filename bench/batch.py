"""Benchmark of CSV batch predictions end to end: upload, a real Celery worker on Redis, results download.

Run it with `make bench-batch` or `.venv/bin/python bench/batch.py [--rows N] [--postgres]`. See
bench/README.md. Everything happens in a throw-away folder (its own SQLite database or PostgreSQL server,
model store, secrets, redis-server on a loopback port); nothing of the project's `.env` or database is
touched, and every process it starts is stopped on exit, also after an error or Ctrl-C.

In one run, on the same N rows (default 100,000, drawn with replacement from data/student-mat.csv, a third
each with G1 and G2, with G1 only, with neither), it measures:
- the baseline: the pipelines' raw vectorized `predict` (one call per setup on all its rows, in-process);
- `predict_records`: the same with intervals, pass probabilities and explanations (in-process), and again with
  the eight sensitive attributes unknown (filled with typical values before the model call);
- the batch end to end: POST /api/v1/batches to gunicorn (1 worker), the job run by one Celery worker
  (concurrency 1), polled until done, then GET .../results read to the end; and the worker's part alone
  (started_at to finished_at).
Figures are rows/s and ratios to the baseline measured in the same run; the machine is shared and noisy.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from api import THREAD_VARIABLES, _terminate, bench_environment, connections_vendor, install
from harness import (
    HOST, free_port, gunicorn_start, gunicorn_stop, postgres_start, process_stop, redis_start, step, wait_live,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ROWS = 100_000


def bench_csv(rows: int, *, seed: int = 0) -> tuple[bytes, dict]:
    """A UCI-schema CSV of `rows` rows sampled from the real data with an external_id each; and the rows per
    setup as DataFrames (for the in-process baselines)."""
    import numpy as np

    from modelstore.ml.data import load_dataset
    from modelstore.schema import SETUP_FEATURES

    df = load_dataset()
    sample = df.sample(n=rows, replace=True, random_state=seed).reset_index(drop=True)
    setups = np.array(["A", "B", "C"])[np.arange(rows) % 3]
    frames = {setup: sample.loc[setups == setup, list(SETUP_FEATURES[setup])] for setup in ("A", "B", "C")}
    table = sample.drop(columns=["G3"]).astype({"G1": "object", "G2": "object"})
    table.loc[setups == "C", "G1"] = ""
    table.loc[setups != "A", "G2"] = ""
    table.insert(0, "external_id", [f"S{i:07d}" for i in range(rows)])
    out = io.StringIO()
    table.to_csv(out, index=False)
    return out.getvalue().encode(), frames


def in_process(frames: dict) -> dict:
    """Seconds for the raw vectorized predict and for predict_records on the same rows, active model."""
    from django.conf import settings

    from modelstore.loader import loaded_model_get
    from modelstore.ml.inference import predict_records
    from modelstore.schema import MAY_BE_UNKNOWN

    loaded = loaded_model_get()
    pipelines = loaded.pipelines
    started = time.perf_counter()
    for setup, frame in frames.items():
        pipelines[setup].predict(frame)
    raw_s = time.perf_counter() - started
    records = []
    for setup, frame in frames.items():
        for record in frame.to_dict("records"):
            record.setdefault("G1", None)
            record.setdefault("G2", None)
            records.append(record)
    started = time.perf_counter()
    predict_records(loaded.predictors, records, coverage=settings.PREDICTION_INTERVAL_COVERAGE, top_k=settings.TOP_FACTORS)
    full_s = time.perf_counter() - started
    # The same rows with the sensitive attributes unknown: filled with typical values before the model call.
    unknown = [{**record, **dict.fromkeys(MAY_BE_UNKNOWN)} for record in records]
    started = time.perf_counter()
    predict_records(loaded.predictors, unknown, coverage=settings.PREDICTION_INTERVAL_COVERAGE, top_k=settings.TOP_FACTORS)
    unknown_s = time.perf_counter() - started
    return {"raw_predict_s": raw_s, "predict_records_s": full_s, "predict_records_unknown_s": unknown_s}


def worker_start(env: dict, log) -> subprocess.Popen:
    command = [sys.executable, "-m", "celery", "-A", "studentperf", "worker", "--pool", "solo",
               "--without-gossip", "--without-mingle", "--loglevel", "INFO"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _request(url: str, key: str, *, data: bytes | None = None, headers: dict | None = None):
    request = urllib.request.Request(
        url, data=data, method="POST" if data is not None else "GET",
        headers={"Authorization": f"Api-Key {key}", **(headers or {})},
    )
    return urllib.request.urlopen(request, timeout=600)


def multipart(field: str, file_name: str, content: bytes, *, fields: dict | None = None) -> tuple[bytes, str]:
    boundary = f"----studentperf-bench-{os.getpid()}"
    head = "".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                   for name, value in (fields or {}).items()).encode()
    head += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\n"
             "Content-Type: text/csv\r\n\r\n").encode()
    return head + content + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def end_to_end(base_url: str, key: str, content: bytes, *, rows: int, save_students: bool = False) -> dict:
    fields = {"save_students": "true"} if save_students else None
    body, content_type = multipart("file", "bench.csv", content, fields=fields)
    started = time.perf_counter()
    with _request(f"{base_url}/api/v1/batches", key, data=body, headers={"Content-Type": content_type}) as answer:
        created = json.loads(answer.read())
    accepted_s = time.perf_counter() - started
    while True:
        with _request(created["status_url"], key) as answer:
            job = json.loads(answer.read())
        if job["status"] in ("done", "failed"):
            break
        time.sleep(0.2)
    if job["status"] != "done":
        raise RuntimeError(f"the batch job failed: {job.get('error')}")
    with _request(created["results_url"], key) as answer:
        lines = sum(1 for _ in io.TextIOWrapper(answer, encoding="utf-8")) - 1
    total_s = time.perf_counter() - started
    if lines != rows or job["rows_done"] != rows:
        raise RuntimeError(f"expected {rows} result rows, got {lines} (rows_done {job['rows_done']})")
    from predictions.models import BatchJob

    record = BatchJob.objects.get(pk=created["id"])
    return {
        "upload_accepted_s": accepted_s,
        "worker_s": (record.finished_at - record.started_at).total_seconds(),
        "end_to_end_s": total_s,
        "rows_failed": job["rows_failed"],
    }


def report(rows: int, local: dict, batch: dict, classes: dict | None = None) -> str:
    raw_rate = rows / local["raw_predict_s"]
    lines = [
        f"CSV batch of {rows:,} rows, setups A/B/C a third each",
        f"{'measure':<52}{'seconds':>9}{'rows/s':>11}{'vs raw':>9}",
    ]

    def line(label: str, seconds: float) -> None:
        rate = rows / seconds
        lines.append(f"{label:<52}{seconds:>9.2f}{rate:>11,.0f}{rate / raw_rate:>9.2f}")

    line("raw pipeline.predict, vectorized (baseline)", local["raw_predict_s"])
    line("predict_records (intervals, pass prob., factors)", local["predict_records_s"])
    line("predict_records, the 8 sensitive attributes unknown", local["predict_records_unknown_s"])
    line("worker: started to finished (validate, predict, audit)", batch["worker_s"])
    line("end to end: upload to results downloaded", batch["end_to_end_s"])
    for label, figures in (classes or {}).items():
        line(f"worker, save_students: {label}", figures["worker_s"])
    lines.append(f"upload answered 202 after {batch['upload_accepted_s']:.2f} s; rejected rows: {batch['rows_failed']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help=f"rows in the CSV (default {DEFAULT_ROWS:,})")
    parser.add_argument("--postgres", action="store_true", help="on a throw-away PostgreSQL server")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--save-students", action="store_true",
                        help="then upload the file twice more as a class (save_students=true): the students "
                        "created, then the same students updated")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    workdir = Path(tempfile.mkdtemp(prefix="studentperf-bench-batch-"))
    processes: list[subprocess.Popen] = []
    gunicorn = postgres_stop = None
    try:
        env = {**os.environ, **bench_environment(workdir)}
        env["API_MAX_BODY_BYTES"] = str(200 * 1024 * 1024)
        env["BATCH_MAX_BYTES"] = str(200 * 1024 * 1024)
        if args.postgres:
            env["DATABASE_URL"], postgres_stop, _ = postgres_start(workdir)
        env["REDIS_URL"], redis = redis_start(workdir)
        processes.append(redis)
        os.environ.update(env)
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        step(f"throw-away installation in {workdir} ({connections_vendor()})")
        install(workdir)
        from predictions.access.api_keys import api_key_create

        # Upload, then follow and read; a class upload also writes students.
        scopes = ["predict", "read", "write"] if args.save_students else ["predict", "read"]
        _, key = api_key_create(name="bench-batch", scopes=scopes)
        step(f"building a {args.rows:,}-row CSV")
        content, frames = bench_csv(args.rows)
        step("in-process baselines")
        local = in_process(frames)
        from django.db import connections

        connections.close_all()
        log = (workdir / "processes.log").open("w")
        processes.append(worker_start(env, log))
        port = free_port()
        gunicorn = gunicorn_start("studentperf.wsgi", directory=ROOT, env=env, port=port, workers=1, log=log)
        base_url = f"http://{HOST}:{port}"
        wait_live(gunicorn, base_url)
        step("end to end through the API and the worker")
        batch = end_to_end(base_url, key, content, rows=args.rows)
        classes = {}
        if args.save_students:
            for label in ("students created", "the same students updated"):
                step(f"a class upload: {label}")
                classes[label] = end_to_end(base_url, key, content, rows=args.rows, save_students=True)
        print(report(args.rows, local, batch, classes))
        print(f"\n{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, database {connections_vendor()}, "
              f"threads per process: {', '.join(f'{name}=1' for name in THREAD_VARIABLES)}")
        if args.json:
            args.json.write_text(json.dumps({"rows": args.rows, **local, **batch, "classes": classes}, indent=2))
        return 0
    except KeyboardInterrupt:
        step("interrupted")
        return 130
    except Exception:
        log_file = workdir / "processes.log"
        if log_file.exists():  # what gunicorn and the worker said, to see why
            step("the last lines of the server and worker logs:\n" + "\n".join(log_file.read_text().splitlines()[-30:]))
        raise
    finally:
        if gunicorn is not None:
            gunicorn_stop(gunicorn)
        for process in reversed(processes):
            process_stop(process)
        if postgres_stop is not None:
            from django.db import connections

            connections.close_all()
            postgres_stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
