"""Why a grade was predicted: per-record effects of each original attribute, in grade points.

The effect of attribute `a` on record `x` is f(x) - f(x with `a` set to its typical training value), the
typical value being the one `AttributeReference` stored in the pipeline (median number, most frequent
category). Positive means the record's value of `a` raises the predicted grade compared with a typical
student. It is model-agnostic and speaks of `absences` and `G2`, not of one-hot columns. Effects are
one-at-a-time, so for correlated attributes (G1 and G2) each is measured with the other held at the
record's value; they need not add up to the prediction.

All records and all their "attribute at reference" variants go through the pipeline in one predict call.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline


def predict_and_explain(
    pipeline: Pipeline, X: pd.DataFrame, *, top_k: int
) -> tuple[np.ndarray, list[list[dict]], pd.DataFrame]:
    """The predicted grades of the rows of `X`, per row its `top_k` factors by size of effect, and the rows
    as the final estimator sees them (encoded), for its other outputs (interval, pass probability).

    A factor is {"feature", "value", "effect", "direction"}; attributes whose effect is zero (e.g. the
    record already holds the typical value) are left out, so a row may have fewer than `top_k`.
    """
    step = pipeline.named_steps["reference"]
    features = list(step.feature_names_in_)
    X = X.loc[:, features].reset_index(drop=True)
    rows = len(X)
    encoded = pipeline[:-1].transform(_variants(X, features, step.reference_))
    predictions = pipeline[-1].predict(encoded).reshape(len(features) + 1, rows)
    effects = predictions[0] - predictions[1:]  # (attribute, record)
    factors = [_top_factors(X.iloc[row], effects[:, row], features, top_k) for row in range(rows)]
    return predictions[0], factors, encoded.iloc[:rows]


def _variants(X: pd.DataFrame, features: list[str], reference: dict) -> pd.DataFrame:
    """`X` itself, then for each attribute in turn a copy of `X` with that attribute at its reference."""
    rows = len(X)
    columns = {}
    for position, name in enumerate(features, start=1):
        column = np.tile(X[name].to_numpy(), len(features) + 1)
        column[position * rows:(position + 1) * rows] = reference[name]
        columns[name] = column
    return pd.DataFrame(columns)


def _top_factors(record: pd.Series, effects: np.ndarray, features: list[str], top_k: int) -> list[dict]:
    order = np.argsort(-np.abs(effects), kind="stable")[:top_k]
    return [
        {
            "feature": features[i],
            "value": _plain(record[features[i]]),
            "effect": round(float(effects[i]), 2),
            "direction": "raises" if effects[i] > 0 else "lowers",
        }
        for i in order
        if round(float(effects[i]), 2) != 0
    ]


def _plain(value):
    """A JSON-able python value instead of a numpy scalar."""
    return value.item() if isinstance(value, np.generic) else value
