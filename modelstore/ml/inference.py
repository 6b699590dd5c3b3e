"""Predicting validated records with a set of per-setup pipelines: grade, interval, pass chance, reasons."""
from __future__ import annotations

import pandas as pd
from sklearn.pipeline import Pipeline

from modelstore.ml.explain import predict_and_explain
from modelstore.schema import setup_for
from studentperf.errors import ApplicationError


def predict_records(
    pipelines: dict[str, Pipeline], records: list[dict], *, coverage: float = 0.9, top_k: int = 5
) -> list[dict]:
    """One result dict per record, in input order; one pipeline call per setup present, not per record.

    `records` are validated: all 30 attributes, G1/G2 an int or None (which picks setup A, B or C).
    `pass_probability` is P(G3 >= 10), from the pipeline's held-out errors or its pass classifier; `confidence` is how sure the
    pass/fail call is, max(p, 1 - p), from 0.5 (a coin toss) to 1. `interval` holds the final grade with
    probability `coverage`.
    """
    rows_by_setup: dict[str, list[int]] = {}
    for row, record in enumerate(records):
        rows_by_setup.setdefault(setup_for(record), []).append(row)
    missing = sorted(set(rows_by_setup) - set(pipelines))
    if missing:
        raise ApplicationError(
            f"The active model has no pipeline for setup {', '.join(missing)}.", kind="unavailable"
        )

    results: list[dict] = [{} for _ in records]
    for setup, rows in rows_by_setup.items():
        pipeline = pipelines[setup]
        frame = pd.DataFrame([records[row] for row in rows])
        grades, factors, encoded = predict_and_explain(pipeline, frame, top_k=top_k)
        regressor = pipeline[-1]
        low, high = regressor.interval_for(grades, coverage=coverage)
        pass_probability = regressor.pass_proba(encoded, grades)
        for position, row in enumerate(rows):
            p = float(pass_probability[position])
            results[row] = {
                "setup": setup,
                "predicted_grade": round(float(grades[position]), 2),
                "pass_probability": round(p, 3),
                "confidence": round(max(p, 1 - p), 3),
                "interval": {
                    "low": round(float(low[position]), 2),
                    "high": round(float(high[position]), 2),
                    "coverage": coverage,
                },
                "top_factors": factors[position],
            }
    return results
