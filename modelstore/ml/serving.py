"""What a served setup reads besides its ONNX graph, without scikit-learn (issue 19, lean serving memory).

A setup served by its proved graph needs, beyond the model call, the pipeline's `AttributeReference` step (the
attributes and their typical values, `filled`, the novelty check `unusual`) and its regressor's calibration
(the residual table and count per category, from which `interval_offsets_of` gives an interval at any
coverage). These are plain values and numpy arrays. At conversion they are written into the graph itself
(`serving_state_dumps`, the graph's metadata_props key SERVING_KEY), so they are proved, stored, encrypted and
integrity-checked with it; a serving process reads them back (`serving_state_loads`) into a `ServingReference`
and two arrays, and never imports scikit-learn, scipy, pandas or skops (tests/studentperf/test_lean_imports.py).

`ReferenceMethods` is the one implementation of `filled`, `unusual` and `unusual_tables`: the fitted
`estimators.AttributeReference` and the `ServingReference` rebuilt from a graph both use it, so both engines
fill, flag and explain a record alike. The state is JSON: numbers, strings, lists and dicts, numpy arrays as
{"dtype", "shape", "base64"} of their raw bytes (exact); nothing is unpickled.
"""
from __future__ import annotations

import base64
import json
import math

import numpy as np

from modelstore.ml.novelty import rarity_fast_tables, rarity_lookup, rarity_unusual
from modelstore.schema import FEATURES

# The graph's metadata_props key holding the serving state (JSON), and that state's format.
SERVING_KEY = "studentperf.serving"
SERVING_FORMAT = "studentperf-serving/1"
# The dtypes a state array may have: anything else in a graph's state is refused, not built.
_ARRAY_DTYPES = frozenset({"<f8", "<i8"})


class ReferenceMethods:
    """`filled`, `unusual` and `unusual_tables` over the state `feature_names_in_`, `reference_` and `rarity_`
    (None or absent: a version fitted before the novelty check). `_check_fitted` is the subclass's."""

    def _check_fitted(self) -> None:
        """Raise when there is no fitted state (the fitted estimator's check; a rebuilt state always has one)."""

    def unusual(self, columns, *, fast: list | None = None) -> tuple[np.ndarray, list[list[str]]] | None:
        """Per record (one array per attribute), whether it is unlike the training rows and why in words;
        None for a version fitted before the check existed. `fast`: `unusual_tables()`, kept by the caller."""
        self._check_fitted()
        state = getattr(self, "rarity_", None)
        return None if state is None else rarity_unusual(state, columns, fast=fast)

    def unusual_tables(self) -> list | None:
        """The lookup tables that score a few records at a time faster (`novelty.rarity_fast_tables`); built
        from the fitted state, not stored with it. None for a version fitted before the check existed."""
        self._check_fitted()
        state = getattr(self, "rarity_", None)
        return None if state is None else rarity_fast_tables(state)

    def filled(self, columns) -> dict[str, np.ndarray]:
        """`columns` (an array per attribute) with every unknown value replaced by the attribute's typical value
        (`reference_`): None or NaN (left unknown, schema.MAY_BE_UNKNOWN), or a category outside the schema's
        (a school the model was not trained on, settings.SCHOOLS). Unknown values thus have no effect on the
        prediction (an explanation's swap changes nothing), and the novelty check finds them typical. Numbers
        come back int64, categories objects; a column without unknown values is handed back as it was.
        Both engines call the model on filled columns (inference.predict_records; `transform` for the pipeline
        itself), so the ONNX graph never sees an unknown value."""
        self._check_fitted()
        filled = {}
        for name, values in columns.items():
            values = np.asarray(values)
            typical, feature = self.reference_.get(name), FEATURES.get(name)
            if typical is None or feature is None or (feature.kind == "int" and values.dtype.kind in "iu"):
                filled[name] = values
                continue
            if feature.kind == "int":
                unknown = np.fromiter((_is_missing(value) for value in values.tolist()), bool, len(values))
            else:
                allowed = frozenset(feature.choices)
                unknown = np.fromiter((value not in allowed for value in values.tolist()), bool, len(values))
            if unknown.any():
                values = values.astype(object)  # a copy: the caller's record arrays stay as they were
                values[unknown] = typical
            filled[name] = values.astype(np.int64) if feature.kind == "int" else values.astype(object, copy=False)
        return filled


class ServingReference(ReferenceMethods):
    """An `AttributeReference` step's state as read back from a graph: what `inference.Predictor` reads of it."""

    def __init__(self, *, features: list[str], reference: dict, rarity: dict | None):
        self.feature_names_in_ = np.asarray(features, dtype=object)
        self.reference_ = reference
        self.rarity_ = rarity


def serving_state_dumps(reference_step, calibration: tuple[np.ndarray, np.ndarray]) -> str:
    """The JSON text of what serves a setup besides its graph: `reference_step` (a fitted AttributeReference:
    its attributes, typical values and novelty state) and `calibration` (the regressor's `_calibration()`)."""
    rarity = getattr(reference_step, "rarity_", None)
    if rarity is not None:
        # The merged lookup arrays are rebuilt from the rest on reading (novelty.rarity_lookup), not stored.
        rarity = {
            **{key: value for key, value in rarity.items() if key not in ("sorted", "lookup")},
            "sorted": {name: _array_dumps(values) for name, values in rarity["sorted"].items()},
        }
    table, counts = calibration
    state = {
        "format": SERVING_FORMAT,
        "features": [str(name) for name in reference_step.feature_names_in_],
        "reference": {str(name): _plain(value) for name, value in reference_step.reference_.items()},
        "rarity": rarity,
        "calibration": {"table": _array_dumps(np.asarray(table, dtype=np.float64)),
                        "counts": _array_dumps(np.asarray(counts, dtype=np.int64))},
    }
    return json.dumps(state, allow_nan=False, sort_keys=True)


def serving_state_loads(text: str) -> tuple[ServingReference, tuple[np.ndarray, np.ndarray]]:
    """(the reference step, the calibration) from `serving_state_dumps`' text; ValueError when it is not one."""
    state = json.loads(text)
    if not isinstance(state, dict) or state.get("format") != SERVING_FORMAT:
        raise ValueError(f"not a {SERVING_FORMAT} serving state")
    rarity = state["rarity"]
    if rarity is not None:
        rarity = {**rarity, "sorted": {name: _array_loads(values) for name, values in rarity["sorted"].items()}}
        rarity["lookup"] = rarity_lookup(rarity)
    calibration = state["calibration"]
    reference = ServingReference(features=list(state["features"]), reference=dict(state["reference"]), rarity=rarity)
    return reference, (_array_loads(calibration["table"]), _array_loads(calibration["counts"]))


def interval_offsets_of(table: np.ndarray, counts: np.ndarray, coverage: float) -> tuple[np.ndarray, np.ndarray]:
    """`ConformalGradeRegressor.interval_offsets` from its calibration alone (`_calibration()`: the residual
    table and the count per category), so a served version needs only these two arrays, not the regressor."""
    if not 0 < coverage < 1:
        raise ValueError("coverage must be between 0 and 1")
    tail = (1 - coverage) / 2
    # The epsilon keeps float noise ((1 - 0.9) / 2 is 0.04999...) from moving a rank by one.
    low = [_order_statistic(row[:n], math.floor((n + 1) * tail + 1e-9)) for row, n in zip(table, counts)]
    high = [_order_statistic(row[:n], math.ceil((n + 1) * (1 - tail) - 1e-9)) for row, n in zip(table, counts)]
    return np.array(low), np.array(high)


def _order_statistic(sorted_values: np.ndarray, rank: int) -> float:
    """The rank-th smallest value (1-based); beyond the sample it is unbounded, so the grade range decides."""
    if rank < 1:
        return -math.inf
    if rank > len(sorted_values):
        return math.inf
    return float(sorted_values[rank - 1])


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _plain(value):
    """A typical value as JSON has it: numpy scalars become int, float or str."""
    return value.item() if isinstance(value, np.generic) else value


def _array_dumps(values: np.ndarray) -> dict:
    values = np.ascontiguousarray(values)
    dtype = values.dtype.newbyteorder("<").str
    if dtype not in _ARRAY_DTYPES:
        raise ValueError(f"a serving state array of dtype {dtype} is not stored")
    return {"dtype": dtype, "shape": list(values.shape),
            "base64": base64.b64encode(values.astype(dtype, copy=False).tobytes()).decode("ascii")}


def _array_loads(stored: dict) -> np.ndarray:
    dtype, shape = stored["dtype"], tuple(int(size) for size in stored["shape"])
    if dtype not in _ARRAY_DTYPES:
        raise ValueError(f"a serving state array of dtype {dtype!r} is refused")
    values = np.frombuffer(base64.b64decode(stored["base64"], validate=True), dtype=dtype)
    # A copy in native byte order, writable like the fitted state's arrays.
    return values.reshape(shape).astype(values.dtype.newbyteorder("="))
