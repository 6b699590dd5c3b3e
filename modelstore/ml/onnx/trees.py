"""scikit-learn's tree ensembles as ONNX `TreeEnsemble` nodes (ai.onnx.ml 5) in double precision.

skl2onnx 1.20 writes trees as `TreeEnsembleRegressor` (ai.onnx.ml 1-3), whose thresholds and leaf values are
float32 and whose sums onnxruntime keeps in float32: a grade within ~1e-5 of scikit-learn's. That is close, but
a pass probability counts the residuals on either side of `9.5 - grade`, so a grade that close to a tie can
move the count by one, fail the equality proof and leave the setup to scikit-learn. `TreeEnsemble` takes its
splits and leaf weights as double tensors and sums in double: written here from the estimators' own arrays
(`tree_` of a forest's trees, `_predictors` of HistGradientBoosting), the graph's trees compute what
scikit-learn computes, to the last bits of a double. (scikit-learn's forests compare the inputs as float32:
the same branches for the schema's inputs, which are all small integers once encoded.)

`estimator_tree_nodes` covers what the recipe trains: RandomForestRegressor, ExtraTreesRegressor,
DecisionTreeRegressor, HistGradientBoostingRegressor with an identity link, and a VotingRegressor of those.
It returns None for anything else, which skl2onnx's own converters then take (in float32).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from onnx import TensorProto, numpy_helper
from sklearn.ensemble import (
    ExtraTreesRegressor, HistGradientBoostingRegressor, RandomForestRegressor, VotingRegressor,
)
from sklearn.tree import DecisionTreeRegressor

ML_DOMAIN = "ai.onnx.ml"
TREE_ENSEMBLE_OPSET = 5
_AVERAGE, _SUM = 0, 1  # TreeEnsemble's aggregate_function
_BRANCH_LEQ = 0  # TreeEnsemble's nodes_modes: x <= split goes to the true branch, as in scikit-learn
# The losses whose prediction is the raw sum of the trees (no link function to invert).
_IDENTITY_LOSSES = ("squared_error", "absolute_error", "quantile")


@dataclass(frozen=True)
class Tree:
    """One tree by node id: children (-1 at a leaf), the feature and threshold tested (x <= threshold goes
    left), where a missing value goes, and the value of each leaf."""

    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray
    value: np.ndarray


def estimator_tree_nodes(scope, container, estimator, source: str) -> str | None:
    """Add nodes computing `estimator.predict` on `source` (a double [N, F] tensor's name) and return the name
    of their double [N, 1] output; None, and nothing added, if the estimator is not one covered here."""
    if not _covered(estimator):
        return None
    return _nodes(scope, container, estimator, source)


def tree_ensemble_opset_set(model) -> None:
    """Import ai.onnx.ml at version 5 in a converted model (onnx ModelProto) holding `TreeEnsemble` nodes, the
    version that defines them; other ai.onnx.ml operators skl2onnx writes (OneHotEncoder, LinearClassifier)
    are unchanged there."""
    if any(node.op_type == "TreeEnsemble" and node.domain == ML_DOMAIN for node in model.graph.node):
        for imported in model.opset_import:
            if imported.domain == ML_DOMAIN:
                imported.version = max(imported.version, TREE_ENSEMBLE_OPSET)


def tree_ensemble_attributes(trees: list[Tree], *, average: bool) -> dict:
    """The attributes of one single-target `TreeEnsemble` node over `trees`: the mean of their leaves
    (`average`, a forest) or their sum (boosting)."""
    features, splits, missing, true_ids, true_leafs, false_ids, false_leafs, weights, roots = ([] for _ in range(9))
    for tree in trees:
        is_leaf = tree.left == -1
        interior, leaves = np.flatnonzero(~is_leaf), np.flatnonzero(is_leaf)
        position = np.empty(len(is_leaf), dtype=np.int64)  # node id -> index among the interior nodes or leaves
        position[interior] = len(features) + np.arange(len(interior))
        position[leaves] = len(weights) + np.arange(len(leaves))
        weights.extend(tree.value[leaves].tolist())
        if is_leaf[0]:
            # A tree that is one leaf: TreeEnsemble roots are interior nodes, so a split whose branches both end there.
            roots.append(len(features))
            features.append(0)
            splits.append(0.0)
            missing.append(0)
            true_ids.append(position[0])
            true_leafs.append(1)
            false_ids.append(position[0])
            false_leafs.append(1)
            continue
        roots.append(int(position[0]))
        left, right = tree.left[interior], tree.right[interior]
        features.extend(tree.feature[interior].tolist())
        splits.extend(tree.threshold[interior].tolist())
        missing.extend(tree.missing_left[interior].astype(np.int64).tolist())
        true_ids.extend(position[left].tolist())
        true_leafs.extend(is_leaf[left].astype(np.int64).tolist())
        false_ids.extend(position[right].tolist())
        false_leafs.extend(is_leaf[right].astype(np.int64).tolist())
    return {
        "n_targets": 1,
        "aggregate_function": _AVERAGE if average else _SUM,
        "post_transform": 0,
        "tree_roots": roots,
        "nodes_featureids": [int(feature) for feature in features],
        "nodes_modes": numpy_helper.from_array(np.full(len(features), _BRANCH_LEQ, dtype=np.uint8), "nodes_modes"),
        "nodes_splits": numpy_helper.from_array(np.asarray(splits, dtype=np.float64), "nodes_splits"),
        "nodes_missing_value_tracks_true": missing,
        "nodes_truenodeids": [int(i) for i in true_ids],
        "nodes_trueleafs": true_leafs,
        "nodes_falsenodeids": [int(i) for i in false_ids],
        "nodes_falseleafs": false_leafs,
        "leaf_targetids": [0] * len(weights),
        "leaf_weights": numpy_helper.from_array(np.asarray(weights, dtype=np.float64), "leaf_weights"),
    }


def _covered(estimator) -> bool:
    if isinstance(estimator, VotingRegressor):
        return all(_covered(member) for member in estimator.estimators_)
    if isinstance(estimator, (RandomForestRegressor, ExtraTreesRegressor)):
        return getattr(estimator, "n_outputs_", 1) == 1
    if isinstance(estimator, DecisionTreeRegressor):
        return estimator.n_outputs_ == 1
    if isinstance(estimator, HistGradientBoostingRegressor):
        nodes = [predictor.nodes for (predictor,) in estimator._predictors]
        return estimator.loss in _IDENTITY_LOSSES and not any(node["is_categorical"].any() for node in nodes)
    return False


def _nodes(scope, container, estimator, source: str) -> str:
    if isinstance(estimator, VotingRegressor):
        # np.average(predictions, axis=1, weights=w): sum of prediction x weight, then / sum of the weights.
        outputs = [_nodes(scope, container, member, source) for member in estimator.estimators_]
        weights = estimator._weights_not_none or [1.0] * len(outputs)
        weighted = [_binary(scope, container, "Mul", output, float(weight)) for output, weight in zip(outputs, weights)]
        total = scope.get_unique_variable_name("voting_sum")
        container.add_node("Sum", weighted, total, name=scope.get_unique_operator_name("Sum"))
        return _binary(scope, container, "Div", total, float(np.sum(weights)))
    if isinstance(estimator, HistGradientBoostingRegressor):
        trees = _ensemble(scope, container, list(_boosting_trees(estimator)), source, average=False)
        return _binary(scope, container, "Add", trees, float(np.ravel(estimator._baseline_prediction)[0]))
    forest = estimator.estimators_ if hasattr(estimator, "estimators_") else [estimator]
    return _ensemble(scope, container, [_tree(member.tree_) for member in forest], source, average=True)


def _ensemble(scope, container, trees: list[Tree], source: str, *, average: bool) -> str:
    output = scope.get_unique_variable_name("tree_ensemble")
    # skl2onnx 1.20 refuses to record ai.onnx.ml 5 in a model: the node is added as of version 3, and
    # `tree_ensemble_opset_set` corrects the model's import once skl2onnx is done.
    container.add_node(
        "TreeEnsemble", [source], output, op_domain=ML_DOMAIN, op_version=3,
        name=scope.get_unique_operator_name("TreeEnsemble"), **tree_ensemble_attributes(trees, average=average),
    )
    return output


def _binary(scope, container, op_type: str, left: str, constant: float) -> str:
    right = scope.get_unique_variable_name(f"{op_type.lower()}_by")
    container.add_initializer(right, TensorProto.DOUBLE, [], [constant])
    output = scope.get_unique_variable_name(op_type.lower())
    container.add_node(op_type, [left, right], output, name=scope.get_unique_operator_name(op_type))
    return output


def _tree(tree_) -> Tree:
    """A fitted scikit-learn `Tree` (the `tree_` of a decision tree)."""
    missing = getattr(tree_, "missing_go_to_left", None)
    return Tree(
        left=tree_.children_left, right=tree_.children_right, feature=tree_.feature, threshold=tree_.threshold,
        missing_left=np.zeros(tree_.node_count, dtype=bool) if missing is None else np.asarray(missing, dtype=bool),
        value=tree_.value[:, 0, 0],
    )


def _boosting_trees(estimator: HistGradientBoostingRegressor) -> Iterator[Tree]:
    for (predictor,) in estimator._predictors:
        nodes = predictor.nodes
        leaf = nodes["is_leaf"].astype(bool)
        yield Tree(
            left=np.where(leaf, -1, nodes["left"].astype(np.int64)),  # stored as uint32
            right=np.where(leaf, -1, nodes["right"].astype(np.int64)),
            feature=nodes["feature_idx"].astype(np.int64),
            threshold=nodes["num_threshold"].astype(np.float64),
            missing_left=nodes["missing_go_to_left"].astype(bool),
            value=nodes["value"].astype(np.float64),
        )
