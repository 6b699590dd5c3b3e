"""Serving processes run INFERENCE_THREADS compute threads each (default 1), whatever OMP_NUM_THREADS & co. say;
other processes keep the libraries' defaults. Checked in fresh processes: the libraries read it at load."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from studentperf.threads import inference_threads, worker_command

from .test_settings import GOOD_KEY, GOOD_SECRET

ROOT = Path(__file__).resolve().parents[2]
# What the loaded libraries use, once scikit-learn's OpenMP runtime and numpy's BLAS are loaded.
REPORT = """
import json, os, sys
{imports}
import sklearn.ensemble
from threadpoolctl import threadpool_info
pools = sorted({{(pool["user_api"], pool["num_threads"]) for pool in threadpool_info()}})
print(json.dumps({{"env": os.environ.get("OMP_NUM_THREADS"), "pools": pools}}))
"""


def thread_report(imports: str, **env: str) -> dict:
    environment = {
        "PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "studentperf.settings",
        "DJANGO_SECRET_KEY": GOOD_SECRET, "MODEL_ENCRYPTION_KEY": GOOD_KEY, "LOG_STREAM": "stderr",
        "OMP_NUM_THREADS": "8", "OPENBLAS_NUM_THREADS": "8", "MKL_NUM_THREADS": "8", **env,
    }
    done = subprocess.run([sys.executable, "-c", REPORT.format(imports=imports)], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_web_process_runs_one_compute_thread_whatever_the_machine_says():
    report = thread_report("import studentperf.wsgi")
    assert report["env"] == "1"
    assert {api for api, _ in report["pools"]} >= {"openmp", "blas"}
    assert all(threads == 1 for _, threads in report["pools"]), report["pools"]


def test_inference_threads_is_the_one_knob():
    report = thread_report("import studentperf.wsgi", INFERENCE_THREADS="2")
    assert report["env"] == "2"
    assert all(threads == 2 for _, threads in report["pools"]), report["pools"]


def test_other_processes_keep_their_settings():
    # Every Django process imports studentperf.celery (studentperf/__init__.py): only a worker is changed.
    report = thread_report("import django; django.setup()")
    assert report["env"] == "8"
    assert ("openmp", 8) in [tuple(pool) for pool in report["pools"]]


@pytest.mark.parametrize("argv, expected", [
    (["/srv/.venv/bin/celery", "-A", "studentperf", "worker", "--concurrency", "2"], True),
    ([f"/srv/lib/python3.11/site-packages/celery{os.sep}__main__.py", "-A", "studentperf", "worker"], True),
    (["/srv/.venv/bin/celery", "-A", "studentperf", "beat"], False),
    (["manage.py", "runserver"], False),
    (["/srv/.venv/bin/pytest", "tests/worker"], False),
    ([], False),
])
def test_a_worker_is_told_by_its_command_line(argv, expected):
    assert worker_command(argv) is expected


@pytest.mark.parametrize("value, expected", [("", 1), ("1", 1), (" 3 ", 3)])
def test_inference_threads_reads_a_whole_number(monkeypatch, value, expected):
    monkeypatch.setenv("INFERENCE_THREADS", value)
    assert inference_threads() == expected


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_inference_threads_refuses_anything_else_by_name(monkeypatch, value):
    monkeypatch.setenv("INFERENCE_THREADS", value)
    with pytest.raises(ValueError, match="INFERENCE_THREADS must be a whole number"):
        inference_threads()
