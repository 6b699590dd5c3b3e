import numpy as np
import pandas as pd
import pytest

from modelstore.ml.explain import predict_and_explain
from modelstore.ml.inference import Predictor
from modelstore.schema import SETUP_FEATURES


def _explain(pipeline, X: pd.DataFrame, *, top_k: int) -> tuple[np.ndarray, list[list[dict]]]:
    """The grades of the rows of X and their factors, through the scikit-learn pipeline."""
    predictor = Predictor(pipeline=pipeline)
    columns = {name: X[name].to_numpy() for name in predictor.features}
    outputs, factors = predict_and_explain(
        columns, reference=predictor.reference, predict=predictor.predict, top_k=top_k
    )
    return outputs["grade"], factors


def _factors(pipeline, record: dict, top_k: int = 40) -> dict[str, dict]:
    _, (factors,) = _explain(pipeline, pd.DataFrame([record]), top_k=top_k)
    return {factor["feature"]: factor for factor in factors}


def _typical(pipeline) -> dict:
    return dict(pipeline.named_steps["reference"].reference_)


def test_factors_speak_of_the_original_attributes(trained_pipelines, dataset):
    _, explanations = _explain(trained_pipelines["A"], dataset.head(30), top_k=5)
    for factors in explanations:
        assert {factor["feature"] for factor in factors} <= set(SETUP_FEATURES["A"])
        for factor in factors:
            assert factor["direction"] == ("raises" if factor["effect"] > 0 else "lowers")


def test_a_high_second_period_grade_raises_and_a_low_one_lowers(trained_pipelines):
    pipeline = trained_pipelines["A"]
    high = _factors(pipeline, {**_typical(pipeline), "G1": 17, "G2": 18})
    low = _factors(pipeline, {**_typical(pipeline), "G1": 5, "G2": 4})
    assert high["G2"]["effect"] > 2 and high["G2"]["value"] == 18
    assert low["G2"]["effect"] < -2 and low["G2"]["direction"] == "lowers"


def test_a_typical_student_has_no_factors(trained_pipelines):
    for pipeline in trained_pipelines.values():
        assert _factors(pipeline, _typical(pipeline)) == {}


def test_effect_is_the_change_from_the_typical_value(trained_pipelines, dataset):
    pipeline = trained_pipelines["B"]
    record = dataset.iloc[[7]]
    factors = _factors(pipeline, record.iloc[0].to_dict())
    typical_absences = record.assign(absences=_typical(pipeline)["absences"])
    expected = pipeline.predict(record)[0] - pipeline.predict(typical_absences)[0]
    assert factors.get("absences", {"effect": 0.0})["effect"] == pytest.approx(expected, abs=0.006)


def test_top_k_keeps_the_largest_effects_in_order(trained_pipelines, dataset):
    pipeline = trained_pipelines["C"]
    grades, explanations = _explain(pipeline, dataset.head(10), top_k=3)
    assert np.array_equal(grades, pipeline.predict(dataset.head(10)))
    for factors, record in zip(explanations, dataset.head(10).to_dict("records")):
        everything = list(_factors(pipeline, record).values())
        assert factors == everything[:3]
        sizes = [abs(factor["effect"]) for factor in everything]
        assert sizes == sorted(sizes, reverse=True)


def test_every_effect_is_the_change_from_swapping_in_the_typical_value(trained_pipelines, dataset):
    # Variants equal to the record (it already holds the typical value) are skipped: their effect must be 0,
    # and every other effect what swapping that one attribute in gives.
    pipeline = trained_pipelines["A"]
    typical = _typical(pipeline)
    records = dataset.head(6).reset_index(drop=True)
    _, explanations = _explain(pipeline, records, top_k=len(typical))
    for position, factors in enumerate(explanations):
        record = records.iloc[[position]]
        base = pipeline.predict(record)[0]
        effects = {name: base - pipeline.predict(record.assign(**{name: value}))[0] for name, value in typical.items()}
        expected = {name: round(float(effect), 2) for name, effect in effects.items() if round(float(effect), 2) != 0}
        assert {factor["feature"]: factor["effect"] for factor in factors} == expected
        for factor in factors:
            assert factor["value"] == record.iloc[0][factor["feature"]]


def test_a_batch_explains_each_record_as_alone(trained_pipelines, dataset):
    pipeline = trained_pipelines["B"]
    records = dataset.head(12).reset_index(drop=True)
    grades, explanations = _explain(pipeline, records, top_k=5)
    for position in range(len(records)):
        (grade,), (factors,) = _explain(pipeline, records.iloc[[position]], top_k=5)
        assert grade == grades[position]
        assert factors == explanations[position]
