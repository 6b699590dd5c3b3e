"""Predicting validated records with a set of per-setup models: grade, interval, pass chance, reasons."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import onnxruntime
import pandas as pd
from sklearn.pipeline import Pipeline

from modelstore.ml.explain import predict_and_explain
from modelstore.ml.onnx import onnx_predict
from modelstore.schema import CATEGORICAL, GRADE_MAX, GRADE_MIN, setup_for
from studentperf.errors import ApplicationError


@dataclass(frozen=True, eq=False)
class Predictor:
    """One setup's model as served: its scikit-learn pipeline, the source of truth (and of the typical values
    explanations swap in), and the onnxruntime session of its ONNX graph when one was proved equal to it."""

    pipeline: Pipeline
    session: onnxruntime.InferenceSession | None = None
    # coverage -> the interval's offsets from the grade, computed once per version and coverage.
    _offsets: dict[float, tuple[float, float]] = field(default_factory=dict, repr=False)

    @property
    def engine(self) -> str:
        """What computes the predictions (the values of ModelVersion.Engine)."""
        return "scikit-learn" if self.session is None else "onnxruntime"

    @property
    def features(self) -> list[str]:
        return list(self.pipeline.named_steps["reference"].feature_names_in_)

    @property
    def reference(self) -> dict:
        return self.pipeline.named_steps["reference"].reference_

    def predict(self, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """{"grade", "pass_probability"}: float64 arrays with a value per row of `columns` (the setup's attributes)."""
        if self.session is not None:
            outputs = onnx_predict(self.session, columns)
            return {name: outputs[name].astype(np.float64) for name in ("grade", "pass_probability")}
        encoded = self.pipeline[:-1].transform(pd.DataFrame(columns))
        regressor = self.pipeline[-1]
        grades = regressor.predict(encoded)
        return {"grade": grades, "pass_probability": regressor.pass_proba(encoded, grades)}

    def interval(self, grades: np.ndarray, *, coverage: float) -> tuple[np.ndarray, np.ndarray]:
        """The `coverage` interval around predicted grades: `ConformalGradeRegressor.interval_for`, whichever
        engine predicted them, with the offsets computed once."""
        offsets = self._offsets.get(coverage)
        if offsets is None:
            offsets = self._offsets[coverage] = self.pipeline[-1].interval_offsets(coverage)
        low, high = offsets
        return np.clip(grades + low, GRADE_MIN, GRADE_MAX), np.clip(grades + high, GRADE_MIN, GRADE_MAX)


def predict_records(
    predictors: Mapping[str, Predictor | Pipeline], records: list[dict], *, coverage: float = 0.9, top_k: int = 5
) -> list[dict]:
    """One result dict per record, in input order; one model call per setup present, not per record.

    `predictors` by setup: a Predictor, or a bare Pipeline (served through scikit-learn). `records` are
    validated: all 30 attributes, G1/G2 an int or None (which picks setup A, B or C).
    `pass_probability` is P(G3 >= 10), from the pipeline's held-out errors or its pass classifier;
    `confidence` is how sure the pass/fail call is, max(p, 1 - p), from 0.5 (a coin toss) to 1. `interval`
    holds the final grade with probability `coverage`. Per record, only the result dict is built in Python:
    the model call, the interval and the ranking of the factors run on all of a setup's records at once.
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
        columns = _columns(records, rows, predictor.features)
        outputs, factors = predict_and_explain(
            columns, reference=predictor.reference, predict=predictor.predict, top_k=top_k
        )
        grades = outputs["grade"]
        low, high = predictor.interval(grades, coverage=coverage)
        for row, grade, p, low_end, high_end, top_factors in zip(
            rows, grades.tolist(), outputs["pass_probability"].tolist(), low.tolist(), high.tolist(), factors
        ):
            results[row] = {
                "setup": setup,
                "predicted_grade": round(grade, 2),
                "pass_probability": round(p, 3),
                "confidence": round(max(p, 1 - p), 3),
                "interval": {"low": round(low_end, 2), "high": round(high_end, 2), "coverage": coverage},
                "top_factors": top_factors,
            }
    return results


def _columns(records: list[dict], rows: list[int], features: list[str]) -> dict[str, np.ndarray]:
    """The attributes of the records at `rows` as one array per attribute: categories as objects (str),
    numbers as numpy infers them (int64 for validated records)."""
    chosen = [records[row] for row in rows]
    return {
        name: np.array([record[name] for record in chosen], dtype=object if name in CATEGORICAL else None)
        for name in features
    }
