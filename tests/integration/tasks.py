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
