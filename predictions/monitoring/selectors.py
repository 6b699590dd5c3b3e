"""What the monitoring page charts, read from the database as plain data (lists, dicts, dates).

Checks over time per model version, prediction volume and latency per day from the audit log, the latest
drift per feature, accuracy per subgroup, and the error counts of studentperf.metrics. Days are the server's
time zone (TIME_ZONE). predictions.monitoring.charts draws them; predictions.monitoring.views puts them on the page.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta

import numpy as np
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import TruncDate
from django.utils import timezone

from modelstore.models import ModelVersion
from modelstore.selectors import model_version_challenger_find, model_version_get
from predictions.models import AccuracyCheck, BatchRow, Prediction
from predictions.monitoring.texts import challenger_summary
from studentperf.metrics import error_summary
from studentperf.observability import ERROR_TYPES

CHECK_DAYS = 90  # the accuracy charts' window
TRAFFIC_DAYS = 30  # the volume and latency charts' window, today included
LATENCY_SAMPLE_CAP = 50_000  # the latest interactive predictions whose latency is read
# Batch rows share their chunk's latency: only web and API predictions say how long one took.
INTERACTIVE_SOURCES = (Prediction.Source.WEB, Prediction.Source.API)


def check_series(*, active: ModelVersion | None, days: int = CHECK_DAYS) -> list[dict]:
    """Each version's checks with pairs of the last `days` days, oldest first, versions in number order:
    [{"version", "active", "checks": [{"at": datetime, "pairs", "accuracy", "rmse", "interval_coverage",
    "stated_coverage"}]}]."""
    since = timezone.now() - timedelta(days=days)
    rows = (
        AccuracyCheck.objects.filter(pairs__gt=0, created_at__gte=since)
        .order_by("model_version__version", "created_at", "id")
        .values("model_version_id", "model_version__version", "created_at", "pairs", "metrics")
    )
    versions: dict[int, dict] = {}
    for row in rows:
        version = versions.setdefault(row["model_version_id"], {
            "version": row["model_version__version"], "checks": [],
            "active": active is not None and active.pk == row["model_version_id"],
        })
        metrics = row["metrics"]
        version["checks"].append({
            "at": timezone.localtime(row["created_at"]), "pairs": row["pairs"],
            **{name: metrics.get(name) for name in ("accuracy", "rmse", "interval_coverage", "stated_coverage")},
        })
    return list(versions.values())


def traffic_days(*, days: int = TRAFFIC_DAYS) -> list[date]:
    """The last `days` days, oldest first, today (server time zone) last."""
    today = timezone.localdate()
    return [today - timedelta(days=offset) for offset in range(days - 1, -1, -1)]


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def prediction_volume(*, days: list[date]) -> dict[str, list[int]]:
    """Predictions per day of `days` by source: {"web": [n per day], "api": [...], "batch": [...]}."""
    counts = (
        Prediction.objects.filter(created_at__gte=_day_start(days[0]))
        .annotate(day=TruncDate("created_at"))  # in the current time zone, like traffic_days
        .values("day", "source").annotate(n=Count("id")).order_by()
    )
    found = {(row["day"], row["source"]): row["n"] for row in counts}
    return {source: [found.get((day, source), 0) for day in days] for source in Prediction.Source.values}


def prediction_latency(*, days: list[date], cap: int = LATENCY_SAMPLE_CAP) -> dict:
    """p50 and p95 latency in ms per day of `days` of the web and API predictions (numpy.percentile, linear),
    read from the latest `cap` of them: {"p50": [ms or None per day], "p95": [...], "samples": n, "capped":
    bool}. Percentiles are computed here rather than in SQL: SQLite has no percentile function."""
    rows = list(
        Prediction.objects.filter(source__in=INTERACTIVE_SOURCES, created_at__gte=_day_start(days[0]))
        .order_by("-created_at").values_list("created_at", "latency_ms")[: cap + 1]
    )
    capped, rows = len(rows) > cap, rows[:cap]
    by_day = defaultdict(list)
    for created_at, latency_ms in rows:
        by_day[timezone.localtime(created_at).date()].append(latency_ms)

    def percentile(share: int) -> list[float | None]:
        return [float(np.percentile(by_day[day], share)) if by_day[day] else None for day in days]

    return {"p50": percentile(50), "p95": percentile(95), "samples": len(rows), "capped": capped}


def error_rates() -> dict:
    """Errors per 100 requests by type, since the counters started (studentperf.metrics.error_summary):
    {"requests": n, "types": [{"type", "errors", "per_100" (None without requests)}]}, ERROR_TYPES first."""
    summary = error_summary()
    requests, errors = summary.get("requests", 0), summary.get("errors", {})
    types = list(ERROR_TYPES) + sorted(set(errors) - set(ERROR_TYPES))
    return {
        "requests": requests,
        "types": [
            {"type": name, "errors": errors.get(name, 0),
             "per_100": 100 * errors.get(name, 0) / requests if requests else None}
            for name in types
        ],
    }


def accuracy_check_shown(*, active: ModelVersion | None) -> AccuracyCheck | None:
    """The check the page's summary and subgroups read: the active version's latest, else the newest of all."""
    checks = AccuracyCheck.objects.select_related("model_version").order_by("-created_at", "-id")
    return (active and checks.filter(model_version=active).first()) or checks.first()


def drift_check_shown(*, active: ModelVersion | None) -> AccuracyCheck | None:
    """The check whose drift the page shows: the active version's latest check when it tested features,
    else the latest check of any version that did (none: not enough recent records anywhere)."""
    tested = AccuracyCheck.objects.select_related("model_version").filter(drift__status__in=["ok", "drifting"])
    latest = accuracy_check_shown(active=active)
    if latest and latest.drift.get("status") in ("ok", "drifting"):
        return latest
    return tested.order_by("-created_at", "-id").first()


def drift_differences(*, drift: dict) -> list[dict]:
    """How different each tested feature's recent values are from the training data, largest first:
    [{"feature", "difference" (0 same, 1 nothing alike), "drifting", "test", "p_value", "samples"}].

    A number a non-statistician can read beside the test's yes/no: for numbers the Kolmogorov-Smirnov
    statistic (the largest gap between the two samples' shares below any value), for categories the total
    variation distance (the share of records that would have to change category for the mixes to match)."""
    differences = []
    for name, result in drift.get("features", {}).items():
        if result.get("p_value") is None:
            continue  # not tested: too few values
        if result["test"] == "ks":
            difference = result["statistic"]
        else:
            recent, reference = result["recent"]["shares"], result["reference"]["shares"]
            difference = sum(abs(recent.get(key, 0) - reference.get(key, 0)) for key in recent | reference) / 2
        differences.append({"feature": name, "difference": float(difference), "drifting": result["drifting"],
                            "test": result["test"], "p_value": result["p_value"], "samples": result["samples"]})
    return sorted(differences, key=lambda row: (-row["difference"], row["feature"]))


def subgroup_accuracy(*, check: AccuracyCheck) -> list[dict]:
    """The check's pass/fail accuracy per subgroup: [{"feature", "value", "accuracy", "pairs"}], by feature
    then value; groups without a figure are left out."""
    return [
        {"feature": feature, "value": value, "accuracy": metrics["accuracy"], "pairs": metrics.get("pairs", 0)}
        for feature, groups in check.subgroups.items() for value, metrics in sorted(groups.items())
        if metrics.get("accuracy") is not None
    ]


# The accuracy check's reads besides its pairs (predictions.monitoring.pairs), and the checks it stored.


def batch_row_failed_share(*, since: datetime) -> tuple[float | None, int]:
    """The share of batch rows rejected among those of the jobs created since `since`, and their number."""
    rows = BatchRow.objects.filter(job__created_at__gte=since)
    total = rows.count()
    if not total:
        return None, 0
    return rows.filter(prediction__isnull=True).count() / total, total


def accuracy_check_list(*, version: int | None = None) -> QuerySet[AccuracyCheck]:
    """Every check, newest first; only `version`'s (a version number) when given (not_found if unknown)."""
    checks = AccuracyCheck.objects.select_related("model_version").prefetch_related("alerts")
    if version is not None:
        checks = checks.filter(model_version=model_version_get(number=version))
    return checks


def accuracy_check_latest_list(*, version: int | None = None) -> list[AccuracyCheck]:
    """The newest check of each version (newest version first), or of `version` only."""
    checks = accuracy_check_list(version=version)
    latest = checks.filter(model_version=OuterRef("model_version")).order_by("-created_at", "-id").values("pk")[:1]
    return list(checks.filter(pk=Subquery(latest)).order_by("-model_version__version"))


def challenger_comparison_latest() -> dict | None:
    """The newest check's comparison of the active version with the challenger (AccuracyCheck.challenger, see
    predictions.monitoring.challenger), plus "check_id" and "checked_at" (a datetime); None when no check has
    compared one. It may be about an earlier challenger or active version: read "challenger_version" and
    "active_version"."""
    check = (
        AccuracyCheck.objects.filter(challenger__has_key="verdict").order_by("-created_at", "-id")
        .values("pk", "created_at", "challenger").first()
    )
    if check is None:
        return None
    return check["challenger"] | {"check_id": check["pk"], "checked_at": check["created_at"]}


def challenger_summary_current() -> dict | None:
    """`texts.challenger_summary` of the current challenger and the latest comparison: what the monitoring page
    and the admin's version page (settings.MODEL_CHALLENGER_SUMMARY) show."""
    return challenger_summary(comparison=challenger_comparison_latest(), challenger=model_version_challenger_find())
