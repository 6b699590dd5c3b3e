"""Tasks for the integration tests only: the test worker imports this module (`--include`)."""
from __future__ import annotations

import time
from pathlib import Path

from studentperf.celery import app


@app.task(name="tests.integration.record_run")
def record_run(path: str, seconds: float = 0.0) -> int:
    """Append "start" to the file at `path`, sleep, append "done": each run is visible from outside the worker.
    Returns how many times it has started."""
    log = Path(path)
    with log.open("a") as file:
        file.write("start\n")
    time.sleep(seconds)
    with log.open("a") as file:
        file.write("done\n")
    return log.read_text().count("start")


@app.task(name="tests.integration.thread_settings")
def thread_settings() -> dict:
    """The thread settings this pool process runs with: the variables and what the loaded libraries use."""
    import os

    import sklearn.ensemble  # noqa: F401  (loads scikit-learn's OpenMP runtime, as a batch prediction does)
    from threadpoolctl import threadpool_info

    from studentperf.threads import THREAD_VARIABLES

    return {
        "env": {name: os.environ.get(name) for name in THREAD_VARIABLES},
        "pools": sorted({(pool["user_api"], pool["num_threads"]) for pool in threadpool_info()}),
    }
