"""Tree ensembles written as ai.onnx.ml 5 TreeEnsemble nodes compute, in onnxruntime, what scikit-learn does
to the last bits of a double; estimators not covered are left to skl2onnx."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper
from sklearn.ensemble import (
    ExtraTreesRegressor, GradientBoostingRegressor, HistGradientBoostingRegressor, RandomForestRegressor,
    VotingRegressor,
)
from sklearn.linear_model import LinearRegression
from sklearn.tree import DecisionTreeRegressor

from modelstore.ml.onnx import onnx_equality_check, pipeline_to_onnx
from modelstore.ml.onnx.trees import Tree, estimator_tree_nodes, tree_ensemble_attributes
from modelstore.ml.recipe import build_pipeline
from modelstore.schema import SETUP_FEATURES, TARGET


class _Scope:
    """What estimator_tree_nodes asks of skl2onnx's scope: unique names."""

    def __init__(self):
        self.taken: set[str] = set()

    def _unique(self, seed: str) -> str:
        name, n = seed, 0
        while name in self.taken:
            n += 1
            name = f"{seed}{n}"
        self.taken.add(name)
        return name

    get_unique_variable_name = get_unique_operator_name = _unique


class _Container:
    """What estimator_tree_nodes asks of skl2onnx's container: nodes and initializers, kept for a plain graph."""

    def __init__(self):
        self.nodes, self.initializers = [], []

    def add_node(self, op_type, inputs, outputs, op_domain="", op_version=None, name=None, **attributes):
        inputs, outputs = ([inputs] if isinstance(inputs, str) else inputs), ([outputs] if isinstance(outputs, str) else outputs)
        self.nodes.append(helper.make_node(op_type, inputs, outputs, name=name, domain=op_domain, **attributes))

    def add_initializer(self, name, dtype, shape, values):
        self.initializers.append(helper.make_tensor(name, dtype, shape, values))


def _session(estimator, features: int):
    scope, container = _Scope(), _Container()
    output = estimator_tree_nodes(scope, container, estimator, "X")
    assert output is not None
    graph = helper.make_graph(
        container.nodes, "trees", [helper.make_tensor_value_info("X", TensorProto.DOUBLE, [None, features])],
        [helper.make_tensor_value_info(output, TensorProto.DOUBLE, [None, 1])], container.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("ai.onnx.ml", 5)])
    onnx.checker.check_model(model)
    return onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]), output


def _encoded(dataset):
    pipeline = build_pipeline("B")
    frame = dataset[list(SETUP_FEATURES["B"])]
    encoded = pipeline[:-1].fit_transform(frame).to_numpy(dtype=np.float64)
    return encoded, dataset[TARGET].to_numpy(dtype=np.float64)


ESTIMATORS = {
    "forest": lambda: RandomForestRegressor(n_estimators=20, max_features=0.5, random_state=0),
    "extra trees": lambda: ExtraTreesRegressor(n_estimators=10, random_state=0),
    "one tree": lambda: DecisionTreeRegressor(max_depth=6, random_state=0),
    "boosting, absolute error": lambda: HistGradientBoostingRegressor(loss="absolute_error", max_iter=30, random_state=0),
    "boosting, squared error": lambda: HistGradientBoostingRegressor(max_iter=30, random_state=0),
    "voting, weighted": lambda: VotingRegressor(
        [("mean", RandomForestRegressor(n_estimators=10, random_state=0)),
         ("median", HistGradientBoostingRegressor(loss="absolute_error", max_iter=20, random_state=0))],
        weights=[0.3, 0.7],
    ),
    "voting, unweighted": lambda: VotingRegressor(
        [("a", DecisionTreeRegressor(max_depth=3)), ("b", HistGradientBoostingRegressor(max_iter=5))]
    ),
}


@pytest.mark.parametrize("kind", ESTIMATORS)
def test_a_covered_estimator_predicts_what_scikit_learn_does_in_double_precision(kind, dataset):
    X, y = _encoded(dataset)
    estimator = ESTIMATORS[kind]().fit(X, y)
    session, output = _session(estimator, X.shape[1])

    (found,) = session.run([output], {"X": X})
    # float32 trees (skl2onnx's) are ~1e-5 off; these differ only in the order of a few double additions.
    assert np.abs(found.ravel() - estimator.predict(X)).max() <= 1e-12


def test_a_tree_that_is_one_leaf_and_a_missing_value_are_written_as_scikit_learn_reads_them(dataset):
    X, y = _encoded(dataset)
    with_missing = X.copy()
    with_missing[::7, 3] = np.nan
    forest = RandomForestRegressor(n_estimators=5, random_state=0).fit(with_missing, y)
    stump = DecisionTreeRegressor().fit(X, np.full(len(y), 7.0))  # nothing to split: the root is a leaf
    assert stump.tree_.node_count == 1
    for estimator in (forest, stump):
        session, output = _session(estimator, X.shape[1])
        (found,) = session.run([output], {"X": with_missing})
        assert np.abs(found.ravel() - estimator.predict(with_missing)).max() <= 1e-12


def test_attributes_of_a_hand_made_tree():
    # x0 <= 1.5 ? (x1 <= 0.5 ? 10 : 20) : 30, and a second tree that is one leaf (5): summed.
    tree = Tree(
        left=np.array([1, 3, -1, -1, -1]), right=np.array([2, 4, -1, -1, -1]), feature=np.array([0, 1, 0, 0, 0]),
        threshold=np.array([1.5, 0.5, 0, 0, 0]), missing_left=np.zeros(5, dtype=bool),
        value=np.array([0, 0, 30.0, 10.0, 20.0]),
    )
    leaf = Tree(left=np.array([-1]), right=np.array([-1]), feature=np.array([-2]), threshold=np.array([-2.0]),
                missing_left=np.zeros(1, dtype=bool), value=np.array([5.0]))
    attributes = tree_ensemble_attributes([tree, leaf], average=False)

    assert attributes["tree_roots"] == [0, 2] and attributes["nodes_featureids"] == [0, 1, 0]
    assert (attributes["nodes_truenodeids"], attributes["nodes_trueleafs"]) == ([1, 1, 3], [0, 1, 1])
    assert (attributes["nodes_falsenodeids"], attributes["nodes_falseleafs"]) == ([0, 2, 3], [1, 1, 1])
    assert onnx.numpy_helper.to_array(attributes["leaf_weights"]).tolist() == [30.0, 10.0, 20.0, 5.0]
    node = helper.make_node("TreeEnsemble", ["X"], ["Y"], domain="ai.onnx.ml", **attributes)
    graph = helper.make_graph([node], "t", [helper.make_tensor_value_info("X", TensorProto.DOUBLE, [None, 2])],
                              [helper.make_tensor_value_info("Y", TensorProto.DOUBLE, [None, 1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("ai.onnx.ml", 5)])
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (found,) = session.run(["Y"], {"X": np.array([[1.0, 0.0], [1.0, 1.0], [2.0, 0.0]])})
    assert found.ravel().tolist() == [15.0, 25.0, 35.0]


def test_boosting_with_a_link_function_is_not_covered(dataset):
    X, y = _encoded(dataset)
    poisson = HistGradientBoostingRegressor(loss="poisson", max_iter=5).fit(X, y)  # exp of the trees' sum

    assert estimator_tree_nodes(_Scope(), _Container(), poisson, "X") is None
    assert estimator_tree_nodes(_Scope(), _Container(), VotingRegressor([("p", poisson)]).fit(X, y), "X") is None


@pytest.mark.parametrize("estimator", [GradientBoostingRegressor(n_estimators=5), LinearRegression()])
def test_an_estimator_not_covered_is_left_to_skl2onnx(estimator, dataset):
    pipeline = build_pipeline("C").set_params(regressor__estimator=estimator)
    frame = dataset[list(SETUP_FEATURES["C"])]
    pipeline.fit(frame, dataset[TARGET])
    assert estimator_tree_nodes(_Scope(), _Container(), pipeline[-1].estimator_, "X") is None

    graph = pipeline_to_onnx(pipeline, coverage=0.9)

    imports = {entry.domain: entry.version for entry in onnx.load_from_string(graph).opset_import}
    assert imports.get("ai.onnx.ml", 3) <= 3  # no TreeEnsemble, so no ai.onnx.ml 5
    assert onnx_equality_check(pipeline, graph, frame, coverage=0.9, tolerance=1e-4)["equal"]


def test_the_recipe_graphs_hold_double_precision_trees(small_pipelines):
    for setup, pipeline in small_pipelines.items():
        model = onnx.load_from_string(pipeline_to_onnx(pipeline, coverage=0.9))
        operators = {(node.domain, node.op_type) for node in model.graph.node}
        assert ("ai.onnx.ml", "TreeEnsemble") in operators and ("ai.onnx.ml", "TreeEnsembleRegressor") not in operators
        assert {entry.domain: entry.version for entry in model.opset_import}["ai.onnx.ml"] == 5
