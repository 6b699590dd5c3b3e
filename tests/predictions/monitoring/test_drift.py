"""Input drift: each feature's statistic and p-value are scipy's on the same samples, computed here on their own.

The recent samples are audit rows written to the test database; the reference is data/student-mat.csv read
here with pandas. Numeric features: `scipy.stats.ks_2samp`; categorical ones: `scipy.stats.chi2_contingency`
on the table of both samples' counts over every category either side holds (as predictions/monitoring/drift.py
states). A feature drifts when its p-value is below DRIFT_P_VALUE divided by the number of features tested.
"""
from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from django.utils import timezone
from scipy.stats import chi2_contingency, ks_2samp

from modelstore.schema import ATTRIBUTES, PERIOD_GRADES, TARGET
from predictions.models import Prediction
from predictions.monitoring.drift import drift_report

pytestmark = pytest.mark.django_db

REFERENCE = pd.read_csv(Path(__file__).resolve().parents[3] / "data" / "student-mat.csv", sep=";")
FEATURES = {feature.name: feature.kind for feature in ATTRIBUTES + PERIOD_GRADES}  # the 30 attributes, G1, G2
NOT_ENOUGH_DATA = "not enough data"


@pytest.fixture(autouse=True)
def _thresholds(settings):
    settings.DRIFT_P_VALUE = 0.01
    settings.DRIFT_MIN_SAMPLES = 30


def training_records(n: int, *, seed: int) -> list[dict]:
    """`n` students of the training file (without G3) as the JSON inputs an audit row holds."""
    sample = REFERENCE.sample(n=n, random_state=seed).drop(columns=TARGET)
    return [{name: value.item() if hasattr(value, "item") else value for name, value in row.items()}
            for row in sample.to_dict("records")]


def inputs_store(version, records: list[dict], *, at=None) -> None:
    """One audit row per record, predicted by `version` (now, or at `at`)."""
    rows = [
        Prediction(
            model_version=version, setup="A" if record["G2"] is not None else "B" if record["G1"] is not None else "C",
            input=record, predicted_grade=12.0, pass_probability=0.8, confidence=0.6, risk=Prediction.Risk.LOW,
            interval_low=10.0, interval_high=14.0, interval_coverage=0.9, source=Prediction.Source.API,
            latency_ms=5.0,
        )
        for record in records
    ]
    with mock.patch("django.utils.timezone.now", return_value=at or timezone.now()):
        Prediction.objects.bulk_create(rows)


def expected_test(name: str, records: list[dict]):
    """scipy's test of one feature: the recent values given against the whole training column."""
    values = [record[name] for record in records if record.get(name) is not None]
    if FEATURES[name] == "category":
        recent, reference = Counter(values), Counter(REFERENCE[name])
        categories = sorted(set(recent) | set(reference))  # a category on one side only counts 0 on the other
        return len(values), chi2_contingency([[recent[c] for c in categories], [reference[c] for c in categories]])
    return len(values), ks_2samp(np.array(values, dtype=float), REFERENCE[name].to_numpy(dtype=float))


def shifted_records() -> list[dict]:
    """60 students of the training file, then: all at MS (GP, on the training side only, drifts), 10 more
    absences and a longer study time for half (drift), two guardians "grandparent" (on the recent side only:
    an audit row from before the schema refused it) and going out more for half (both significant, but not
    below the corrected threshold), G1 known for 40, G2 for 20 (too few to test)."""
    records = training_records(60, seed=3)
    for index, record in enumerate(records):
        record["school"] = "MS"
        record["absences"] = min(record["absences"] + 10, 93)
        if index < 30:
            record["studytime"] = min(record["studytime"] + 1, 4)
            record["goout"] = min(record["goout"] + 1, 5)
        if index < 2:
            record["guardian"] = "grandparent"
        if index >= 20:
            record["G2"] = None
        if index >= 40:
            record["G1"] = None
    return records


def test_each_feature_is_tested_with_scipy_on_the_same_samples(active_version):
    records = shifted_records()
    inputs_store(active_version, records)
    # Older rows, all far off, are outside the window: they must change nothing.
    far_off = [{**record, "age": 22, "sex": "M", "Dalc": 5} for record in training_records(50, seed=9)]
    inputs_store(active_version, far_off, at=timezone.now() - timedelta(days=40))

    report = drift_report(version=active_version, since=timezone.now() - timedelta(days=30))

    assert report["samples"] == 60 and set(report["features"]) == set(FEATURES)
    for name, kind in FEATURES.items():
        samples, expected = expected_test(name, records)
        result = report["features"][name]
        assert result["test"] == ("chi2" if kind == "category" else "ks"), name
        assert result["samples"] == samples, name
        if samples < 30:
            assert (result["statistic"], result["p_value"], result["drifting"]) == (None, None, False), name
            assert result["status"] == NOT_ENOUGH_DATA, name
            continue
        assert result["statistic"] == pytest.approx(expected.statistic, rel=1e-9, abs=0), name
        assert result["p_value"] == pytest.approx(expected.pvalue, rel=1e-9, abs=0), name
    assert report["features"]["G1"]["samples"] == 40 and report["features"]["G2"]["status"] == NOT_ENOUGH_DATA
    assert report["features"]["school"]["recent"]["shares"] == {"MS": 1.0}
    assert report["features"]["guardian"]["recent"]["shares"]["grandparent"] == pytest.approx(2 / 60, abs=1e-4)
    assert report["features"]["absences"]["recent"]["mean"] == pytest.approx(np.mean([r["absences"] for r in records]))
    assert report["features"]["absences"]["reference"]["mean"] == pytest.approx(REFERENCE["absences"].mean())


def test_the_features_flagged_are_exactly_those_under_the_corrected_threshold(active_version):
    records = shifted_records()
    inputs_store(active_version, records)

    report = drift_report(version=active_version, since=timezone.now() - timedelta(days=30))

    p_values = {}
    for name in FEATURES:
        samples, expected = expected_test(name, records)
        if samples >= 30:
            p_values[name] = expected.pvalue
    threshold = 0.01 / len(p_values)  # Bonferroni over the features tested: all but G2
    expected_drifting = {name for name, p_value in p_values.items() if p_value < threshold}
    # The samples do what they were made for: three features far off, two only below the uncorrected 0.01.
    assert len(p_values) == 31 and expected_drifting == {"school", "absences", "studytime"}
    assert {name for name, p_value in p_values.items() if threshold <= p_value < 0.01} == {"guardian", "goout"}

    assert report["threshold"] == pytest.approx(threshold, rel=1e-12)
    assert report["status"] == "drifting"
    assert set(report["drifting"]) == expected_drifting and len(report["drifting"]) == 3
    assert {name for name, result in report["features"].items() if result["drifting"]} == expected_drifting


def test_records_like_the_training_data_drift_nowhere(active_version):
    records = training_records(80, seed=4)
    inputs_store(active_version, records)

    report = drift_report(version=active_version, since=timezone.now() - timedelta(days=30))

    assert report["status"] == "ok" and report["drifting"] == []
    assert report["threshold"] == pytest.approx(0.01 / 32)
    assert all(report["features"][name]["p_value"] == pytest.approx(expected_test(name, records)[1].pvalue,
                                                                     rel=1e-9, abs=0) for name in FEATURES)


def test_fewer_recent_records_than_the_minimum_are_not_tested(active_version):
    records = training_records(30, seed=5)
    since = timezone.now() - timedelta(days=30)
    inputs_store(active_version, records[:29])

    report = drift_report(version=active_version, since=since)

    assert report["status"] == NOT_ENOUGH_DATA and report["samples"] == 29
    assert report["features"] == {} and report["drifting"] == [] and report["threshold"] is None

    # One more record reaches the minimum: every feature is tested, but G1 when one of them does not give it.
    inputs_store(active_version, [{**records[29], "G1": None, "G2": None}])

    report = drift_report(version=active_version, since=since)

    assert report["samples"] == 30 and report["status"] in {"ok", "drifting"}
    assert report["features"]["G1"] == {"test": "ks", "samples": 29, "status": NOT_ENOUGH_DATA, "statistic": None,
                                        "p_value": None, "drifting": False}
    assert report["features"]["G2"]["status"] == NOT_ENOUGH_DATA
    tested = {name for name, result in report["features"].items() if result["p_value"] is not None}
    assert tested == set(FEATURES) - {"G1", "G2"}
    assert report["threshold"] == pytest.approx(0.01 / 30)
