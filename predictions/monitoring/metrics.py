"""Facts the database holds, read at scrape time: the same from every process and host, whatever restarted.

A handful of small aggregate queries per scrape (the active version, two sums over batch jobs, the latest
check per version, open alerts per kind); never a scan of the prediction audit log.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator

from django.db import DatabaseError
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

# (metric suffix, help, value of an AccuracyCheck): one gauge family each, labelled by model version.
CHECK_FIGURES = (
    ("accuracy", "Pass/fail accuracy of the latest check.", lambda check: check.metrics.get("accuracy")),
    ("brier", "Brier score of the pass probability (0 perfect, 0.25 for a constant 0.5) in the latest check.",
     lambda check: check.metrics.get("brier")),
    ("rmse", "RMSE of the predicted grade (grade points) in the latest check.",
     lambda check: check.metrics.get("rmse")),
    ("interval_coverage", "Share of final grades inside the predicted interval in the latest check.",
     lambda check: check.metrics.get("interval_coverage")),
    ("stated_coverage", "Coverage the intervals promise, in the latest check.",
     lambda check: check.metrics.get("stated_coverage")),
    ("pairs", "Predictions with a known final grade in the latest check.", lambda check: check.pairs),
    ("drifting_features", "Features whose recent inputs differ from the training data, in the latest check.",
     lambda check: len((check.drift or {}).get("drifting") or [])),
    ("timestamp_seconds", "When the latest check ran (Unix time).", lambda check: check.created_at.timestamp()),
)
# (figure of a group in a check's metrics["unusual"], help): one gauge family each, by model version and group.
UNUSUAL_FIGURES = (
    ("accuracy", "Pass/fail accuracy of the latest check on the predictions flagged unusual (group flagged), the "
                 "others (unflagged) and those of a version without the novelty check (unknown)."),
    ("pairs", "Predictions with a known final grade in the latest check, flagged unusual or not (group)."),
)


class DatabaseCollector(Collector):
    """The database-backed series, for the registry /metrics builds on each scrape (never registered globally).

    When the database does not answer, studentperf_database_up is 0 and the other series are left out, so that
    the counters of the processes are still scraped.
    """

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("studentperf_database_up", "1 when /metrics could read the database, else 0.")
        try:
            families = [*_active_version(), _batch_rows(), *_latest_checks(), _open_alerts()]
        except DatabaseError:
            logger.exception("metrics: the database could not be read")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families


def _active_version() -> list[Metric]:
    from modelstore.selectors import model_version_active_find

    version = model_version_active_find()
    number = GaugeMetricFamily("studentperf_model_active_version", "Number of the active model version; 0 when none.")
    number.add_metric([], version.version if version else 0)
    info = GaugeMetricFamily(
        "studentperf_model_active_info", "1 for the active model version.", labels=["version", "name"]
    )
    if version:
        info.add_metric([str(version.version), version.name], 1)
    return [number, info]


def _batch_rows() -> Metric:
    from django.db.models import Sum

    from predictions.models import BatchJob

    sums = BatchJob.objects.aggregate(done=Sum("rows_done"), failed=Sum("rows_failed"))
    done, failed = sums["done"] or 0, sums["failed"] or 0
    rows = CounterMetricFamily(
        "studentperf_batch_rows", "CSV batch rows processed: predicted, or rejected with reasons.", labels=["outcome"]
    )
    rows.add_metric(["predicted"], done - failed)
    rows.add_metric(["rejected"], failed)
    return rows


def _latest_checks() -> list[Metric]:
    from predictions.monitoring.selectors import accuracy_check_latest_list

    checks = accuracy_check_latest_list()
    families = []
    for suffix, documentation, value_of in CHECK_FIGURES:
        family = GaugeMetricFamily(f"studentperf_accuracy_check_{suffix}", documentation, labels=["model_version"])
        for check in checks:
            value = value_of(check)
            if value is not None:  # undefined (no pairs yet): no sample rather than a made-up number
                family.add_metric([str(check.model_version.version)], value)
        families.append(family)
    return families + [_unusual_family(suffix, documentation, checks) for suffix, documentation in UNUSUAL_FIGURES]


def _unusual_family(suffix: str, documentation: str, checks: list) -> Metric:
    family = GaugeMetricFamily(
        f"studentperf_accuracy_check_unusual_{suffix}", documentation, labels=["model_version", "group"]
    )
    for check in checks:
        for group, figures in (check.metrics.get("unusual") or {}).items():  # none in checks made before it
            if figures.get(suffix) is not None:
                family.add_metric([str(check.model_version.version), group], figures[suffix])
    return family


def _open_alerts() -> Metric:
    from django.db.models import Count

    from predictions.models import Alert

    counts = dict(
        Alert.objects.filter(acknowledged_at__isnull=True).values_list("kind").annotate(n=Count("pk")).order_by()
    )
    family = GaugeMetricFamily("studentperf_alerts_open", "Alerts not acknowledged yet, by kind.", labels=["kind"])
    for kind in Alert.Kind.values:
        family.add_metric([kind], counts.get(kind, 0))
    return family
