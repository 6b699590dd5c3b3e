"""Issue 19, lean serving: what serves a setup beside its graph (the reference step's state and the calibration)
travels inside the graph (modelstore.ml.serving), and read back it serves exactly as the fitted pipeline does."""
from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest

from modelstore.ml.inference import Predictor, predict_records
from modelstore.ml.onnx import onnx_session, pipeline_to_onnx
from modelstore.ml.serving import (
    SERVING_FORMAT, SERVING_KEY, ServingReference, serving_state_dumps, serving_state_loads,
)
from modelstore.schema import SETUP_FEATURES, SETUPS


@pytest.fixture(scope="module")
def sessions(small_pipelines):
    return {
        setup: onnx_session(pipeline_to_onnx(pipeline, coverage=0.9)) for setup, pipeline in small_pipelines.items()
    }


def _state(pipeline) -> str:
    return serving_state_dumps(pipeline.named_steps["reference"], pipeline[-1]._calibration())


@pytest.mark.parametrize("setup", SETUPS)
def test_the_state_read_back_equals_the_fitted_step_and_calibration_exactly(setup, small_pipelines):
    pipeline = small_pipelines[setup]
    step, (table, counts) = pipeline.named_steps["reference"], pipeline[-1]._calibration()

    reference, (read_table, read_counts) = serving_state_loads(_state(pipeline))

    assert isinstance(reference, ServingReference)
    assert list(reference.feature_names_in_) == list(step.feature_names_in_) == list(SETUP_FEATURES[setup])
    assert reference.reference_ == step.reference_
    assert read_table.dtype == table.dtype and np.array_equal(read_table, table, equal_nan=True)
    assert read_counts.dtype == np.int64 and np.array_equal(read_counts, counts)
    fitted, read = step.rarity_, reference.rarity_
    assert set(read) == set(fitted)
    for name, values in fitted["sorted"].items():
        assert read["sorted"][name].dtype == values.dtype and np.array_equal(read["sorted"][name], values)
    for key, values in fitted["lookup"].items():  # rebuilt on reading, not stored: the same arrays
        assert np.array_equal(np.asarray(read["lookup"][key]), np.asarray(values)), key
    assert {key: read[key] for key in ("n", "attributes", "kinds", "counts", "threshold", "target_rate", "cv_rate")} \
        == {key: fitted[key] for key in ("n", "attributes", "kinds", "counts", "threshold", "target_rate", "cv_rate")}


def test_every_graph_carries_its_setups_state(small_pipelines, sessions):
    for setup, session in sessions.items():
        stored = session.get_modelmeta().custom_metadata_map[SERVING_KEY]
        assert json.loads(stored)["format"] == SERVING_FORMAT
        assert stored == _state(small_pipelines[setup])


def _records(dataset, record) -> list[dict]:
    """Every UCI student at each point of the year, and some unlike them or with unknown attributes."""
    rows = dataset.drop(columns=["G3"]).to_dict("records")
    odd = [
        {**record, "age": 22, "failures": 3, "absences": 75}, {**record, "school": "XY", "studytime": None},
        {**record, "Medu": None, "Fjob": "other", "G1": 0, "G2": 0}, {**record, "G1": 19, "G2": 4},
    ]
    out = []
    for row in rows + odd:
        out += [row, {**row, "G2": None}, {**row, "G1": None, "G2": None}]
    return out


def test_a_graph_alone_serves_exactly_what_its_pipeline_beside_it_serves(small_pipelines, sessions, dataset, record):
    lean = {setup: Predictor.from_graph(session) for setup, session in sessions.items()}
    full = {setup: Predictor(pipeline=small_pipelines[setup], session=sessions[setup]) for setup in SETUPS}
    records = _records(dataset, record)

    for coverage, top_k in ((0.9, 5), (0.8, 3)):
        served = predict_records(lean, records, coverage=coverage, top_k=top_k)
        assert served == predict_records(full, records, coverage=coverage, top_k=top_k)
    assert all(predictor.pipeline is None for predictor in lean.values())
    assert sum(result["unusual"] for result in served) >= 4 and {r["setup"] for r in served} == set(SETUPS)


def test_small_batches_take_the_fast_novelty_tables_and_agree(small_pipelines, sessions, dataset, record):
    lean = {setup: Predictor.from_graph(session) for setup, session in sessions.items()}
    full = {setup: Predictor(pipeline=small_pipelines[setup], session=sessions[setup]) for setup in SETUPS}
    for single in _records(dataset, record)[::97]:
        assert predict_records(lean, [single]) == predict_records(full, [single])


def test_a_graph_converted_before_it_carried_the_state_has_no_lean_predictor(small_pipelines):
    import onnx

    model = onnx.load_from_string(pipeline_to_onnx(small_pipelines["C"], coverage=0.9))
    kept = [prop for prop in model.metadata_props if prop.key != SERVING_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)

    assert Predictor.from_graph(onnx_session(model.SerializeToString())) is None


def test_a_state_that_is_not_ours_is_refused(small_pipelines):
    state = json.loads(_state(small_pipelines["C"]))

    with pytest.raises(ValueError, match="not a studentperf-serving/1"):
        serving_state_loads(json.dumps({**state, "format": "other/9"}))
    # An array of any other dtype (e.g. object, which numpy would need pickle for) is refused, not built.
    state["calibration"]["counts"] = {"dtype": "|O", "shape": [1], "base64": base64.b64encode(b"x" * 8).decode()}
    with pytest.raises(ValueError, match=re.escape("dtype '|O' is refused")):
        serving_state_loads(json.dumps(state))


def test_rows_sent_to_the_graph_in_chunks_give_the_very_floats_of_one_call(sessions, dataset, record, monkeypatch):
    from modelstore.ml import inference

    lean = {setup: Predictor.from_graph(session) for setup, session in sessions.items()}
    records = _records(dataset, record)[:300]
    calls = []
    real = inference.onnx_predict

    def counted(session, columns):
        calls.append(len(next(iter(columns.values()))))
        return real(session, columns)

    monkeypatch.setattr(inference, "onnx_predict", counted)
    monkeypatch.setattr(inference, "ONNX_CHUNK_ROWS", 10**9)
    whole = predict_records(lean, records)
    in_one = len(calls)
    monkeypatch.setattr(inference, "ONNX_CHUNK_ROWS", 7)
    chunked = predict_records(lean, records)

    assert chunked == whole
    assert in_one == 3 and len(calls) - in_one > 100 and max(calls[in_one:]) == 7


def test_without_factors_only_the_records_go_through_the_model_with_the_same_numbers(sessions, dataset, record,
                                                                                   monkeypatch):
    from modelstore.ml import inference

    lean = {setup: Predictor.from_graph(session) for setup, session in sessions.items()}
    records = _records(dataset, record)[:90]
    sent = []
    real = inference.onnx_predict
    monkeypatch.setattr(inference, "onnx_predict", lambda session, columns: sent.append(
        len(next(iter(columns.values())))) or real(session, columns))

    explained = predict_records(lean, records, top_k=5)
    with_variants = sum(sent)
    sent.clear()
    numbers = predict_records(lean, records, top_k=0)

    assert sum(sent) == len(records) < with_variants
    assert all(result["top_factors"] == [] for result in numbers)
    assert [{**result, "top_factors": []} for result in explained] == numbers
