"""The accuracy check's figures in /metrics (predictions.monitoring.metrics): the Brier score gauge, and the
accuracy on the predictions flagged unusual beside the others'."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from predictions.monitoring.metrics import DatabaseCollector

from tests.predictions.monitoring.helpers import check_at

pytestmark = pytest.mark.django_db


def gauge(name: str) -> list[tuple[dict, float]]:
    [family] = [family for family in DatabaseCollector().collect() if family.name == name]
    return [(sample.labels, sample.value) for sample in family.samples]


def test_the_latest_checks_brier_score_is_a_gauge_per_version(active_version):
    check_at(active_version, timezone.now() - timedelta(days=1), accuracy=0.8, rmse=2.0, coverage=0.9)
    latest = check_at(active_version, timezone.now(), accuracy=0.8, rmse=2.0, coverage=0.9)
    latest.metrics["brier"] = 0.183
    latest.save()

    assert gauge("studentperf_accuracy_check_brier") == [({"model_version": str(active_version.version)}, 0.183)]


def test_a_check_without_a_brier_score_has_no_sample(active_version):
    check = check_at(active_version, timezone.now(), accuracy=0.8, rmse=2.0, coverage=0.9, pairs=0)
    check.metrics["brier"] = None  # no pairs: undefined, as pair_metrics stores it
    check.save()

    assert gauge("studentperf_accuracy_check_brier") == []


def test_the_latest_checks_accuracy_on_unusual_records_and_the_others_is_a_gauge_per_group(active_version):
    check = check_at(active_version, timezone.now(), accuracy=0.8, rmse=2.0, coverage=0.9, pairs=60)
    check.metrics["unusual"] = {
        "flagged": {"pairs": 3, "accuracy": 1 / 3, "mae": 4.1, "interval_coverage": 0.67},
        "unflagged": {"pairs": 57, "accuracy": 0.825, "mae": 1.2, "interval_coverage": 0.91},
        "unknown": {"pairs": 0, "accuracy": None, "mae": None, "interval_coverage": None},
    }
    check.save()
    version = str(active_version.version)

    accuracy = gauge("studentperf_accuracy_check_unusual_accuracy")
    pairs = gauge("studentperf_accuracy_check_unusual_pairs")

    assert sorted(accuracy, key=str) == sorted([
        ({"model_version": version, "group": "flagged"}, 1 / 3),
        ({"model_version": version, "group": "unflagged"}, 0.825),
    ], key=str)  # no sample for the group without pairs
    assert {labels["group"]: value for labels, value in pairs} == {"flagged": 3, "unflagged": 57, "unknown": 0}


def test_a_check_made_before_unusual_records_were_measured_has_no_sample(active_version):
    check_at(active_version, timezone.now(), accuracy=0.8, rmse=2.0, coverage=0.9)  # no metrics["unusual"]

    assert gauge("studentperf_accuracy_check_unusual_accuracy") == []
    assert gauge("studentperf_accuracy_check_unusual_pairs") == []
