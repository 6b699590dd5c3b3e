"""Served predictions never contradict themselves: the property the predictive distribution guarantees.

Over all 395 UCI students in each setup, plus thousands of random valid records (every attribute drawn from
its allowed values, so most are unlike any real student), through both engines (the scikit-learn pipelines
and their proved ONNX graphs), the rounded outputs a teacher or an API client sees obey:
- the grade is at or above 9.5 exactly when the pass probability is at least 0.5;
- the interval holds the grade;
- an interval wholly below 9.5 leaves a pass probability of at most (1 - coverage) / 2, one wholly at or above
  9.5 at least (1 + coverage) / 2 (the distribution gives strictly less / more; rounding to 3 decimals can
  only reach the bound).
"""
import numpy as np
import pytest

from modelstore.ml.inference import Predictor, predict_records
from modelstore.ml.onnx import onnx_session, pipeline_to_onnx
from modelstore.schema import ATTRIBUTES, FEATURES

COVERAGE = 0.9
RANDOM_RECORDS = 3000


@pytest.fixture(scope="module")
def engines(trained_pipelines):
    return {
        "scikit-learn": trained_pipelines,
        "onnxruntime": {
            setup: Predictor(pipeline=pipeline, session=onnx_session(pipeline_to_onnx(pipeline, coverage=COVERAGE)))
            for setup, pipeline in trained_pipelines.items()
        },
    }


def _uci_records(dataset, setup: str) -> list[dict]:
    removed = {"A": (), "B": ("G2",), "C": ("G1", "G2")}[setup]
    rows = dataset.drop(columns=["G3"]).to_dict("records")
    return [
        {name: (None if name in removed else (value.item() if hasattr(value, "item") else value))
         for name, value in row.items()}
        for row in rows
    ]


def _random_records(count: int, seed: int) -> list[dict]:
    """Valid records with every attribute drawn uniformly from its allowed values; a third in each setup."""
    rng = np.random.default_rng(seed)
    grades = FEATURES["G1"].allowed
    records = []
    for position in range(count):
        record = {feature.name: _draw(rng, feature.allowed) for feature in ATTRIBUTES}
        record["G1"], record["G2"] = _draw(rng, grades), _draw(rng, grades)
        if position % 3 == 1:
            record["G2"] = None
        elif position % 3 == 2:
            record["G1"] = record["G2"] = None
        records.append(record)
    return records


def _draw(rng, allowed):
    value = allowed[rng.integers(len(allowed))]
    return value.item() if hasattr(value, "item") else value


def _contradictions(results: list[dict]) -> list[dict]:
    bad = []
    tail = (1 - COVERAGE) / 2
    for result in results:
        grade, chance, interval = result["predicted_grade"], result["pass_probability"], result["interval"]
        problems = [
            (grade >= 9.5) != (chance >= 0.5),
            not interval["low"] <= grade <= interval["high"],
            interval["high"] < 9.5 and chance > tail,
            interval["low"] >= 9.5 and chance < 1 - tail,
        ]
        if any(problems):
            bad.append(result)
    return bad


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["scikit-learn", "onnxruntime"])
@pytest.mark.parametrize("setup", ["A", "B", "C"])
def test_no_uci_student_gets_a_contradicting_prediction(engines, dataset, engine, setup):
    results = predict_records(engines[engine], _uci_records(dataset, setup), coverage=COVERAGE)
    assert {result["setup"] for result in results} == {setup}
    assert _contradictions(results) == []


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["scikit-learn", "onnxruntime"])
def test_no_random_valid_record_gets_a_contradicting_prediction(engines, engine):
    results = predict_records(engines[engine], _random_records(RANDOM_RECORDS, seed=16), coverage=COVERAGE)
    assert {result["setup"] for result in results} == {"A", "B", "C"}
    # The records cover the whole range: both calls are made, and intervals lie wholly on either side.
    assert {result["pass_probability"] >= 0.5 for result in results} == {True, False}
    assert any(result["interval"]["high"] < 9.5 for result in results)
    assert any(result["interval"]["low"] >= 9.5 for result in results)
    assert _contradictions(results) == []


def test_the_check_itself_catches_each_kind_of_contradiction():
    good = {"predicted_grade": 10.0, "pass_probability": 0.6, "interval": {"low": 8.0, "high": 12.0}}
    assert _contradictions([good]) == []
    for bad in (
        {**good, "pass_probability": 0.4},  # grade and chance on opposite sides
        {**good, "interval": {"low": 10.5, "high": 12.0}},  # grade outside the interval
        {"predicted_grade": 8.0, "pass_probability": 0.2, "interval": {"low": 5.0, "high": 9.0}},  # high < 9.5, 20 %
        {"predicted_grade": 12.0, "pass_probability": 0.9, "interval": {"low": 10.0, "high": 14.0}},  # low >= 9.5
    ):
        assert _contradictions([bad]) == [bad]
