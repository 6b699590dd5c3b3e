"""gunicorn settings: `gunicorn -c deploy/gunicorn.conf.py studentperf.wsgi` (docs/deployment.md).

Defaults for one machine behind a reverse proxy; the environment overrides them. For /metrics to count every
worker, start gunicorn with PROMETHEUS_MULTIPROC_DIR set to an empty directory (docs/monitoring.md).
"""
import os

bind = os.environ.get("GUNICORN_BIND", "") or "127.0.0.1:8000"
# X-Forwarded-Proto and X-Forwarded-For are believed only from these addresses or networks (`*`: from anyone, for
# a process only the proxy can reach). gunicorn reads FORWARDED_ALLOW_IPS itself; Django reads the same variable
# (studentperf/proxy.py). Default: a proxy on this machine.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "") or "127.0.0.1,::1"
# Sync workers: 2-4 per core (docs/performance.md). WEB_CONCURRENCY is gunicorn's own variable for this.
workers = int(os.environ.get("WEB_CONCURRENCY", "") or 4)
# A 1,000-record prediction takes about a second and a 20 MB CSV upload is checked in the request: well under.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "") or 60)
graceful_timeout = 30
# The application logs each request as one JSON line with its request id (docs/monitoring.md): gunicorn's own
# access log would only repeat it in another format. Its error log (start, stop, worker timeouts) goes to stderr.
accesslog = None
errorlog = "-"


def on_starting(server):
    """Make the metrics directory (and refuse to start when it is not writable); warn when several workers
    would each count alone."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if directory:
        os.makedirs(directory, exist_ok=True)
        # Each worker creates its files there at its first count, in a request: a folder it cannot write would
        # answer every request with a 500 while the process looks alive. Stop here, saying why, instead.
        if not os.access(directory, os.W_OK | os.X_OK):
            raise RuntimeError(
                f"PROMETHEUS_MULTIPROC_DIR {directory} is not writable by uid {os.getuid()}: the workers could not "
                "record their metrics (docs/monitoring.md)."
            )
    elif server.cfg.workers > 1:
        server.log.warning(
            "PROMETHEUS_MULTIPROC_DIR is not set: with %d workers, each scrape of /metrics shows the counts of "
            "whichever worker answers it (docs/monitoring.md).", server.cfg.workers,
        )


def post_worker_init(worker):
    """Load the active model as the worker starts, not on its first request: the first readiness probe or
    prediction of each worker would otherwise wait seconds for it. A worker without a servable model (none
    active yet, the database not there) still starts; its readiness answers 503 and names why."""
    from studentperf.readiness import readiness_check
    from studentperf.errors import ApplicationError

    try:
        readiness = readiness_check()
    except ApplicationError as exc:
        worker.log.warning("No model loaded at start: %s", exc.message)
    else:
        worker.log.info("Model version %s loaded at start (%s).", readiness["model_version"], readiness["engines"])


def child_exit(server, worker):
    """A worker exited (in the master): drop its live gauges' files; its counters stay in the totals."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
