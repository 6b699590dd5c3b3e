"""Memory of a serving process (issue 19): the active version, then a second one beside it (as a challenger).

Run it with `make bench-memory` or `.venv/bin/python bench/memory.py [--json PATH] [--keep]`. See bench/README.md.
In one run, in a throw-away folder (removed on exit):

1. the installation of bench/api.py (database, model store, secrets) with two versions of the default recipe
   (trained with random states 0 and 1), the first active;
2. two fresh interpreters, one after the other, each set up as a gunicorn worker is (Django, the WSGI
   application, the URLconf), read their VmRSS (/proc/self/status) after these imports, after loading the
   active version through `modelstore.loader.loaded_model_get` and predicting 1 and 1,000 records with it, and
   after loading the second version (`loader._model_load`, as the challenger's loader does) and predicting
   with it too:
   - "lean": what the loader keeps, the ONNX sessions and the serving state their graphs carry, read without
     building the package (so without importing scikit-learn, scipy, pandas or skops; the child lists which of
     these it imported);
   - "pipelines kept": as a worker was before issue 19, each version's scikit-learn pipelines held beside its
     sessions (LoadedModel kept them in its predictors) and the graph converter (onnx, skl2onnx) imported at
     start;
3. one table: MiB at each step, the MiB each version adds, and lean / pipelines kept.

Each process is fresh, so neither inherits the other's heap; the figures are the resident set the kernel
reports, the number a container's memory limit counts.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from api import THREAD_VARIABLES, bench_environment, bench_records
from harness import process_status, step, vm_rss_mib

ROOT = Path(__file__).resolve().parent.parent
MODES = ("lean", "pipelines kept")
STEPS = (
    ("imported", "Django, the WSGI application and the URLconf imported"),
    ("loaded", "+ the active version loaded"),
    ("active", "+ 1 and 1,000 records predicted with it"),
    ("second", "+ a second version loaded beside it, predicted with"),
)
GOAL_MIB = 250
# What a serving process need not import (tests/studentperf/test_lean_imports.py): the child reports which it did.
HEAVY = frozenset({"sklearn", "scipy", "pandas", "skops", "fairlearn", "onnx", "skl2onnx", "matplotlib", "joblib"})


def versions_install() -> tuple[int, int]:
    """Migrate, register two versions of the default recipe and activate the first; their primary keys."""
    from django.core.management import call_command

    from modelstore.ml.data import DEFAULT_DATA_PATH, file_sha256, load_dataset
    from modelstore.ml.recipe import train_pipelines
    from modelstore.services import model_version_activate, model_version_register

    call_command("migrate", verbosity=0, interactive=False)
    dataset = load_dataset()
    keys = []
    for random_state in (0, 1):
        step(f"training and registering the default recipe, random state {random_state}")
        version = model_version_register(
            pipelines=train_pipelines(dataset, random_state=random_state),
            name=f"bench-memory-{random_state}",
            training_data_sha256=file_sha256(DEFAULT_DATA_PATH),
        )
        if version.status != version.Status.VALIDATED:
            raise RuntimeError(f"The bench model was rejected: {version.rejection_reason}")
        keys.append(version.pk)
    from modelstore.models import ModelVersion

    model_version_activate(version=ModelVersion.objects.get(pk=keys[0]), user=None)
    return keys[0], keys[1]


def child(mode: str, second_pk: int, records_path: Path) -> dict:
    """In a fresh interpreter: VmRSS after each step of STEPS, the engines each version is served by, and which
    of the libraries a web process does without (HEAVY) it imported."""
    if mode != "lean":  # as every process did before issue 19
        import modelstore.ml.onnx.convert  # noqa: F401
    import studentperf.wsgi  # noqa: F401 - as gunicorn loads it
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - the views and what they import, as a worker's first request does
    from django.conf import settings

    from modelstore import loader
    from modelstore.ml.inference import predict_records

    records = json.loads(records_path.read_text())  # not through pandas, which the lean process never imports
    figures = {"imported": vm_rss_mib(process_status())}
    kept = []

    def hold(loaded) -> None:
        if mode == "pipelines kept":
            kept.append(loaded.pipelines)

    def serve(loaded) -> None:
        for chunk in (records[:1], records):
            predict_records(
                loaded.predictors, chunk, coverage=settings.PREDICTION_INTERVAL_COVERAGE, top_k=settings.TOP_FACTORS
            )

    active = loader.loaded_model_get()
    hold(active)
    figures["loaded"] = vm_rss_mib(process_status())
    serve(active)
    figures["active"] = vm_rss_mib(process_status())
    second = loader._model_load(pk=second_pk)
    hold(second)
    serve(second)
    figures["second"] = vm_rss_mib(process_status())
    heavy = sorted({name.split(".")[0] for name in sys.modules} & HEAVY)
    return {"mib": figures, "engines": [active.engines, second.engines], "pipelines_held": len(kept), "heavy": heavy}


def report(results: dict) -> str:
    lean, kept = results["lean"]["mib"], results["pipelines kept"]["mib"]
    lines = [f"{'VmRSS of one serving process, MiB':62} {'lean':>8} {'kept':>8} {'lean/kept':>10}"]
    for name, label in STEPS:
        lines.append(f"{label:62} {lean[name]:8.0f} {kept[name]:8.0f} {lean[name] / kept[name]:9.2f}x")
    for name, before, label in (("active", "imported", "MiB the active version adds, predictions included"),
                                ("second", "active", "MiB the second version adds")):
        added_lean, added_kept = lean[name] - lean[before], kept[name] - kept[before]
        ratio = f"{added_lean / added_kept:9.2f}x" if added_kept > 0 else f"{'-':>10}"
        lines.append(f"{label:62} {added_lean:8.0f} {added_kept:8.0f} {ratio}")
    met = "met" if lean["second"] <= GOAL_MIB else "NOT MET"
    lines += [
        "",
        f"{'issue 19: active + second version in one process, lean':62} {lean['second']:8.0f} "
        f"{f'<= {GOAL_MIB}':>8}  {met}",
        f"engines: {results['lean']['engines']}",
        f"libraries imported, lean: {', '.join(results['lean']['heavy']) or 'none of ' + ', '.join(sorted(HEAVY))}; "
        f"pipelines kept: {', '.join(results['pipelines kept']['heavy'])}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="write the figures to this file as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the throw-away folder")
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--second", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--records", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.child:
        print(json.dumps(child(args.child, args.second, args.records)))
        return 0

    workdir = Path(tempfile.mkdtemp(prefix="studentperf-bench-memory-"))
    started = time.monotonic()
    try:
        env = {**os.environ, **bench_environment(workdir), "LOG_LEVEL": "WARNING"}
        env.update({name: "1" for name in (*THREAD_VARIABLES, "INFERENCE_THREADS")})
        os.environ.update(env)
        import django

        django.setup()
        step(f"throw-away installation in {workdir}")
        _, second = versions_install()
        records_path = workdir / "records.json"
        records_path.write_text(json.dumps(bench_records(), default=int))  # numpy ints from the CSV's frame
        results = {}
        for mode in MODES:
            step(f"a fresh process, {mode}")
            output = subprocess.run(
                [sys.executable, __file__, "--child", mode, "--second", str(second), "--records", str(records_path)],
                env=env, cwd=ROOT, check=True, capture_output=True, text=True,
            ).stdout
            results[mode] = json.loads(output.strip().splitlines()[-1])
        print(report(results))
        print(f"\n{time.strftime('%Y-%m-%d %H:%M %Z')}, {os.cpu_count()} cores, "
              f"{time.monotonic() - started:.0f} s in all")
        if args.json:
            args.json.write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), "goal_mib": GOAL_MIB, **results},
                                            indent=2))
        return 0
    finally:
        if args.keep:
            step(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
