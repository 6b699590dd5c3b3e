"""Predicting validated records with a set of per-setup models: grade, interval, pass chance, reasons."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import onnxruntime

from modelstore.ml.explain import predict_and_explain
from modelstore.ml.onnx import onnx_predict
from modelstore.ml.serving import SERVING_KEY, ReferenceMethods, interval_offsets_of, serving_state_loads
from modelstore.schema import CATEGORICAL, GRADE_MAX, GRADE_MIN, PASS_THRESHOLD, setup_for
from studentperf.errors import ApplicationError

if TYPE_CHECKING:  # a process serving graphs only never imports scikit-learn or pandas (modelstore.ml.serving)
    from sklearn.pipeline import Pipeline

# A pass chance of 0.5 or more is a pass call: the mark the median's 9.5 corresponds to.
PASS_CHANCE_MARK = 0.5
# Rows per onnxruntime call at most. A 1,000-record request sends some 16,000 rows (the records and their
# explanations' variants), and the graph holds [rows, residuals] matrices of doubles: in one call, some 50 MiB
# each, of which some 30 MiB stayed in a worker's heap after the request; in calls of this many rows, a few MiB,
# for about 2 % more time (the rows are independent, so the results are the same floats; docs/performance.md,
# "Memory").
ONNX_CHUNK_ROWS = 4096


# What a model call returns per record (both engines): the distribution's centre and Mondrian category, its
# median (the grade) and its mass at a pass.
OUTPUTS = ("grade", "pass_probability", "point", "category")


@dataclass(frozen=True, eq=False)
class Predictor:
    """One setup's model as served: the onnxruntime session of its ONNX graph when one was proved equal to its
    scikit-learn pipeline, else the pipeline itself (the source of truth), and what the outputs and the
    explanations read besides the model call: the pipeline's `AttributeReference` step (typical values,
    `filled`, the novelty check) and its regressor's calibration (residual table and count per category,
    from which an interval at any coverage follows).

    `Predictor(pipeline=...[, session=...])` keeps the pipeline; what a serving process holds (modelstore.loader)
    is `Predictor.from_graph(session)`, the session and the state its graph carries (modelstore.ml.serving), read
    without the pipeline or scikit-learn; or, for a graph stored before it carried that state,
    `Predictor.serving(pipeline, session)`, which keeps the pipeline only when there is no session to serve the
    setup. A setup served by its graph then holds a few small arrays instead of the fitted trees and classifiers."""

    pipeline: Pipeline | None = None
    session: onnxruntime.InferenceSession | None = None
    # The pipeline's first step (an AttributeReference) or the state of it a graph carries (a ServingReference),
    # and its regressor's `_calibration()`: taken from `pipeline` when not given.
    reference_step: ReferenceMethods | None = None
    calibration: tuple[np.ndarray, np.ndarray] | None = None
    # coverage -> the interval's offsets from the centre per category, computed once per version and coverage.
    _offsets: dict[float, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if self.pipeline is None:
            if self.session is None or self.reference_step is None or self.calibration is None:
                raise ValueError("A predictor without its pipeline needs a session, reference_step and calibration.")
            return
        if self.reference_step is None:
            object.__setattr__(self, "reference_step", self.pipeline.named_steps["reference"])
        if self.calibration is None:
            object.__setattr__(self, "calibration", self.pipeline[-1]._calibration())

    @classmethod
    def serving(cls, pipeline: Pipeline, session: onnxruntime.InferenceSession | None) -> Predictor:
        """The predictor a serving process keeps: without the pipeline when `session` (of its proved graph) serves
        the setup, so the pipeline can be freed; with it when scikit-learn must serve (no graph, or refused)."""
        if session is None:
            return cls(pipeline=pipeline)
        return cls(
            session=session, reference_step=pipeline.named_steps["reference"], calibration=pipeline[-1]._calibration()
        )

    @classmethod
    def from_graph(cls, session: onnxruntime.InferenceSession) -> Predictor | None:
        """The predictor of a proved graph's session alone, from the serving state the graph carries
        (`serving.SERVING_KEY`); None for a graph converted before it carried one (its pipeline must serve
        beside it, `serving`)."""
        text = session.get_modelmeta().custom_metadata_map.get(SERVING_KEY)
        if text is None:
            return None
        reference_step, calibration = serving_state_loads(text)
        return cls(session=session, reference_step=reference_step, calibration=calibration)

    @property
    def engine(self) -> str:
        """What computes the predictions (the values of ModelVersion.Engine)."""
        return "scikit-learn" if self.session is None else "onnxruntime"

    @property
    def features(self) -> list[str]:
        return list(self.reference_step.feature_names_in_)

    @property
    def reference(self) -> dict:
        return self.reference_step.reference_

    def filled(self, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """`columns` with each unknown value replaced by its typical one (`AttributeReference.filled`)."""
        return self.reference_step.filled(columns)

    def predict(self, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """OUTPUTS: arrays with a value per row of `columns` (the setup's attributes); float64, the category int64."""
        if self.session is not None:
            rows = len(next(iter(columns.values())))
            chunks = [
                {name: values[start:start + ONNX_CHUNK_ROWS] for name, values in columns.items()}
                for start in range(0, rows, ONNX_CHUNK_ROWS)
            ]
            parts = [onnx_predict(self.session, chunk) for chunk in chunks] or [onnx_predict(self.session, columns)]
            return {
                name: np.concatenate([part[name] for part in parts]).astype(
                    np.int64 if name == "category" else np.float64, copy=False
                )
                for name in OUTPUTS
            }
        import pandas as pd  # only where scikit-learn serves, so imported only where it is already

        encoded = self.pipeline[:-1].transform(pd.DataFrame(columns))
        distribution = self.pipeline[-1].distribution(encoded)
        return {name: distribution[name] for name in OUTPUTS}

    def interval(self, points: np.ndarray, categories: np.ndarray, *, coverage: float) -> tuple[np.ndarray, np.ndarray]:
        """The `coverage` interval of the distributions centred on `points`: `ConformalGradeRegressor.interval_for`,
        whichever engine predicted them, with the offsets computed once."""
        offsets = self._offsets.get(coverage)
        if offsets is None:
            offsets = self._offsets[coverage] = (
                interval_offsets_of(*self.calibration, coverage) if self.pipeline is None
                else self.pipeline[-1].interval_offsets(coverage)
            )
        low, high = offsets
        return (
            np.clip(points + low[categories], GRADE_MIN, GRADE_MAX),
            np.clip(points + high[categories], GRADE_MIN, GRADE_MAX),
        )

    def unusual(self, columns: dict[str, np.ndarray]) -> tuple[np.ndarray, list[list[str]]] | None:
        """Whether each record is unlike the training rows, and why (`AttributeReference.unusual`): the same
        numpy code for both engines, its lookup tables built once. None for a version trained before the check
        existed."""
        return self.reference_step.unusual(columns, fast=self._unusual_tables)

    @cached_property
    def _unusual_tables(self) -> list | None:
        return self.reference_step.unusual_tables()


def predict_records(
    predictors: Mapping[str, Predictor | Pipeline], records: list[dict], *, coverage: float = 0.9, top_k: int = 5
) -> list[dict]:
    """One result dict per record, in input order; one model call per setup present, not per record.

    `predictors` by setup: a Predictor, or a bare Pipeline (served through scikit-learn). `records` are
    validated: all 30 attributes (None where unknown, schema.MAY_BE_UNKNOWN), G1/G2 an int or None (which
    picks setup A, B or C). An unknown attribute takes its typical training value: no effect, no factor.
    Every number is read from the record's one predictive distribution (ConformalGradeRegressor):
    `predicted_grade` is its median, `interval` its quantiles holding the final grade with probability
    `coverage`, `pass_probability` its mass at G3 >= 10, and `confidence` how sure the pass/fail call it
    implies is, max(p, 1 - p), from 0.5 (a coin toss) to 1. Rounding keeps each number on its side of the
    pass mark (`rounded_keeping_side`), so the rounded outputs agree as the exact ones do. `unusual` says
    whether the record is unlike the students the model learned from (None: the version predates the
    check), `unusual_reasons` which attributes make it so, in words. `top_k` factors per record at most; 0:
    none, and none computed (the records alone go through the model: the shadow scoring, the retraining's CV).
    Per record, only the result dict is built in Python: the model call, the interval and the ranking of the
    factors run on all of a setup's records at once.
    """
    rows_by_setup: dict[str, list[int]] = {}
    for row, record in enumerate(records):
        rows_by_setup.setdefault(setup_for(record), []).append(row)
    missing = sorted(set(rows_by_setup) - set(predictors))
    if missing:
        raise ApplicationError(
            f"The active model has no pipeline for setup {', '.join(missing)}.", kind="unavailable"
        )

    results: list[dict] = [{} for _ in records]
    for setup, rows in rows_by_setup.items():
        predictor = predictors[setup]
        predictor = predictor if isinstance(predictor, Predictor) else Predictor(pipeline=predictor)
        # Unknown values (schema.MAY_BE_UNKNOWN, a school outside the training data) take the typical value.
        columns = predictor.filled(_columns(records, rows, predictor.features))
        if top_k > 0:
            outputs, factors = predict_and_explain(
                columns, reference=predictor.reference, predict=predictor.predict, top_k=top_k
            )
        else:  # no factors asked for: the records alone go through the model, without their variants
            outputs, factors = predictor.predict(columns), [[] for _ in rows]
        low, high = predictor.interval(outputs["point"], outputs["category"], coverage=coverage)
        flags = predictor.unusual(columns)
        unusual, reasons = (None, None) if flags is None else (flags[0].tolist(), flags[1])
        for position, (row, grade, p, low_end, high_end, top_factors) in enumerate(zip(
            rows, outputs["grade"].tolist(), outputs["pass_probability"].tolist(), low.tolist(), high.tolist(),
            factors,
        )):
            probability = rounded_keeping_side(p, 3, PASS_CHANCE_MARK)
            results[row] = {
                "setup": setup,
                "predicted_grade": rounded_keeping_side(grade, 2, PASS_THRESHOLD),
                "pass_probability": probability,
                "confidence": round(max(probability, 1 - probability), 3),
                "interval": {
                    "low": rounded_keeping_side(low_end, 2, PASS_THRESHOLD),
                    "high": rounded_keeping_side(high_end, 2, PASS_THRESHOLD),
                    "coverage": coverage,
                },
                "top_factors": top_factors,
                "unusual": None if unusual is None else unusual[position],
                "unusual_reasons": [] if reasons is None else reasons[position],
            }
    return results


def rounded_keeping_side(value: float, digits: int, mark: float) -> float:
    """`value` rounded to `digits` decimals, but never across `mark`: 9.497 is 9.49, not 9.5, when the mark
    is 9.5, and a pass chance of 0.4996 is 0.499. Monotone, so rounded values keep their order too."""
    rounded = round(value, digits)
    if value < mark <= rounded:
        return round(mark - 10 ** -digits, digits)
    return rounded


def _columns(records: list[dict], rows: list[int], features: list[str]) -> dict[str, np.ndarray]:
    """The attributes of the records at `rows` as one array per attribute: categories as objects (str),
    numbers as numpy infers them (int64 for validated records)."""
    chosen = [records[row] for row in rows]
    return {
        name: np.array([record[name] for record in chosen], dtype=object if name in CATEGORICAL else None)
        for name in features
    }
