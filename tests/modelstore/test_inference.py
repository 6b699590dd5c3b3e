import copy

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from modelstore.ml.estimators import ConformalGradeRegressor
from modelstore.ml.inference import Predictor, predict_records, rounded_keeping_side
from modelstore.ml.onnx import onnx_session, pipeline_to_onnx
from modelstore.schema import FEATURES, MAY_BE_UNKNOWN
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
        assert set(result) == {
            "setup", "predicted_grade", "pass_probability", "confidence", "interval", "top_factors", "unusual",
            "unusual_reasons",
        }
        assert result["unusual"] in (True, False) and isinstance(result["unusual_reasons"], list)
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
    pipeline_transform, regressor_predict = Pipeline.transform, ConformalGradeRegressor.distribution

    def counted_pipeline(self, *args, **kwargs):
        calls["pipeline"] += 1
        return pipeline_transform(self, *args, **kwargs)

    def counted_regressor(self, *args, **kwargs):
        calls["regressor"] += 1
        return regressor_predict(self, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "transform", counted_pipeline)
    monkeypatch.setattr(ConformalGradeRegressor, "distribution", counted_regressor)
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


def test_an_odd_record_is_flagged_unusual_with_reasons_and_a_typical_one_is_not(trained_pipelines, dataset):
    typical, odd = _records(dataset, 2)
    odd.update(age=22, absences=75, Medu=0, Fedu=0, failures=3, famrel=1, Dalc=5, Walc=5, G1=3, G2=19)
    typical_result, odd_result = predict_records(trained_pipelines, [typical, odd])
    assert typical_result["unusual"] is False and typical_result["unusual_reasons"] == []
    assert odd_result["unusual"] is True
    assert any(reason.startswith("age: 22 (") for reason in odd_result["unusual_reasons"])


def test_a_version_without_the_novelty_check_says_unknown(trained_pipelines, dataset):
    # A version fitted before the check existed: its reference step has no rarity_ state.
    older = copy.deepcopy(trained_pipelines)
    for pipeline in older.values():
        del pipeline.named_steps["reference"].rarity_
    for predictor in (older, {setup: Predictor(pipeline=pipeline) for setup, pipeline in older.items()}):
        results = predict_records(predictor, _records(dataset, 6))
        assert all(result["unusual"] is None and result["unusual_reasons"] == [] for result in results)


@pytest.mark.parametrize(("value", "digits", "mark", "expected"), [
    (9.497, 2, 9.5, 9.49), (9.5, 2, 9.5, 9.5), (9.4951, 2, 9.5, 9.49), (12.346, 2, 9.5, 12.35), (9.2, 2, 9.5, 9.2),
    (0.4996, 3, 0.5, 0.499), (0.5, 3, 0.5, 0.5), (0.0004, 3, 0.5, 0.0), (0.9996, 3, 0.5, 1.0),
])
def test_rounding_never_crosses_the_mark(value, digits, mark, expected):
    assert rounded_keeping_side(value, digits, mark) == expected


# Served through the proved ONNX graphs: the same results as through scikit-learn.

@pytest.fixture(scope="module")
def predictors(trained_pipelines):
    """By engine, the real recipe's predictors: the pipelines alone, and with the sessions of their graphs."""
    graphs = {setup: pipeline_to_onnx(pipeline, coverage=0.9) for setup, pipeline in trained_pipelines.items()}
    return {
        "scikit-learn": {setup: Predictor(pipeline=pipeline) for setup, pipeline in trained_pipelines.items()},
        "onnxruntime": {
            setup: Predictor(pipeline=pipeline, session=onnx_session(graphs[setup]))
            for setup, pipeline in trained_pipelines.items()
        },
    }


def _as_setup(records: list[dict], setup: str) -> list[dict]:
    removed = {"A": (), "B": ("G2",), "C": ("G1", "G2")}[setup]
    return [{**record, **dict.fromkeys(removed)} for record in records]


@pytest.mark.parametrize("setup", ["A", "B", "C"])
def test_onnx_path_computes_the_scikit_learn_numbers_on_the_uci_rows(setup, predictors, dataset):
    columns = {name: dataset[name].to_numpy() for name in predictors["scikit-learn"][setup].features}
    found = {}
    for engine, by_setup in predictors.items():
        predictor = by_setup[setup]
        assert predictor.engine == engine
        outputs = predictor.predict(columns)
        # Not the graph's own 0.9: from the centre and category
        low, high = predictor.interval(outputs["point"], outputs["category"], coverage=0.8)
        found[engine] = {**outputs, "interval_low": low, "interval_high": high}

    for name, expected in found["scikit-learn"].items():
        assert np.abs(found["onnxruntime"][name] - expected).max() <= 1e-4, name


@pytest.mark.parametrize("setup", ["A", "B", "C"])
def test_predict_records_through_onnx_equals_the_scikit_learn_results(setup, predictors, dataset):
    records = _as_setup(_records(dataset, len(dataset)), setup)

    expected = predict_records(predictors["scikit-learn"], records, coverage=0.9, top_k=5)
    found = predict_records(predictors["onnxruntime"], records, coverage=0.9, top_k=5)

    differ = 0
    for onnx_result, sklearn_result in zip(found, expected, strict=True):
        onnx_factors, sklearn_factors = onnx_result.pop("top_factors"), sklearn_result.pop("top_factors")
        assert onnx_result == sklearn_result  # grade, interval, pass probability, confidence, rounded
        if onnx_factors != sklearn_factors:
            differ += 1
            # Only an effect that lies within float32 noise of a rounding edge (x.xx5) may round the other way.
            assert [f["feature"] for f in onnx_factors] == [f["feature"] for f in sklearn_factors]
            for onnx_factor, sklearn_factor in zip(onnx_factors, sklearn_factors):
                assert onnx_factor["effect"] == pytest.approx(sklearn_factor["effect"], abs=0.01 + 1e-9)
    assert differ <= 0.02 * len(records)


def test_onnx_path_makes_one_onnxruntime_call_per_setup(predictors, dataset, monkeypatch):
    calls = []
    real = Predictor.predict
    monkeypatch.setattr(Predictor, "predict", lambda self, columns: calls.append(self.engine) or real(self, columns))
    monkeypatch.setattr(Pipeline, "transform", pytest.fail)  # scikit-learn's encoding never runs

    predict_records(predictors["onnxruntime"], _mixed(dataset, 60))

    assert calls == ["onnxruntime"] * 3


def test_interval_offsets_are_computed_once_per_coverage(predictors, dataset, monkeypatch):
    predictor = Predictor(pipeline=predictors["scikit-learn"]["C"].pipeline)
    computed = []
    real = ConformalGradeRegressor.interval_offsets
    monkeypatch.setattr(
        ConformalGradeRegressor, "interval_offsets",
        lambda self, coverage: computed.append(coverage) or real(self, coverage),
    )
    records = _as_setup(_records(dataset, 5), "C")

    for coverage in (0.9, 0.9, 0.8, 0.9):
        predict_records({"C": predictor}, records, coverage=coverage)

    assert computed == [0.9, 0.8]


# Unknown attributes (schema.MAY_BE_UNKNOWN) and schools the model was not trained on.

def _unknown(records: list[dict], **extra) -> list[dict]:
    return [{**record, **dict.fromkeys(MAY_BE_UNKNOWN), **extra} for record in records]


@pytest.mark.parametrize("setup", ["A", "B", "C"])
def test_an_unknown_attribute_is_predicted_as_the_typical_value_through_both_engines(setup, predictors, dataset):
    records = _as_setup(_records(dataset, 40), setup)
    reference = predictors["scikit-learn"][setup].reference
    typical = [{**record, **{name: reference[name] for name in MAY_BE_UNKNOWN}} for record in records]

    expected = predict_records(predictors["scikit-learn"], typical)
    for engine in ("scikit-learn", "onnxruntime"):
        found = predict_records(predictors[engine], _unknown(records))
        for unknown_result, typical_result in zip(found, expected, strict=True):
            assert unknown_result["predicted_grade"] == typical_result["predicted_grade"]
            assert unknown_result["pass_probability"] == typical_result["pass_probability"]
            assert unknown_result["interval"] == typical_result["interval"]
            # An unknown attribute has no effect, so it is never a factor, nor a reason to call a record unusual.
            assert not {factor["feature"] for factor in unknown_result["top_factors"]} & set(MAY_BE_UNKNOWN)
            assert not any(FEATURES[name].words in reason
                           for reason in unknown_result["unusual_reasons"] for name in MAY_BE_UNKNOWN)


def test_unknown_values_change_the_prediction_of_a_student_far_from_typical(trained_pipelines, dataset):
    # A record whose sensitive values are all far from the typical ones: knowing them matters, so leaving them
    # unknown must give another prediction (the fill is not a no-op).
    record = {**_as_setup(_records(dataset, 1), "C")[0], "Dalc": 5, "Walc": 5, "goout": 5, "famrel": 1,
              "health": 1, "freetime": 5, "romantic": "yes", "Pstatus": "A"}

    known, unknown = predict_records(trained_pipelines, [record, _unknown([record])[0]])

    assert known["predicted_grade"] != unknown["predicted_grade"]
    assert {factor["feature"] for factor in known["top_factors"]} & set(MAY_BE_UNKNOWN)


def test_a_school_the_model_was_not_trained_on_is_taken_as_unknown(predictors, dataset):
    records = _as_setup(_records(dataset, 10), "B")
    typical_school = predictors["scikit-learn"]["B"].reference["school"]

    for engine in ("scikit-learn", "onnxruntime"):
        other = predict_records(predictors[engine], [{**record, "school": "ESL"} for record in records])
        typical = predict_records(predictors[engine], [{**record, "school": typical_school} for record in records])
        assert [r["predicted_grade"] for r in other] == [r["predicted_grade"] for r in typical]
        assert all("school" not in {f["feature"] for f in result["top_factors"]} for result in other)


def test_the_pipeline_itself_fills_unknown_values(trained_pipelines, dataset):
    pipeline = trained_pipelines["C"]
    features = list(pipeline.feature_names_in_)
    rows = dataset[features].iloc[:20]
    unknown = rows.astype({name: object for name in MAY_BE_UNKNOWN})
    unknown.loc[:, list(MAY_BE_UNKNOWN)] = None
    typical = rows.copy()
    for name in MAY_BE_UNKNOWN:
        typical[name] = pipeline.named_steps["reference"].reference_[name]

    np.testing.assert_array_equal(pipeline.predict(unknown), pipeline.predict(typical))
    assert rows[list(MAY_BE_UNKNOWN)].notna().all().all()  # the caller's frame is left as it was
