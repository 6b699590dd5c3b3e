"""Peer benchmark (issue 7): studentperf's `POST /api/v1/predict` against a seed-style Flask + joblib app.

Run it with `make bench-peers` or `.venv/bin/python bench/peers.py [--duration S] [--json PATH]`. See
bench/README.md. In one run, on loopback, in a throw-away folder (removed on exit, also after an error,
Ctrl-C or SIGTERM):

1. the installation of bench/api.py: its own database, model store and secrets, the default recipe trained
   and activated, an API key with scope predict;
2. the active version's package read back through modelstore.storage (decrypted, checked, built) and its
   pipelines (one per setup) dumped with joblib for the seed app, so both apps serve the same model;
3. in-process raw baselines, one thread: `pipeline.predict` on one row, 1,000 and 100,000 rows (scikit-learn),
   and the same pipelines' ONNX graphs (modelstore.ml.onnx) in onnxruntime;
4. studentperf, then the seed app (bench/seed_app.py), each alone under gunicorn with 2 sync workers and one
   OpenMP/BLAS thread per worker, loaded by wrk: one record per request at 1 and 16 connections, and for
   studentperf 1,000 records per request (the seed app has no batch endpoint); then the seed app again with
   the libraries' default threads, briefly (the issue measured it collapsing); on studentperf's server, after
   its runs, rounds with and without a challenger in turn (issue 19): one record per request at 1 and 16
   connections, the active version's package registered once more as the challenger before each "with" run
   and retired before each "without" run, so both sides see the same server, workers and database, each side
   first in every other round;
5. the memory (VmRSS, /proc/<pid>/status) of each worker after its load, warm-up and runs included; one table
   with the ratios against issue 7's goals and the memory against issue 19's (at most 250 MiB per worker).

The records are rows of data/student-mat.csv, in turn with G1 and G2 (setup A), G1 only (B) and neither (C);
both apps pick the setup's pipeline from G1/G2, and wrk cycles through the same 1,000 bodies for both.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from api import (
    BATCH_SIZE, PREDICT_PATH, THREAD_VARIABLES, _terminate, bench_environment, bench_records, install, timed,
)
from batch import bench_csv
from harness import (
    HOST, CpuMeter, bench_options, drain, free_port, gunicorn_start, gunicorn_stop, post_json, process_stop,
    redis_start, step, tools_require, wait_live, worker_memory, wrk_cycle,
)

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
WORKERS = 2
RAW_ROWS = 100_000
SEED_PATH = "/predict"
OTHER_LOAD_WARN = 0.2  # cores used by other processes during a measurement that make it suspect
# Issue 7's goals: studentperf's req/s at least 2x the seed app's (16 connections); its p50 at one connection
# below the raw one-row predict. Its third (rows/s in 1,000-record requests at least half the raw vectorized
# predict's) was withdrawn by issue 19: the per-record explanations and audit rows cost that time, and are worth
# it. The ratio stays in the table as information.
GOAL_VS_SEED, GOAL_P50_VS_RAW = 2.0, 1.0
# Issue 19's: each studentperf worker at most this resident (VmRSS), MiB, after its load.
GOAL_WORKER_MIB = 250
# Issue 19: with a challenger set, its p50 may grow by at most 10 %. The served request does nothing for the
# challenger (a periodic sweep on a Celery worker scores the audit rows in shadow), so the ratio should be ~1.
# Measured in CHALLENGER_ROUNDS rounds, each a run without and a run with a challenger on the same server, in
# turn first and second: two servers one after the other differed by up to 20 % with the same code (the second
# one's database holds the first one's audit rows, and the machine's load moves), more than the goal allows.
GOAL_CHALLENGER_P50 = 1.10
CHALLENGER_ROUNDS = 4


# --- the model, served twice ---------------------------------------------------------------------------


def export_pipelines(workdir: Path) -> tuple[dict, Path]:
    """The active version's pipelines, loaded from its stored package as a worker loads them, and the joblib
    file the seed app loads them from."""
    import joblib

    from modelstore.selectors import model_version_active_find
    from modelstore.storage import artifact_load, package_loads

    version = model_version_active_find()
    pipelines, _ = package_loads(artifact_load(file_name=version.artifact_file, sha256=version.artifact_sha256))
    path = workdir / "seed-pipelines.joblib"
    joblib.dump(pipelines, path)
    return pipelines, path


def expected_grades(pipelines: dict, records: list[dict]) -> list[float]:
    import pandas as pd

    from modelstore.schema import setup_for

    return [float(pipelines[setup_for(record)].predict(pd.DataFrame([record]))[0]) for record in records]


# --- in-process baselines ------------------------------------------------------------------------------


def raw_baselines(pipelines: dict, records: list[dict], *, budget_s: float) -> dict:
    """Median and p99 of one-row predicts (cycling through `records`) and of 1,000- and 100,000-row predicts
    (a third per setup, one call per setup), in scikit-learn and in onnxruntime (one thread), in this process."""
    import pandas as pd
    from django.conf import settings

    from modelstore.ml.onnx import onnx_predict, onnx_session, pipeline_to_onnx
    from modelstore.schema import setup_for

    step("converting the pipelines to ONNX (modelstore.ml.onnx)")
    sessions = {
        setup: onnx_session(pipeline_to_onnx(pipeline, coverage=settings.PREDICTION_INTERVAL_COVERAGE), threads=1)
        for setup, pipeline in pipelines.items()
    }
    one_rows = [(setup_for(record), pd.DataFrame([record])) for record in records[:99]]  # 33 of each setup
    _, frames = bench_csv(RAW_ROWS)

    def cycling(call) -> Callable[[], object]:
        calls = itertools.cycle([lambda setup=setup, frame=frame: call(setup, frame) for setup, frame in one_rows])
        return lambda: next(calls)()

    def all_setups(call, rows: int) -> Callable[[], object]:
        # `rows` in all, a third per setup (the first setups one more where it does not divide).
        sizes = [rows // len(frames) + (index < rows % len(frames)) for index in range(len(frames))]
        per_setup = {setup: frame.iloc[:size] for (setup, frame), size in zip(frames.items(), sizes)}
        return lambda: [call(setup, frame) for setup, frame in per_setup.items()]

    def sklearn(setup, frame):
        return pipelines[setup].predict(frame)

    def onnxruntime(setup, frame):
        return onnx_predict(sessions[setup], frame)

    figures = {}
    for engine, call in (("scikit-learn", sklearn), ("onnxruntime", onnxruntime)):
        step(f"in-process {engine}: one row, {BATCH_SIZE:,} rows, then {RAW_ROWS:,} rows")
        figures[(engine, 1)] = timed(cycling(call), budget_s=budget_s, at_most=600)
        figures[(engine, BATCH_SIZE)] = timed(all_setups(call, BATCH_SIZE), budget_s=budget_s, at_most=100)
        figures[(engine, RAW_ROWS)] = timed(all_setups(call, RAW_ROWS), budget_s=0, at_most=2, at_least=2)
    return figures


# --- over HTTP -----------------------------------------------------------------------------------------


def serve(
    name: str, app: str, *, directory: Path, env: dict, workdir: Path, live_path: str, url_path: str,
    check, runs: list[tuple[Path, int, int]], warmup: list[tuple[Path, int, int]], key: str,
    paired: list[tuple[Path, int, int, str, Callable[[], None]]] = (),
) -> dict:
    """One app alone under gunicorn (WORKERS sync workers): checked, warmed up, then each run of `runs`
    ((bodies file, connections, seconds)) under wrk, then each of `paired` ((bodies file, connections, seconds,
    tag, what to do before it), e.g. the rounds with and without a challenger, in turn on the same server and
    database); the figures by (bodies file, connections), the paired ones by (tag, connections) in a list, and
    the workers' memory after the load."""
    port = free_port()
    base_url = f"http://{HOST}:{port}"
    step(f"{name}: gunicorn, {WORKERS} workers, on {base_url}")
    with open(workdir / f"{name}.log", "wb") as log:
        process = gunicorn_start(app, directory=directory, env=env, port=port, workers=WORKERS, log=log)
    try:
        wait_live(process, base_url, path=live_path)
        check(base_url + url_path)
        for bodies, connections, seconds in warmup:
            drain(wrk_cycle(base_url + url_path, key, bodies, connections=connections, duration_s=seconds),
                  connections=connections, workers=WORKERS)
        figures = {}
        for bodies, connections, seconds in runs:
            step(f"{name}: wrk, {bodies.stem}, {connections} connection(s), {seconds} s")
            with CpuMeter(server=process.pid) as meter:
                figure = wrk_cycle(base_url + url_path, key, bodies, connections=connections, duration_s=seconds)
            figures[(bodies.stem, connections)] = {**figure, "cores": meter.cores}
            drain(figure, connections=connections, workers=WORKERS)
        rounds: dict[tuple[str, int], list[dict]] = {}
        for bodies, connections, seconds, tag, before in paired:
            before()
            step(f"{name}: wrk, {bodies.stem}, {connections} connection(s), {seconds} s, {tag}")
            with CpuMeter(server=process.pid) as meter:
                figure = wrk_cycle(base_url + url_path, key, bodies, connections=connections, duration_s=seconds)
            rounds.setdefault((tag, connections), []).append({**figure, "cores": meter.cores})
            drain(figure, connections=connections, workers=WORKERS)
        memory = worker_memory(process.pid)
    finally:
        gunicorn_stop(process)
    return {"runs": figures, "paired": rounds, "workers": memory}


def grade_check(expected: list[float], bodies: list[str], *, tolerance: float, headers: dict | None = None):
    """A check that `url` answers each body with the grade the bench's own pipelines give (same model)."""
    def check(url: str) -> None:
        for body, grade in zip(bodies, expected):
            answer = post_json(url, body.encode(), headers=headers)
            if abs(answer["predicted_grade"] - grade) > tolerance:
                raise RuntimeError(f"{url} answered {answer['predicted_grade']} where the pipeline gives {grade}")
    return check


# --- the report ----------------------------------------------------------------------------------------


def _rate(figure: dict) -> float:
    return figure["requests"] / (figure["duration_us"] / 1e6)


def _paired(figures: list[dict]) -> dict:
    """A tag's rounds as one figure: the median of their p50s and p99s, their mean rate and server cores."""
    return {
        "p50_us": statistics.median(figure["p50_us"] for figure in figures),
        "p99_us": statistics.median(figure["p99_us"] for figure in figures),
        "rate": statistics.fmean(_rate(figure) for figure in figures),
        "cores": statistics.fmean(figure["cores"]["server"] for figure in figures),
    }


def challenger_toggles() -> tuple[Callable[[], None], Callable[[], None]]:
    """Register the active version's package once more, as another version; (make it the challenger, retire it),
    each closing this process's database connection after it, so the workers have the database to themselves."""
    from django.db import connections

    from modelstore.selectors import model_version_active_get
    from modelstore.services import (
        model_version_challenger_retire, model_version_challenger_set, model_version_import,
    )
    from modelstore.storage import version_artifact_read

    active = model_version_active_get()
    version = model_version_import(data=version_artifact_read(active).package, name="bench-challenger")
    connections.close_all()

    def challenger_set() -> None:
        model_version_challenger_set(version=version, user=None)
        connections.close_all()

    def challenger_retire() -> None:
        model_version_challenger_retire(user=None)
        connections.close_all()

    return challenger_set, challenger_retire


def report(raw: dict, served: dict, *, in_process_other: float) -> tuple[str, dict]:
    """The table, and the ratios against the goals (and the largest studentperf worker's VmRSS)."""
    header = f"{'':58} {'req/s':>8} {'rows/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'cores':>5}  MiB/worker"

    def rule(title: str) -> str:
        return f"-- {title} ".ljust(len(header), "-")

    lines = [header, rule("in-process, one thread: the raw baselines")]
    for (engine, rows), figure in raw.items():
        rate = 1000 / figure["median_ms"]
        what = "pipeline.predict" if engine == "scikit-learn" else "modelstore.ml.onnx graph"
        lines.append(f"{f'{engine} {what}, {rows:,} row(s)':58} {rate:8.2f} {rate * rows:9.0f} "
                     f"{figure['median_ms']:8.2f} {figure['p99_ms']:8.2f}")
    titles = {
        "studentperf": "studentperf POST /api/v1/predict",
        "seed": "seed Flask+joblib POST /predict",
        "seed-default-threads": "seed, libraries' default threads",
    }
    sections = (("single", 1, "1 record per request"), ("batch", BATCH_SIZE, "1,000 records per request"))
    for stem, size, title in sections:
        lines.append(rule(f"HTTP, gunicorn x{WORKERS} sync workers, wrk, {title}"))
        for name, result in served.items():
            memory = "/".join(f"{worker['rss_mib']:.0f}" for worker in result["workers"])
            for (bodies, connections), figure in result["runs"].items():
                if bodies != stem:
                    continue
                rate = _rate(figure)
                lines.append(
                    f"{f'{titles[name]}, {connections} connection(s)':58} {rate:8.2f} {rate * size:9.0f} "
                    f"{figure['p50_us'] / 1000:8.2f} {figure['p99_us'] / 1000:8.2f} "
                    f"{figure['cores']['server']:5.2f}  {memory}"
                )
            for (tag, connections), figures in result.get("paired", {}).items() if stem == "single" else ():
                figure = _paired(figures)
                lines.append(
                    f"{f'{titles[name]}, {tag} a challenger, {connections} conn.':58} {figure['rate']:8.2f} "
                    f"{figure['rate']:9.0f} {figure['p50_us'] / 1000:8.2f} {figure['p99_us'] / 1000:8.2f} "
                    f"{figure['cores']:5.2f}  {memory}"
                )
        if stem == "batch":
            lines.append("seed Flask+joblib: no batch endpoint")

    studentperf, seed = served["studentperf"]["runs"], served["seed"]["runs"]
    sklearn_one, sklearn_many = raw[("scikit-learn", 1)], raw[("scikit-learn", RAW_ROWS)]
    raw_rows_s = RAW_ROWS * 1000 / sklearn_many["median_ms"]
    raw_batch_rows_s = BATCH_SIZE * 1000 / raw[("scikit-learn", BATCH_SIZE)]["median_ms"]
    batch_rows_s = _rate(studentperf[("batch", 1)]) * BATCH_SIZE
    ratios = {
        "req_s_vs_seed_16": _rate(studentperf[("single", 16)]) / _rate(seed[("single", 16)]),
        "p50_1_vs_raw_one_row": studentperf[("single", 1)]["p50_us"] / 1000 / sklearn_one["median_ms"],
        "rows_s_1000_vs_raw_vectorized": batch_rows_s / raw_rows_s,
        "rows_s_1000_vs_raw_1000_rows": batch_rows_s / raw_batch_rows_s,
    }
    if "seed-default-threads" in served:
        ratios["req_s_vs_seed_default_threads_16"] = (
            _rate(studentperf[("single", 16)]) / _rate(served["seed-default-threads"]["runs"][("single", 16)])
        )
    worker_mib = max(worker["rss_mib"] for worker in served["studentperf"]["workers"])
    ratios["worker_rss_mib"] = worker_mib
    lines += ["", f"{'issue 7 goals':74} {'measured':>9} {'goal':>8}"]
    for label, value, goal, met in (
        ("studentperf req/s / seed req/s, 16 connections", ratios["req_s_vs_seed_16"],
         f">= {GOAL_VS_SEED:g}x", ratios["req_s_vs_seed_16"] >= GOAL_VS_SEED),
        ("studentperf p50 at 1 connection / raw one-row scikit-learn predict", ratios["p50_1_vs_raw_one_row"],
         f"< {GOAL_P50_VS_RAW:g}x", ratios["p50_1_vs_raw_one_row"] < GOAL_P50_VS_RAW),
    ):
        lines.append(f"{label:74} {value:8.2f}x {goal:>8}  {'met' if met else 'NOT MET'}")
    lines.append(f"{'(studentperf rows/s, 1,000 records x 1 connection / raw 100,000-row predict)':74} "
                 f"{ratios['rows_s_1000_vs_raw_vectorized']:8.2f}x")
    lines.append(f"{'(the same rows/s / raw predict of 1,000 rows, one call per setup)':74} "
                 f"{ratios['rows_s_1000_vs_raw_1000_rows']:8.2f}x")
    lines += ["", f"{'issue 19 goal':74} {'measured':>9} {'goal':>8}"]
    lines.append(f"{'studentperf VmRSS per worker after the load (the larger of the two), MiB':74} "
                 f"{worker_mib:9.0f} {f'<= {GOAL_WORKER_MIB}':>8}  "
                 f"{'met' if worker_mib <= GOAL_WORKER_MIB else 'NOT MET'}")
    paired = served["studentperf"].get("paired", {})
    if paired:
        with_one, without_one = _paired(paired[("with", 1)]), _paired(paired[("without", 1)])
        ratios["p50_1_challenger_vs_none"] = with_one["p50_us"] / without_one["p50_us"]
        ratios["p50_1_challenger_vs_none_rounds"] = [
            round(shadowed["p50_us"] / plain["p50_us"], 3)
            for shadowed, plain in zip(paired[("with", 1)], paired[("without", 1)])
        ]
        ratios["req_s_16_challenger_vs_none"] = _paired(paired[("with", 16)])["rate"] / _paired(
            paired[("without", 16)])["rate"]
        lines.append(f"{'studentperf p50 at 1 connection, with a challenger / without':74} "
                     f"{ratios['p50_1_challenger_vs_none']:8.2f}x {f'<= {GOAL_CHALLENGER_P50:g}x':>8}  "
                     f"{'met' if ratios['p50_1_challenger_vs_none'] <= GOAL_CHALLENGER_P50 else 'NOT MET'}")
        rounds = ", ".join(f"{ratio:.2f}" for ratio in ratios["p50_1_challenger_vs_none_rounds"])
        lines.append(f"(its rounds, with / without: {rounds})")
        lines.append(f"{'(the same for req/s at 16 connections)':74} {ratios['req_s_16_challenger_vs_none']:8.2f}x")
    if "req_s_vs_seed_default_threads_16" in ratios:
        lines.append(f"{'(studentperf req/s / seed with default threads, 16 connections)':74} "
                     f"{ratios['req_s_vs_seed_default_threads_16']:8.2f}x")
    for name, result in served.items():
        threads = "/".join(str(worker["threads"]) for worker in result["workers"])
        lines.append(f"threads per worker after the load, {name}: {threads}")
    lines += [
        "",
        "The seed app does less per request: no API-key check, validation, interval, pass probability, top",
        "factors or audit row; it returns only the grade. It has no batch endpoint: the 1,000-record rows are",
        "studentperf's alone. Both apps serve the same pipelines (one package, checked answer by answer), and",
        "pick the pipeline of a record's setup from G1/G2; wrk sends both the same bodies (setups A, B, C in",
        "turn). The raw one-row figure cycles through such records; the 1,000- and 100,000-row ones are a",
        "third per setup, one predict call per setup. The onnxruntime rows compute the grade, the interval and",
        "the pass probability in one call.",
    ]
    busy = [(f"{name}, {bodies} x {connections}", figure["cores"]["other"])
            for name, result in served.items() for (bodies, connections), figure in result["runs"].items()
            if figure["cores"]["other"] > OTHER_LOAD_WARN]
    busy += [(f"{name}, {tag} a challenger x {connections}", figure["cores"]["other"])
             for name, result in served.items() for (tag, connections), figures in result.get("paired", {}).items()
             for figure in figures if figure["cores"]["other"] > OTHER_LOAD_WARN]
    if in_process_other > OTHER_LOAD_WARN:
        busy.append(("the in-process baselines", in_process_other))
    for span, cores in busy:
        lines.append(f"WARNING: other processes used {cores:.2f} cores during {span}: figures understated.")
    return "\n".join(lines), ratios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of each wrk run (default 10)")
    parser.add_argument("--default-threads-duration", type=int, default=6,
                        help="seconds of the seed app's run with default threads (default 6; 0 skips it)")
    parser.add_argument("--budget", type=float, default=3.0, help="seconds per one-row in-process timing")
    parser.add_argument("--no-challenger", action="store_true",
                        help="skip the run with a challenger scoring in shadow (issue 19)")
    bench_options(parser)
    args = parser.parse_args(argv)
    tools_require(parser, args, make_target="bench-peers")

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    workdir = Path(tempfile.mkdtemp(prefix="studentperf-bench-peers-"))
    started = time.monotonic()
    thread_settings = (*THREAD_VARIABLES, "INFERENCE_THREADS")
    outside = {name: value for name, value in os.environ.items() if name not in thread_settings}
    redis = None
    try:
        env = {**os.environ, **bench_environment(workdir)}
        if not args.no_redis:  # as deployed: the rate limits counted in Redis (the cache follows REDIS_URL)
            env["REDIS_URL"], redis = redis_start(workdir)
        os.environ.update(env)  # before numpy and scikit-learn are imported: one thread each, like a worker
        os.environ["LOG_LEVEL"] = "WARNING"  # this process's log lines stay out of the table (the servers' go to files)
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        step(f"throw-away installation in {workdir}")
        key = install(workdir)
        pipelines, pipeline_file = export_pipelines(workdir)
        records = bench_records()
        with CpuMeter() as meter:
            raw = raw_baselines(pipelines, records, budget_s=args.budget)
        from django.db import connections

        connections.close_all()  # gunicorn's workers have the database to themselves from here

        single, batch = workdir / "single.jsonl", workdir / "batch.jsonl"
        single_bodies = [json.dumps(record) for record in records]
        single.write_text("\n".join(single_bodies) + "\n")
        batch.write_text(json.dumps({"instances": records}) + "\n")
        checked = single_bodies[:6]  # two of each setup
        expected = expected_grades(pipelines, records[:6])
        seconds = args.duration
        paired = []
        if not args.no_challenger:
            # No Celery worker or beat runs: the request itself does nothing for the challenger, and that request
            # is what is measured (the shadow sweep's CPU is a worker's, docs/performance.md).
            challenger_set, challenger_retire = challenger_toggles()
            half = max(3, seconds // 2)
            sides = (("without", challenger_retire), ("with", challenger_set))
            for round_number in range(CHALLENGER_ROUNDS):
                # In turn first and second (without-with, with-without, ...): whatever grows during a run (the
                # audit table, the heap) then weighs on both sides alike.
                for connections_count in (1, 16):
                    for tag, before in sides[::-1] if round_number % 2 else sides:
                        paired.append((single, connections_count, half, tag, before))
        # The pipelines hold the project's own estimator classes (modelstore.ml.estimators), which unpickling
        # imports: the seed app needs them as any app serving these pipelines would.
        seed_env = {**outside, "SEED_PIPELINE": str(pipeline_file), "PYTHONPATH": str(ROOT)}
        served = {
            "studentperf": serve(
                "studentperf", "studentperf.wsgi", directory=ROOT, env=env, workdir=workdir,
                live_path="/health/live", url_path=PREDICT_PATH, key=key,
                # The API rounds grades to 2 decimals.
                check=grade_check(expected, checked, tolerance=0.006, headers={"Authorization": f"Api-Key {key}"}),
                warmup=[(single, 4, 3), (batch, 2, 3)],
                runs=[(single, 1, seconds), (single, 16, seconds), (batch, 1, seconds), (batch, 2, seconds)],
                paired=paired,
            ),
            "seed": serve(
                "seed", "seed_app:app", directory=BENCH_DIR, workdir=workdir, live_path="/health",
                env={**seed_env, **{name: "1" for name in THREAD_VARIABLES}}, url_path=SEED_PATH, key=key,
                check=grade_check(expected, checked, tolerance=1e-9),
                warmup=[(single, 4, 3)], runs=[(single, 1, seconds), (single, 16, seconds)],
            ),
        }
        if args.default_threads_duration > 0:
            served["seed-default-threads"] = serve(
                "seed-default-threads", "seed_app:app", directory=BENCH_DIR, env=seed_env, workdir=workdir,
                live_path="/health", url_path=SEED_PATH, key=key, check=grade_check(expected, checked, tolerance=1e-9),
                warmup=[(single, 2, 2)], runs=[(single, 16, args.default_threads_duration)],
            )
        table, ratios = report(raw, served, in_process_other=meter.cores["other"])
        print(table)
        print(f"\n{time.strftime('%Y-%m-%d %H:%M %Z')}, {os.cpu_count()} cores, studentperf's cache "
              f"{'redis' if redis else 'database'}, wrk {seconds} s per row "
              f"(default threads: {args.default_threads_duration} s), {time.monotonic() - started:.0f} s in all")
        if args.json:
            args.json.write_text(json.dumps({
                "date": time.strftime("%Y-%m-%d"),
                "cores": os.cpu_count(),
                "workers": WORKERS,
                "cache": "redis" if redis else "database",
                "in_process": [{"engine": engine, "rows": rows, **figure} for (engine, rows), figure in raw.items()],
                "http": {
                    name: {
                        "runs": [{"bodies": bodies, "connections": connections, **figure}
                                 for (bodies, connections), figure in result["runs"].items()],
                        "paired": [{"challenger": tag, "connections": connections, "rounds": figures}
                                   for (tag, connections), figures in result.get("paired", {}).items()],
                        "workers": result["workers"],
                    }
                    for name, result in served.items()
                },
                "other_cores_in_process": meter.cores["other"],
                "ratios": ratios,
                "goals": {"req_s_vs_seed_16": GOAL_VS_SEED, "p50_1_vs_raw_one_row": GOAL_P50_VS_RAW,
                          "worker_rss_mib": GOAL_WORKER_MIB, "p50_1_challenger_vs_none": GOAL_CHALLENGER_P50},
            }, indent=2))
        return 0
    except KeyboardInterrupt:
        step("interrupted")
        return 130
    finally:
        process_stop(redis)
        if args.keep:
            step(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
