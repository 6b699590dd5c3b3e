"""Where /metrics and error_summary() read the counters from: this process alone, or every process of the
host (multiprocess mode: PROMETHEUS_MULTIPROC_DIR set in the environment before prometheus_client is imported)."""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from django.conf import settings
from django.utils.module_loading import import_string
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector


class _ProcessCounters(Collector):
    """The default registry's families, passed through: a per-scrape registry that adds the apps' collectors,
    without registering them globally."""

    def collect(self) -> Iterator:
        return REGISTRY.collect()


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def counters_registry() -> CollectorRegistry:
    """The in-process counters: summed over the files of every process in multiprocess mode."""
    registry = CollectorRegistry()
    if multiprocess_dir():
        MultiProcessCollector(registry)  # registers itself
    else:
        registry.register(_ProcessCounters())
    return registry


def scrape_registry() -> CollectorRegistry:
    """What one scrape exposes: the counters plus the series of each settings.METRICS_COLLECTORS collector (the
    apps' database-backed ones), read now."""
    registry = counters_registry()
    for path in settings.METRICS_COLLECTORS:
        registry.register(import_string(path)())
    return registry


def error_summary() -> dict:
    """Totals since the counters started (all processes of this host in multiprocess mode):
    {"requests": int, "errors": {error_type: int for every observability.ERROR_TYPES}}."""
    from studentperf.observability import ERROR_TYPES

    families = {family.name: family.samples for family in counters_registry().collect()}
    errors = dict.fromkeys(ERROR_TYPES, 0)
    for sample in _totals(families.get("studentperf_errors", ())):
        if sample.labels.get("type") in errors:
            errors[sample.labels["type"]] += int(sample.value)
    requests = sum(int(sample.value) for sample in _totals(families.get("studentperf_http_requests", ())))
    return {"requests": requests, "errors": errors}


def _totals(samples: Iterable) -> Iterator:
    return (sample for sample in samples if sample.name.endswith("_total"))
