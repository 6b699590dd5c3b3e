"""Running a setup's ONNX graph with onnxruntime, and proving it computes what its scikit-learn pipeline does."""
from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import onnxruntime

from modelstore.ml.onnx.outputs import OUTPUTS

if TYPE_CHECKING:  # a serving process runs graphs without importing pandas or scikit-learn
    import pandas as pd
    from sklearn.pipeline import Pipeline

_NUMPY_DTYPES = {"tensor(string)": object, "tensor(int64)": np.int64}
# session -> (its inputs as (name, numpy dtype), its output names): read once, not on every call.
_SIGNATURES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def onnx_session(model_bytes: bytes, *, threads: int = 1) -> onnxruntime.InferenceSession:
    """A CPU session with both thread pools sized explicitly and the nodes run one after the other.

    onnxruntime's default is a thread per core in each session, which oversubscribes a machine where
    several worker processes predict at once; one thread is also the fastest for a single record.

    Without onnxruntime's memory arena: each session's arena keeps the peak of its largest call for the life of
    the process, and a 1,000-record request with its explanations holds [rows, residuals] matrices in the
    graph (some 200 MiB more per worker, measured). Freed after each call, a one-record call is as fast.
    """
    options = onnxruntime.SessionOptions()
    options.enable_cpu_mem_arena = False
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = threads
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    return onnxruntime.InferenceSession(model_bytes, sess_options=options, providers=["CPUExecutionProvider"])


def onnx_inputs(session: onnxruntime.InferenceSession, columns: pd.DataFrame | Mapping) -> dict[str, np.ndarray]:
    """The session's feeds from a DataFrame or a mapping of columns (lists or arrays) holding at least its
    inputs: each column converted once, as a whole, to the input's dtype and shape [N, 1]. Extra columns
    (e.g. G1 for setup C) are ignored."""
    feeds = {}
    for name, dtype in _signature(session)[0]:
        values = columns[name]
        values = values.to_numpy() if hasattr(values, "to_numpy") else np.asarray(values)  # a pandas Series
        feeds[name] = values.astype(dtype, copy=False).reshape(-1, 1)
    return feeds


def onnx_predict(session: onnxruntime.InferenceSession, columns: pd.DataFrame | Mapping) -> dict[str, np.ndarray]:
    """{output name: array of shape [N]} for the rows of a DataFrame or mapping of columns (float64; the
    category int64)."""
    names = _signature(session)[1]
    return dict(zip(names, session.run(names, onnx_inputs(session, columns))))


def _signature(session: onnxruntime.InferenceSession) -> tuple[list[tuple[str, type]], list[str]]:
    signature = _SIGNATURES.get(session)
    if signature is None:
        signature = _SIGNATURES[session] = (
            [(node.name, _NUMPY_DTYPES[node.type]) for node in session.get_inputs()],
            [node.name for node in session.get_outputs()],
        )
    return signature


def sklearn_outputs(pipeline: Pipeline, frame: pd.DataFrame, *, coverage: float) -> dict[str, np.ndarray]:
    """The graph's outputs as the scikit-learn pipeline computes them in `inference.predict_records`."""
    encoded = pipeline[:-1].transform(frame)
    regressor = pipeline[-1]
    distribution = regressor.distribution(encoded)
    low, high = regressor.interval_for(distribution["point"], distribution["category"], coverage=coverage)
    return {**distribution, "interval_low": low, "interval_high": high}


def onnx_equality_check(
    pipeline: Pipeline, model_bytes: bytes, reference: pd.DataFrame, *, coverage: float, tolerance: float = 1e-4
) -> dict:
    """Whether the graph computes the pipeline's outputs on the `reference` rows within `tolerance`:
    {"equal", "max_abs_diff": {output: float}, "rows", "tolerance"}.

    An output the graph lacks, or returns in another shape, or non-finite where scikit-learn has a number,
    counts as an infinite difference. Bytes onnxruntime cannot load raise its own error.
    """
    expected = sklearn_outputs(pipeline, reference, coverage=coverage)
    found = onnx_predict(onnx_session(model_bytes), reference)
    differences = {name: _max_abs_diff(expected[name], found.get(name)) for name in OUTPUTS}
    return {
        "equal": all(difference <= tolerance for difference in differences.values()),
        "max_abs_diff": differences,
        "rows": len(reference),
        "tolerance": tolerance,
    }


def _max_abs_diff(expected: np.ndarray, found: np.ndarray | None) -> float:
    if found is None or np.shape(found) != np.shape(expected):
        return float("inf")
    difference = np.abs(np.asarray(found, dtype=np.float64) - expected)
    return float(np.max(np.where(np.isnan(difference), np.inf, difference), initial=0.0))
