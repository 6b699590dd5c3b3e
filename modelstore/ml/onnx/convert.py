"""A fitted setup pipeline as one ONNX graph: skl2onnx converts the encoding and the pass classifier, `trees`
writes the tree ensembles (skl2onnx converts any other estimator), plain ONNX nodes do what
`ConformalGradeRegressor` adds: the anchor, clipping, the Mondrian category, the centre the classifier moves
and the level margin holds, and the outputs read from the predictive distribution (median, interval quantiles,
mass at a pass).

Precision: the encoded attributes (one-hot 0/1, small integers) are exact in float32 and double, so the trees
take the same branches as in scikit-learn. The recipe's tree ensembles (forests, HistGradientBoosting, a
VotingRegressor of them) are written by `trees` as ai.onnx.ml 5 `TreeEnsemble` nodes with double splits, leaf
values and sums: the estimator's output equals scikit-learn's to ~1e-14. Other estimators go through skl2onnx,
whose trees (ai.onnx.ml 1-3) sum in float32 (~1e-5). Everything after the estimator runs in double precision
like scikit-learn, and the outputs stay double: the grade and the pass probability are compared with the
marks (9.5, 0.5) on the very sums scikit-learn compares, so a float32 cast cannot move one across a mark.
With float32 trees a residual count could differ by one where a centre lies within their error of a tie;
`onnx_equality_check` catches it (docs/model.md, "ONNX export").
"""
from __future__ import annotations

import copy
import json
import threading
from contextlib import contextmanager

import numpy as np
import onnx
import skl2onnx
from onnx import TensorProto
from skl2onnx import convert_sklearn, get_model_alias, update_registered_converter
from skl2onnx.algebra.onnx_ops import (
    OnnxAdd, OnnxAnd, OnnxCast, OnnxClip, OnnxDiv, OnnxFloor, OnnxGather, OnnxGatherElements, OnnxGreater,
    OnnxGreaterOrEqual, OnnxLess, OnnxMin, OnnxMul, OnnxReduceSum, OnnxReshape, OnnxSub, OnnxWhere, OnnxXor,
)
from skl2onnx.common import tree_ensemble
from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, Int64TensorType, StringTensorType
from sklearn.base import BaseEstimator
from sklearn.ensemble import VotingRegressor
from sklearn.pipeline import Pipeline

from modelstore.ml.estimators import LEVEL_CUTS_ABOVE_PASS, PASS_THRESHOLD
from modelstore.ml.serving import SERVING_KEY, serving_state_dumps
from modelstore.ml.onnx.outputs import OUTPUTS
from modelstore.ml.onnx.trees import estimator_tree_nodes, tree_ensemble_opset_set
from modelstore.schema import CATEGORICAL, GRADE_MAX, GRADE_MIN, SETUP_FEATURES
from studentperf.errors import ApplicationError

# The highest opsets skl2onnx may use: ONNX 18 (opset 18 came with onnx 1.13, 2022) and ai.onnx.ml 3. skl2onnx
# imports each domain at the lowest version its nodes need; a graph with `trees`' TreeEnsemble nodes then
# imports ai.onnx.ml 5 (onnx 1.16, 2024), which skl2onnx 1.20 cannot record itself (trees.tree_ensemble_opset_set).
TARGET_OPSET = {"": 18, "ai.onnx.ml": 3}
INPUT_DTYPES = {"category": "string", "int": "int64"}
_ALIAS = "StudentperfGradeOutputs"
# Conversions patch a skl2onnx module attribute for their duration (see _hgb_leaf_flags_as_int): one at a time.
_conversion_lock = threading.Lock()


def pipeline_to_onnx(pipeline: Pipeline, *, coverage: float, metadata: dict | None = None) -> bytes:
    """The serialized ONNX model of one fitted setup pipeline (inputs and outputs: see the package docstring).

    The model's metadata_props say the setup, the coverage, the inputs with their types, the outputs and
    the producer, hold the serving state (`serving.SERVING_KEY`: the reference step's state and the
    calibration, which serve the setup beside the graph), plus `metadata` (str values). ApplicationError if
    the pipeline does not take a setup's attributes or skl2onnx cannot convert one of its steps.
    """
    if not 0 < coverage < 1:
        raise ApplicationError("coverage must be between 0 and 1")
    setup = _setup_of(pipeline)
    features = list(SETUP_FEATURES[setup])
    encode, regressor = pipeline.named_steps["encode"], pipeline.named_steps["regressor"]
    outputs = _GradeOutputs(regressor, encoded_names=list(encode.get_feature_names_out()), coverage=coverage)
    initial_types = [
        (name, StringTensorType([None, 1]) if input_dtype(name) == "string" else Int64TensorType([None, 1]))
        for name in features
    ]
    try:
        with _conversion_lock, _hgb_leaf_flags_as_int():
            update_registered_converter(
                _GradeOutputs, _ALIAS, _shape_grade_outputs, _convert_grade_outputs, parser=_parse_grade_outputs
            )
            model = convert_sklearn(
                # The AttributeReference step only selects the setup's columns: the graph's inputs do that.
                Pipeline([("encode", encode), ("outputs", outputs)]),
                initial_types=initial_types,
                target_opset=TARGET_OPSET,
                name=f"studentperf-setup-{setup}",
            )
    # A converter fails in whatever way the step or onnx makes it fail; any failure means "no graph".
    except Exception as exc:  # noqa: BLE001
        raise ApplicationError(f"The setup {setup} pipeline cannot be converted to ONNX: {exc!r}") from exc
    tree_ensemble_opset_set(model)
    onnx.helper.set_model_props(model, {
        "studentperf.setup": setup,
        "studentperf.coverage": repr(float(coverage)),
        "studentperf.inputs": json.dumps({name: input_dtype(name) for name in features}),
        "studentperf.outputs": json.dumps(list(OUTPUTS)),
        "producer": f"studentperf modelstore.ml.onnx with skl2onnx {skl2onnx.__version__}",
        # What serves the setup besides the graph, so a serving process needs no pipeline (modelstore.ml.serving).
        SERVING_KEY: serving_state_dumps(pipeline.named_steps["reference"], regressor._calibration()),
        **{key: str(value) for key, value in (metadata or {}).items()},
    })
    model.doc_string = (
        f"studentperf, setup {setup}: the final mathematics grade (0-20), its {coverage:.0%} prediction "
        "interval and the probability of a pass (G3 >= 10), from the UCI attributes."
    )
    return model.SerializeToString()


def input_dtype(name: str) -> str:
    """The ONNX input type of attribute `name`: "string" for categories, "int64" for numbers."""
    return INPUT_DTYPES["category" if name in CATEGORICAL else "int"]


def _setup_of(pipeline: Pipeline) -> str:
    names = [str(name) for name in getattr(pipeline, "feature_names_in_", ())]
    for setup, features in SETUP_FEATURES.items():
        if names == list(features):
            return setup
    raise ApplicationError("The pipeline does not take the attributes of any setup, so it has no ONNX form.")


class _GradeOutputs(BaseEstimator):
    """The steps after the encoding as one skl2onnx operator: a fitted `ConformalGradeRegressor`'s estimators
    and what its predict, interval_for (at one coverage) and pass_proba compute. A BaseEstimator because
    skl2onnx asks scikit-learn for its tags; never fitted, it only carries the fitted parts."""

    def __init__(self, regressor=None, *, encoded_names=(), coverage: float = 0.9):
        self.regressor, self.encoded_names, self.coverage = regressor, encoded_names, coverage

    @property
    def parts(self) -> dict:
        regressor = self.regressor
        table, counts = regressor._calibration()
        low, high = regressor.interval_offsets(self.coverage)
        edges = np.asarray(getattr(regressor, "category_edges_", ()), dtype=np.float64)
        return {
            "estimator": _with_array_weights(regressor.estimator_),
            "classifier": getattr(regressor, "pass_classifier_", None),
            "level_margin": getattr(regressor, "level_margin", None),  # None in versions fitted before it
            "anchor_column": None if regressor.anchor is None else list(self.encoded_names).index(regressor.anchor),
            # Without categories one edge at +inf puts every student in category 0.
            "edges": (edges if len(edges) else np.array([np.inf])).reshape(1, -1),
            "table": np.asarray(table, dtype=np.float64),
            "counts": np.asarray(counts, dtype=np.float64),
            "median_offsets": np.asarray(regressor.median_offsets(), dtype=np.float64),
            "interval_offsets": (np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)),
        }


def _with_array_weights(estimator):
    """skl2onnx's VotingRegressor converter calls `weights.sum()`: a shallow copy with the weights as an array
    (the recipe gives a list) converts, and the pipeline's own estimator is left as it was."""
    if isinstance(estimator, VotingRegressor) and isinstance(estimator.weights, (list, tuple)):
        estimator = copy.copy(estimator)
        estimator.weights = np.asarray(estimator.weights, dtype=float)
    return estimator


def _parse_grade_outputs(scope, model, inputs, custom_parsers=None):
    operator = scope.declare_local_operator(_ALIAS, model)
    operator.inputs = inputs
    for name in OUTPUTS:
        operator.outputs.append(scope.declare_local_variable(name, _output_type(name)))
    return operator.outputs


def _shape_grade_outputs(operator):
    for output, name in zip(operator.outputs, OUTPUTS):
        output.type = _output_type(name)


def _output_type(name: str):
    return Int64TensorType([None]) if name == "category" else DoubleTensorType([None])


def _convert_grade_outputs(scope, operator, container):
    parts = operator.raw_operator.parts
    version = container.target_opset

    def clip(values, low=GRADE_MIN, high=GRADE_MAX):
        return OnnxClip(values, np.array(low, dtype=np.float64), np.array(high, dtype=np.float64), op_version=version)

    def as_double(values):
        return OnnxCast(values, to=TensorProto.DOUBLE, op_version=version)

    encoded = operator.inputs[0]  # float32 [N, F]: one-hot 0/1 and small integers, exact in float32 and double
    # As in scikit-learn, the estimators see the encoded attributes as doubles.
    encoded_double = scope.declare_local_variable("encoded_double", DoubleTensorType())
    container.add_node(
        "Cast", encoded.onnx_name, encoded_double.onnx_name, to=TensorProto.DOUBLE,
        name=scope.get_unique_operator_name("Cast"),
    )
    trees = estimator_tree_nodes(scope, container, parts["estimator"], encoded_double.onnx_name)
    if trees is None:  # not a tree ensemble written here: skl2onnx's converter, in float32
        (change,) = _sub_model(scope, parts["estimator"], encoded, [FloatTensorType()])
        grade = as_double(change)
    else:
        grade = scope.declare_local_variable("estimator_output", DoubleTensorType())
        container.add_node("Identity", trees, grade.onnx_name, name=scope.get_unique_operator_name("Identity"))
    anchor = None
    if parts["anchor_column"] is not None:
        anchor = as_double(
            OnnxGather(encoded, np.array([parts["anchor_column"]], dtype=np.int64), axis=1, op_version=version)
        )
        grade = OnnxAdd(grade, anchor, op_version=version)
    estimate = OnnxReshape(clip(grade), np.array([-1, 1], dtype=np.int64), op_version=version)  # [N, 1]
    # The Mondrian category: how many edges the predicted change reaches (numpy's searchsorted, side="right").
    change = estimate if anchor is None else OnnxSub(estimate, anchor, op_version=version)
    reached = OnnxCast(OnnxGreaterOrEqual(change, parts["edges"], op_version=version), to=TensorProto.INT64,
                       op_version=version)
    category = OnnxReduceSum(reached, np.array([1], dtype=np.int64), keepdims=0, op_version=version)  # [N]

    def per_category(values: np.ndarray):  # [N, 1]: the category's constant for each row
        gathered = OnnxGather(values, category, axis=0, op_version=version)
        return OnnxReshape(gathered, np.array([-1, 1], dtype=np.int64), op_version=version)

    point = estimate
    if parts["classifier"] is not None:
        point = _centre_moved(scope, parts, encoded_double, estimate, category, version, clip)
    if parts["level_margin"] is not None and anchor is not None:
        point = _level_held(point, per_category(parts["median_offsets"]), anchor, parts["level_margin"], version,
                            clip)
    low, high = parts["interval_offsets"]
    results = {
        "grade": clip(OnnxAdd(point, per_category(parts["median_offsets"]), op_version=version)),
        "interval_low": clip(OnnxAdd(point, per_category(low), op_version=version)),
        "interval_high": clip(OnnxAdd(point, per_category(high), op_version=version)),
        "pass_probability": _pass_probability(point, category, parts["table"], parts["counts"], version),
        "point": point,
        "category": category,
    }
    for output, name in zip(operator.outputs, OUTPUTS):
        flat = OnnxReshape(results[name], np.array([-1], dtype=np.int64), op_version=version, output_names=[output])
        flat.add_to(scope, container)


def _sub_model(scope, model, source, output_types) -> list:
    """The output variables of `model` fed with `source`, converted by skl2onnx's own converter for its type."""
    operator = scope.declare_local_operator(get_model_alias(type(model)), model)
    operator.inputs = [source]
    for position, output_type in enumerate(output_types):
        operator.outputs.append(scope.declare_local_variable(f"{operator.onnx_name}_out{position}", output_type))
    return operator.outputs


def _centre_moved(scope, parts: dict, encoded_double, estimate, category, version: int, clip):
    """`ConformalGradeRegressor.centre`: where the pass classifier's call (p >= 0.5) differs from the one the
    distribution centred on the estimate makes, the centre 9.5 - r, r the category's residual of 0-based rank
    min(floor((1 - p) n), n - 1); elsewhere the estimate."""
    scope.add_options(id(parts["classifier"]), {"zipmap": False})
    _, probabilities = _sub_model(scope, parts["classifier"], encoded_double, [Int64TensorType(), DoubleTensorType()])
    chance = OnnxGather(probabilities, np.array([1], dtype=np.int64), axis=1, op_version=version)  # [N, 1]
    at_estimate = _pass_probability(estimate, category, parts["table"], parts["counts"], version)
    half = np.array(0.5, dtype=np.float64)
    disagree = OnnxXor(
        OnnxGreaterOrEqual(at_estimate, half, op_version=version), OnnxGreaterOrEqual(chance, half, op_version=version),
        op_version=version,
    )
    n = OnnxReshape(OnnxGather(parts["counts"], category, axis=0, op_version=version),
                    np.array([-1, 1], dtype=np.int64), op_version=version)
    rank = OnnxCast(
        OnnxMin(
            OnnxFloor(OnnxMul(OnnxSub(np.array(1.0), chance, op_version=version), n, op_version=version),
                      op_version=version),
            OnnxSub(n, np.array(1.0), op_version=version), op_version=version,
        ),
        to=TensorProto.INT64, op_version=version,
    )
    residuals = OnnxGather(parts["table"], category, axis=0, op_version=version)  # [N, width]
    residual = OnnxGatherElements(residuals, rank, axis=1, op_version=version)  # [N, 1]
    moved = clip(OnnxSub(np.array(PASS_THRESHOLD, dtype=np.float64), residual, op_version=version))
    return OnnxWhere(disagree, moved, estimate, op_version=version)


def _level_held(point, offsets, anchor, margin: float, version: int, clip):
    """`ConformalGradeRegressor.level_held`, with the same double operations in the same order: the median
    clip(point + offset); per cut, rising then falling, where the median lies across it from the anchor by
    less than `margin` (and at or above the pass mark), the centre `whole - offset`."""
    median = clip(OnnxAdd(point, offsets, op_version=version))

    def const(value: float):
        return np.array(value, dtype=np.float64)

    def both(*conditions):
        result = conditions[0]
        for condition in conditions[1:]:
            result = OnnxAnd(result, condition, op_version=version)
        return result

    above = OnnxGreaterOrEqual(median, const(PASS_THRESHOLD), op_version=version)
    held = point
    for cut in LEVEL_CUTS_ABOVE_PASS:
        up = both(
            above, OnnxLess(anchor, const(cut), op_version=version),
            OnnxGreaterOrEqual(median, const(cut), op_version=version),
            OnnxLess(median, const(cut + margin), op_version=version),
        )
        held = OnnxWhere(up, OnnxSub(const(cut - 0.5), offsets, op_version=version), held, op_version=version)
    for cut in reversed(LEVEL_CUTS_ABOVE_PASS):
        down = both(
            above, OnnxGreater(anchor, const(cut), op_version=version),
            OnnxLess(median, const(cut), op_version=version),
            OnnxGreaterOrEqual(median, const(cut - margin), op_version=version),
        )
        held = OnnxWhere(down, OnnxSub(const(cut + 0.5), offsets, op_version=version), held, op_version=version)
    return held


def _pass_probability(point, category, table: np.ndarray, counts: np.ndarray, version: int):
    """(k + 1) / (n + 2), k the residuals r of the row's category with point + r >= 9.5, as
    `ConformalGradeRegressor.pass_proba_for` counts them: the same double sums, compared with the same mark.

    The category's residuals are gathered as a [N, width] row of the table (padded with -inf, which never
    reaches a pass) and the comparisons summed; the residual counts of the recipe are a few hundred.
    """
    residuals = OnnxGather(table, category, axis=0, op_version=version)  # [N, width]
    reaches = OnnxGreaterOrEqual(
        OnnxAdd(point, residuals, op_version=version), np.array(PASS_THRESHOLD, dtype=np.float64), op_version=version
    )
    passing = OnnxReduceSum(
        OnnxCast(reaches, to=TensorProto.DOUBLE, op_version=version), np.array([1], dtype=np.int64), keepdims=1,
        op_version=version,
    )
    n = OnnxReshape(OnnxGather(counts, category, axis=0, op_version=version), np.array([-1, 1], dtype=np.int64),
                    op_version=version)
    return OnnxDiv(
        OnnxAdd(passing, np.array(1.0), op_version=version), OnnxAdd(n, np.array(2.0), op_version=version),
        op_version=version,
    )


@contextmanager
def _hgb_leaf_flags_as_int():
    """Let skl2onnx 1.20 convert HistGradientBoostingRegressor (scikit-learn 1.9), for one conversion.

    Its HGB tree walk (`add_tree_to_attribute_pairs_hist_gradient_boosting`) passes the Python bool
    `missing = False` for every leaf as `nodes_missing_value_tracks_true`, an ONNX list-of-ints attribute,
    and onnx refuses it: "Field onnx.AttributeProto.ints: Expected an int, got a boolean". The wrapper
    hands the flag on as an int (False -> 0, True -> 1: what ONNX means by it). The module attribute is
    restored on exit; a skl2onnx that passes ints already goes through the wrapper unchanged.
    """
    original = tree_ensemble.add_node

    def add_node(*args, nodes_missing_value_tracks_true=0, **kwargs):
        return original(*args, nodes_missing_value_tracks_true=int(nodes_missing_value_tracks_true), **kwargs)

    tree_ensemble.add_node = add_node
    try:
        yield
    finally:
        tree_ensemble.add_node = original
