"""Monitoring data at chosen times: audit-log rows with known latencies, checks with known figures, a drift
report with one drifting feature. created_at is auto_now_add, so rows are written with the clock set."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timedelta
from unittest import mock

from django.utils import timezone

from predictions.models import AccuracyCheck, Alert, Prediction


@contextmanager
def clock(moment: datetime):
    """timezone.now() answers `moment` inside the block (auto_now_add included)."""
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


def days_ago(days: float, *, hour: int = 12) -> datetime:
    """Noon (by default) of the day `days` before today, in the current time zone."""
    today = timezone.localtime(timezone.now()).replace(hour=hour, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days)


def predictions_at(version, moment: datetime, *, latencies: list[float], source: str = "web",
                   record: dict | None = None) -> list[Prediction]:
    """One audit-log row per latency (ms), made at `moment` by `version` from `source`."""
    rows = [
        Prediction(model_version=version, setup="A", input=record or {}, predicted_grade=12.0, pass_probability=0.8,
                   confidence=0.6, risk=Prediction.Risk.LOW, interval_low=10.0, interval_high=14.0,
                   interval_coverage=0.9, source=source, latency_ms=latency)
        for latency in latencies
    ]
    with clock(moment):
        return Prediction.objects.bulk_create(rows)


def subgroups_of(accuracy: float, pairs: int) -> dict:
    """Subgroup figures around `accuracy`: the rural group a good deal worse."""
    def group(share, count):
        return {"accuracy": share, "pairs": count, "rmse": 2.0, "interval_coverage": 0.9}
    half = pairs // 2
    return {
        "sex": {"F": group(accuracy + 0.02, half), "M": group(accuracy - 0.02, pairs - half)},
        "school": {"GP": group(accuracy + 0.01, pairs - 8), "MS": group(accuracy - 0.06, 8)},
        "address": {"R": group(accuracy - 0.15, 12), "U": group(accuracy + 0.04, pairs - 12)},
    }


def drift_with(*, drifting: tuple[str, ...] = ("school",), samples: int = 120) -> dict:
    """A drift report as predictions.monitoring.drift writes it: `drifting` features far off, a few others tested."""
    features = {
        "age": {"test": "ks", "samples": samples, "statistic": 0.08, "p_value": 0.4, "drifting": False,
                "recent": {"mean": 16.8}, "reference": {"mean": 16.7}},
        "absences": {"test": "ks", "samples": samples, "statistic": 0.12, "p_value": 0.09, "drifting": False,
                     "recent": {"mean": 6.1}, "reference": {"mean": 5.7}},
        "sex": {"test": "chi2", "samples": samples, "statistic": 0.3, "p_value": 0.58, "drifting": False,
                "recent": {"shares": {"F": 0.5, "M": 0.5}}, "reference": {"shares": {"F": 0.53, "M": 0.47}}},
        "school": {"test": "chi2", "samples": samples, "statistic": 80.0, "p_value": 1e-12, "drifting": False,
                   "recent": {"shares": {"GP": 0.3, "MS": 0.7}}, "reference": {"shares": {"GP": 0.88, "MS": 0.12}}},
        **{name: {"test": "ks", "samples": samples, "statistic": statistic, "p_value": 0.5, "drifting": False,
                  "recent": {"mean": 2.0}, "reference": {"mean": 2.0}}
           for name, statistic in (("Medu", 0.05), ("Fedu", 0.07), ("studytime", 0.04), ("failures", 0.03),
                                   ("goout", 0.09), ("health", 0.06), ("Dalc", 0.02), ("G2", 0.1))},
        "G1": {"test": "ks", "samples": 3, "status": "not enough data", "statistic": None, "p_value": None,
               "drifting": False},
    }
    for name in drifting:
        features[name]["drifting"] = True
    return {
        "window_days": 30, "since": timezone.now().isoformat(), "samples": samples, "min_samples": 30,
        "p_value": 0.01, "correction": "bonferroni", "threshold": 0.0025,
        "status": "drifting" if drifting else "ok", "drifting": list(drifting), "features": features,
        "reference": {"file": "student-mat.csv", "rows": 395, "sha256": "0" * 64, "matches_training_data": True,
                      "note": "The version was trained on this file."},
    }


def reliability_of(pairs: int) -> list[dict]:
    """A reliability table over `pairs` in three bands, each chance a little too hopeful."""
    if not pairs:
        return []
    low, middle = pairs // 3, pairs // 4
    return [
        {"low": 0.1, "high": 0.2, "mean_pass_probability": 0.14, "pass_rate": 0.1, "pairs": low},
        {"low": 0.5, "high": 0.6, "mean_pass_probability": 0.55, "pass_rate": 0.42, "pairs": middle},
        {"low": 0.8, "high": 0.9, "mean_pass_probability": 0.86, "pass_rate": 0.78, "pairs": pairs - low - middle},
    ]


def check_at(version, moment: datetime, *, accuracy: float, rmse: float, coverage: float, pairs: int = 60,
             drift: dict | None = None) -> AccuracyCheck:
    """An accuracy check of `version` made at `moment`, with these figures."""
    fails = pairs // 3
    metrics = {
        "accuracy": accuracy, "precision": 0.7, "recall": 0.75, "f1": 0.72, "roc_auc": 0.85, "brier": 0.14,
        "rmse": rmse, "mae": rmse * 0.8, "interval_coverage": coverage, "stated_coverage": 0.9, "pairs": pairs,
        "passes": pairs - fails, "fails": fails, "flagged": fails, "positive_class": "fail",
        "sources": {"student": pairs, "batch": 0}, "recent_batch_rows": 0, "reliability": reliability_of(pairs),
    }
    with clock(moment):
        return AccuracyCheck.objects.create(
            model_version=version, pairs=pairs, metrics=metrics,
            subgroups=subgroups_of(accuracy, pairs) if pairs else {}, drift=drift or {"status": "not enough data"},
        )


def _daily_checks(old, new, *, day: int) -> None:
    if day > 6:
        check_at(old, days_ago(day, hour=3), accuracy=0.86 - 0.002 * day, rmse=1.9 + 0.01 * day, coverage=0.9,
                 pairs=40 + 5 * (14 - day))
        return
    check_at(old, days_ago(day, hour=3), accuracy=0.84, rmse=2.0, coverage=0.89, pairs=80)
    check_at(new, days_ago(day, hour=3), accuracy=0.83 - 0.012 * (6 - day), rmse=2.1 + 0.05 * (6 - day),
             coverage=0.88 - 0.01 * (6 - day), pairs=30 + 6 * (6 - day))


def _daily_traffic(version, *, day: int, record: dict) -> None:
    """A school day's web and API predictions (quieter at weekends), and a class upload every third weekday."""
    weekend = days_ago(day).weekday() >= 5
    web = 4 if weekend else 18 + day % 5
    predictions_at(version, days_ago(day, hour=10), record=record, source="web",
                   latencies=[40 + 7 * (index % 9) + day for index in range(web)] + [180 + 10 * day])
    predictions_at(version, days_ago(day, hour=14), record=record, source="api",
                   latencies=[25 + 5 * (index % 7) for index in range(9 + day % 4)])
    if not weekend and day % 3 == 0:
        predictions_at(version, days_ago(day, hour=15), record=record, source="batch", latencies=[900.0] * 30)


def monitoring_history(*, old, new, record: dict) -> Alert:
    """What a model admin sees: four weeks of web, API and batch predictions with varied latencies; two weeks of
    daily checks of `old`, then also of `new` (active since six days, a bit worse); `new`'s latest check finds
    school drifting, with its open alert."""
    for day in range(28, 0, -1):
        if day <= 14:
            _daily_checks(old, new, day=day)
        _daily_traffic(new if day <= 6 else old, day=day, record=record)
    just_now = timezone.now() - timedelta(minutes=5)
    latest = check_at(new, just_now, accuracy=0.76, rmse=2.4, coverage=0.83, pairs=66,
                      drift=drift_with(drifting=("school",)))
    check_at(old, just_now, accuracy=0.84, rmse=2.0, coverage=0.89, pairs=80)
    return Alert.objects.create(
        kind=Alert.Kind.DRIFT, model_version=new, check_run=latest,
        message=f"Model v{new.version}: the inputs of the last 30 days differ from the training data in 1 "
                "feature(s): school.",
        details={"times_seen": 1},
    )
