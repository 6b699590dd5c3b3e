"""Compute threads per serving process: INFERENCE_THREADS (default 1) for OpenMP, BLAS and onnxruntime.

Parallelism in studentperf comes from processes (gunicorn workers, Celery pool processes). The numeric
libraries underneath would otherwise each start one thread per core in every process: scikit-learn's
HistGradientBoosting predictor (OpenMP) and numpy's BLAS. On 2 cores with 2 gunicorn workers that is 4
threads spinning for one row each, and a one-record prediction collapses from ~100 to a few requests/s
(issue 7 measured it on a seed-style app). OpenMP and BLAS read their thread counts once, when the library
is loaded, so the serving entry points call threads_configure() before anything imports numpy:
studentperf/wsgi.py and asgi.py (web workers) and studentperf/celery.py when the process is a Celery worker
(its pool processes inherit it). It overrides OMP_NUM_THREADS & co.: INFERENCE_THREADS is the one knob.
Commands such as train_model keep the libraries' defaults (all cores): training is not served.
"""
from __future__ import annotations

import os

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
DEFAULT_THREADS = 1


def inference_threads() -> int:
    """INFERENCE_THREADS from the environment: a whole number of at least 1 (default 1)."""
    raw = os.environ.get("INFERENCE_THREADS", "").strip()
    if not raw:
        return DEFAULT_THREADS
    try:
        threads = int(raw)
    except ValueError:
        threads = 0
    if threads < 1:
        raise ValueError(f"INFERENCE_THREADS must be a whole number of at least 1, not {raw!r}.")
    return threads


def threads_configure() -> int:
    """Set the OpenMP/BLAS thread variables of this process (and its children) to INFERENCE_THREADS.

    Call it before numpy is imported; it returns the number set. Already loaded libraries are not
    changed (the variables are read at load), which is why the entry points call it first.
    """
    threads = inference_threads()
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    return threads


def worker_command(argv: list[str]) -> bool:
    """True for the command line of a Celery worker (`celery -A studentperf worker ...`, also `python -m celery`)."""
    if not argv:
        return False
    program = argv[0]
    is_celery = os.path.basename(program) == "celery" or program.endswith(os.path.join("celery", "__main__.py"))
    return is_celery and "worker" in argv[1:]
