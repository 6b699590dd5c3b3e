"""The accuracy check's figures in /metrics (predictions.monitoring.metrics): the Brier score gauge."""
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
