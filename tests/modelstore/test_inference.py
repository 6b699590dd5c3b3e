import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from modelstore.ml.estimators import ConformalGradeRegressor
from modelstore.ml.inference import predict_records
from studentperf.errors import ApplicationError


def _records(dataset, count: int, start: int = 0) -> list[dict]:
    rows = dataset.drop(columns=["G3"]).iloc[start:start + count].to_dict("records")
    return [{name: value.item() if hasattr(value, "item") else value for name, value in row.items()} for row in rows]


def _mixed(dataset, count: int = 30) -> list[dict]:
    """A, B and C records interleaved: every third lacks G2, every third lacks both grades."""
    records = _records(dataset, count)
    for position, record in enumerate(records):
        if position % 3 == 1:
            record["G2"] = None
        elif position % 3 == 2:
            record["G1"] = record["G2"] = None
    return records


def test_setup_follows_the_period_grades_given(trained_pipelines, dataset):
    results = predict_records(trained_pipelines, _mixed(dataset, 6))
    assert [result["setup"] for result in results] == ["A", "B", "C"] * 2


def test_result_shape_and_consistency(trained_pipelines, dataset):
    for result in predict_records(trained_pipelines, _mixed(dataset, 9), coverage=0.8, top_k=3):
        assert set(result) == {"setup", "predicted_grade", "pass_probability", "confidence", "interval", "top_factors"}
        interval = result["interval"]
        assert 0 <= interval["low"] <= result["predicted_grade"] <= interval["high"] <= 20
        assert interval["coverage"] == 0.8
        assert 0 < result["pass_probability"] < 1
        assert result["confidence"] == pytest.approx(max(result["pass_probability"], 1 - result["pass_probability"]))
        assert len(result["top_factors"]) <= 3


def test_many_records_give_the_same_results_as_one_at_a_time(trained_pipelines, dataset):
    records = _mixed(dataset, 24)
    together = predict_records(trained_pipelines, records)
    assert together == [predict_records(trained_pipelines, [record])[0] for record in records]


def test_one_pipeline_call_per_setup_not_per_record(trained_pipelines, dataset, monkeypatch):
    # The encoding steps run once per setup (all records and their explanation variants together), and so
    # does the grade model.
    calls = {"pipeline": 0, "regressor": 0}
    pipeline_transform, regressor_predict = Pipeline.transform, ConformalGradeRegressor.predict

    def counted_pipeline(self, *args, **kwargs):
        calls["pipeline"] += 1
        return pipeline_transform(self, *args, **kwargs)

    def counted_regressor(self, *args, **kwargs):
        calls["regressor"] += 1
        return regressor_predict(self, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "transform", counted_pipeline)
    monkeypatch.setattr(ConformalGradeRegressor, "predict", counted_regressor)
    predict_records(trained_pipelines, _mixed(dataset, 60))
    assert calls == {"pipeline": 3, "regressor": 3}


def test_wider_coverage_gives_wider_intervals(trained_pipelines, dataset):
    records = _records(dataset, 10)
    narrow = predict_records(trained_pipelines, records, coverage=0.5)
    wide = predict_records(trained_pipelines, records, coverage=0.95)
    widths = [[r["interval"]["high"] - r["interval"]["low"] for r in results] for results in (narrow, wide)]
    assert all(n < w for n, w in zip(*widths))


def test_strong_and_weak_students_get_opposite_pass_calls(trained_pipelines, dataset):
    strong, weak = _records(dataset, 2)
    strong.update(G1=17, G2=18, failures=0)
    weak.update(G1=5, G2=4, failures=3)
    strong_result, weak_result = predict_records(trained_pipelines, [strong, weak])
    assert strong_result["predicted_grade"] > 15 and strong_result["pass_probability"] > 0.9
    assert weak_result["predicted_grade"] < 8 and weak_result["pass_probability"] < 0.2


def test_a_missing_setup_pipeline_makes_the_model_unavailable(trained_pipelines, dataset):
    pipelines = {setup: trained_pipelines[setup] for setup in ("A", "B")}
    with pytest.raises(ApplicationError) as caught:
        predict_records(pipelines, _mixed(dataset, 3))
    assert caught.value.kind == "unavailable"
    assert "C" in caught.value.message


def test_no_records_no_results(trained_pipelines):
    assert predict_records(trained_pipelines, []) == []
