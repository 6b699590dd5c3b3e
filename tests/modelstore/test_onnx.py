import copy
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import onnx
import onnxruntime
import pytest
from django.core.management import call_command
from sklearn.ensemble import HistGradientBoostingRegressor
from skl2onnx.common import tree_ensemble

from modelstore.ml.onnx import (
    OUTPUTS, TARGET_OPSET, onnx_equality_check, onnx_inputs, onnx_predict, onnx_session, pipeline_to_onnx,
)
from modelstore.ml.recipe import build_pipeline
from modelstore.schema import CATEGORICAL, SETUP_FEATURES, SETUPS, TARGET
from studentperf.errors import ApplicationError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "model.md"


@pytest.fixture(scope="module")
def small_graphs(small_pipelines):
    return {setup: pipeline_to_onnx(pipeline, coverage=0.9) for setup, pipeline in small_pipelines.items()}


@pytest.mark.parametrize("setup", SETUPS)
def test_graph_of_each_setup_equals_its_pipeline_on_the_uci_data(setup, small_pipelines, small_graphs, dataset):
    check = onnx_equality_check(small_pipelines[setup], small_graphs[setup], dataset, coverage=0.9)

    assert check["equal"], check
    assert (check["rows"], check["tolerance"], set(check["max_abs_diff"])) == (len(dataset), 1e-4, set(OUTPUTS))


def test_graph_takes_the_setup_attributes_and_says_what_it_is(small_graphs):
    model = onnx.load_from_string(small_graphs["B"])

    inputs = {node.name: node.type.tensor_type for node in model.graph.input}
    assert list(inputs) == list(SETUP_FEATURES["B"])
    for name, tensor in inputs.items():
        expected = onnx.TensorProto.STRING if name in CATEGORICAL else onnx.TensorProto.INT64
        assert tensor.elem_type == expected and [d.dim_value for d in tensor.shape.dim] == [0, 1]
    outputs = {node.name: node.type.tensor_type for node in model.graph.output}
    assert list(outputs) == list(OUTPUTS)
    # Double, so that no cast moves a grade or a chance across its mark; the category an integer.
    assert all(len(tensor.shape.dim) == 1 for tensor in outputs.values())
    assert {name: tensor.elem_type for name, tensor in outputs.items()} == {
        **dict.fromkeys(OUTPUTS, onnx.TensorProto.DOUBLE), "category": onnx.TensorProto.INT64,
    }
    props = {prop.key: prop.value for prop in model.metadata_props}
    assert (props["studentperf.setup"], float(props["studentperf.coverage"])) == ("B", 0.9)
    assert json.loads(props["studentperf.inputs"])["school"] == "string"
    assert json.loads(props["studentperf.inputs"])["G1"] == "int64"
    assert "skl2onnx" in props["producer"]
    opsets = {opset.domain: opset.version for opset in model.opset_import}
    # The recipe's trees are ai.onnx.ml 5 TreeEnsemble nodes (tests/modelstore/test_onnx_trees.py).
    assert opsets[""] == TARGET_OPSET[""] and opsets["ai.onnx.ml"] == 5


def test_coverage_is_fixed_at_conversion(small_pipelines, small_graphs, dataset):
    narrow = pipeline_to_onnx(small_pipelines["C"], coverage=0.5)

    assert onnx_equality_check(small_pipelines["C"], narrow, dataset, coverage=0.5)["equal"]
    wide = onnx_predict(onnx_session(small_graphs["C"]), dataset)
    outputs = onnx_predict(onnx_session(narrow), dataset)
    assert np.all(outputs["interval_high"] - outputs["interval_low"] <= wide["interval_high"] - wide["interval_low"])
    assert np.array_equal(outputs["grade"], wide["grade"])


def test_pipeline_with_histgradientboosting_converts(dataset):
    # skl2onnx 1.20 fails on it unpatched ("Expected an int, got a boolean"); the patch ends with the conversion.
    add_node = tree_ensemble.add_node
    pipeline = build_pipeline("C").set_params(regressor__estimator=HistGradientBoostingRegressor(max_iter=10))
    pipeline.fit(dataset[list(SETUP_FEATURES["C"])], dataset[TARGET])

    graph = pipeline_to_onnx(pipeline, coverage=0.9)

    assert onnx_equality_check(pipeline, graph, dataset, coverage=0.9)["equal"]
    assert tree_ensemble.add_node is add_node


def test_equality_check_reports_a_graph_of_another_pipeline(small_pipelines, small_graphs, dataset):
    check = onnx_equality_check(small_pipelines["C"], small_graphs["B"], dataset, coverage=0.9)

    assert not check["equal"]
    assert check["max_abs_diff"]["grade"] > 1


def test_equality_check_reports_another_coverage(small_pipelines, small_graphs, dataset):
    check = onnx_equality_check(small_pipelines["A"], small_graphs["A"], dataset, coverage=0.8)

    assert not check["equal"] and check["max_abs_diff"]["grade"] <= 1e-4
    assert check["max_abs_diff"]["interval_high"] > 1e-4


def test_a_pipeline_without_a_setup_attribute_list_is_refused():
    with pytest.raises(ApplicationError, match="does not take the attributes of any setup"):
        pipeline_to_onnx(build_pipeline("A"), coverage=0.9)


def test_inputs_from_a_dataframe_or_a_dict_of_columns(small_graphs, dataset):
    session = onnx_session(small_graphs["C"])
    frame = dataset.head(3)  # strings, int64, and G1, G2, G3 that setup C does not take

    feeds = onnx_inputs(session, frame)

    assert set(feeds) == set(SETUP_FEATURES["C"])
    assert feeds["school"].dtype == object and feeds["school"].shape == (3, 1)
    assert feeds["absences"].dtype == np.int64 and feeds["absences"].tolist() == [[6], [4], [10]]
    columns = {name: frame[name].tolist() for name in SETUP_FEATURES["C"]}  # plain python ints and str
    columns["age"] = np.asarray(columns["age"], dtype=np.int32)
    from_dict, from_frame = onnx_predict(session, columns), onnx_predict(session, frame)
    assert all(np.array_equal(from_dict[name], from_frame[name]) for name in OUTPUTS)
    assert from_frame["grade"].dtype == np.float64 and from_frame["grade"].shape == (3,)


@pytest.mark.parametrize("threads", [1, 2])
def test_session_threads_are_set_explicitly(small_graphs, threads):
    options = onnx_session(small_graphs["A"], threads=threads).get_session_options()

    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (threads, threads)
    assert options.execution_mode == onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    # No memory arena: it would keep the peak of the largest call (a batch's explanations) for the process's life.
    assert options.enable_cpu_mem_arena is False


def test_a_session_answers_alike_after_a_large_call_without_its_arena(small_graphs, dataset):
    session = onnx_session(small_graphs["B"])
    before = onnx_predict(session, dataset.head(5))
    onnx_predict(session, pd.concat([dataset] * 20, ignore_index=True))  # buffers freed after the call
    after = onnx_predict(session, dataset.head(5))
    assert all(np.array_equal(before[name], after[name]) for name in OUTPUTS)


def test_graphs_of_the_real_recipe_equal_its_pipelines(trained_pipelines, dataset):
    for setup, pipeline in trained_pipelines.items():
        check = onnx_equality_check(pipeline, pipeline_to_onnx(pipeline, coverage=0.9), dataset, coverage=0.9)
        assert check["equal"], (setup, check)
        # The proof covers every output of the distribution, the Mondrian category included.
        assert set(check["max_abs_diff"]) == set(OUTPUTS) == {
            "grade", "interval_low", "interval_high", "pass_probability", "point", "category",
        }


def test_the_graph_moves_the_centre_with_the_classifier_as_the_pipeline_does(trained_pipelines, dataset):
    pipeline = trained_pipelines["A"]
    outputs = onnx_predict(onnx_session(pipeline_to_onnx(pipeline, coverage=0.9)), dataset)
    encoded = pipeline[:-1].transform(dataset)
    expected = pipeline[-1].distribution(encoded)
    moved = expected["point"] != pipeline[-1].estimate(encoded)
    assert moved.sum() > 5  # the classifier's branch of the graph is exercised on the UCI students
    for name in ("point", "grade", "pass_probability"):
        assert np.array_equal(outputs[name], expected[name]), name


@pytest.mark.parametrize("margin", [1.5, 3.0])
def test_the_graph_holds_medians_to_the_anchors_level_as_the_pipeline_does(trained_pipelines, dataset, margin):
    pipeline = copy.deepcopy(trained_pipelines["A"]).set_params(regressor__level_margin=margin)
    # Students whose G2 is moved away from their G1 and G3: medians land on every side of the level cuts.
    rng = np.random.default_rng(0)
    records = pd.concat([dataset] * 4, ignore_index=True)
    records["G2"] = np.clip(records["G2"] + rng.integers(-4, 5, len(records)), 0, 20)
    outputs = onnx_predict(onnx_session(pipeline_to_onnx(pipeline, coverage=0.9)), records)
    encoded = pipeline[:-1].transform(records)
    regressor = pipeline[-1]
    expected = regressor.distribution(encoded)
    at_mark = regressor.centre_at_mark(encoded, regressor.estimate(encoded), expected["category"])
    lowered, raised = expected["point"] < at_mark, expected["point"] > at_mark
    assert lowered.sum() > 5 and raised.sum() > 5  # both branches of the graph are exercised
    expected["interval_low"], expected["interval_high"] = regressor.interval_for(
        expected["point"], expected["category"], coverage=0.9
    )
    for name in OUTPUTS:
        assert np.array_equal(outputs[name], expected[name]), name


@pytest.fixture(scope="module")
def mondrian_pipeline(dataset):
    """Setup B with Mondrian categories by predicted change and few trees."""
    pipeline = build_pipeline("B").set_params(
        regressor__category_edges=[-1.0, 0.0], regressor__estimator__mean__n_estimators=5,
        regressor__estimator__median__max_iter=5,
    )
    return pipeline.fit(dataset[list(SETUP_FEATURES["B"])], dataset[TARGET])


def test_the_graph_reads_the_category_of_each_student_as_the_pipeline_does(mondrian_pipeline, dataset):
    outputs = onnx_predict(onnx_session(pipeline_to_onnx(mondrian_pipeline, coverage=0.9)), dataset)
    expected = mondrian_pipeline[-1].distribution(mondrian_pipeline[:-1].transform(dataset))
    assert len(set(expected["category"].tolist())) == 3
    assert np.array_equal(outputs["category"], expected["category"])
    assert onnx_equality_check(mondrian_pipeline, pipeline_to_onnx(mondrian_pipeline, coverage=0.9), dataset,
                               coverage=0.9)["equal"]


def test_an_equality_check_finds_a_graph_whose_category_is_wrong(mondrian_pipeline, dataset, monkeypatch):
    graph = pipeline_to_onnx(mondrian_pipeline, coverage=0.9)
    regressor = mondrian_pipeline[-1]
    monkeypatch.setattr(regressor, "category_edges_", regressor.category_edges_ + 0.5)
    check = onnx_equality_check(mondrian_pipeline, graph, dataset, coverage=0.9)
    assert not check["equal"] and check["max_abs_diff"]["category"] >= 1


def test_docs_example_scores_an_exported_graph(register, small_pipelines, dataset, record, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    register()
    call_command("export_model", "1", "--format", "onnx")  # the default folder, studentperf-v1-onnx
    example = re.search(r"## ONNX export.*?```python\n(.*?)```", DOCS.read_text(), re.S).group(1)

    namespace = {}
    exec(compile(example, str(DOCS), "exec"), namespace)  # noqa: S102  (our own docs)

    frame = dataset.head(1)[list(SETUP_FEATURES["A"])]
    assert frame.iloc[0].to_dict() == record  # the example's student is the first of the data
    assert namespace["grade"][0] == pytest.approx(small_pipelines["A"].predict(frame)[0], abs=1e-4)
    assert re.search(r"^grade \d+\.\d\d, interval .* P\(pass\) 0\.\d{3}$", capsys.readouterr().out, re.M)
