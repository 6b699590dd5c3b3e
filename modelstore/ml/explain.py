"""Why a grade was predicted: per-record effects of each original attribute, in grade points.

The effect of attribute `a` on record `x` is f(x) - f(x with `a` set to its typical training value), the
typical value being the one `AttributeReference` stored in the pipeline (median number, most frequent
category). Positive means the record's value of `a` raises the predicted grade compared with a typical
student. It is model-agnostic and speaks of `absences` and `G2`, not of one-hot columns. Effects are
one-at-a-time, so for correlated attributes (G1 and G2) each is measured with the other held at the
record's value; they need not add up to the prediction.

All records and the variants that differ from them go through the pipeline in one predict call. A record
that already holds an attribute's typical value needs no variant for it (its effect is exactly 0): about
half of all variants for the UCI data, so skipping them halves the rows a batch sends through the model.
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
    columns = {name: X[name].to_numpy() for name in features}
    variants, (attribute, row) = _variants(columns, rows, step.reference_)
    encoded = pipeline[:-1].transform(variants)
    predictions = pipeline[-1].predict(encoded)
    grades = predictions[:rows]
    effects = np.zeros((len(features), rows))  # (attribute, record)
    effects[attribute, row] = grades[row] - predictions[rows:]
    factors = [_top_factors(columns, features, r, effects[:, r], top_k) for r in range(rows)]
    return grades, factors, encoded.iloc[:rows]


def _variants(columns: dict[str, np.ndarray], rows: int, reference: dict) -> tuple[pd.DataFrame, tuple]:
    """The records themselves, then for each attribute in turn the records whose value of it is not the
    reference, with it set to the reference; and which (attribute, record) each of those variants is."""
    differs = np.array([values != reference[name] for name, values in columns.items()], dtype=bool)
    differs = differs.reshape(len(columns), rows)
    attribute, row = np.nonzero(differs)  # attribute-major: each attribute's variants are one block
    take = np.concatenate([np.arange(rows), row])
    ends = rows + np.cumsum(differs.sum(axis=1))
    starts = ends - differs.sum(axis=1)
    variants = {}
    for position, (name, values) in enumerate(columns.items()):
        column = values[take]
        column[starts[position]:ends[position]] = reference[name]
        variants[name] = column
    return pd.DataFrame(variants), (attribute, row)


def _top_factors(
    columns: dict[str, np.ndarray], features: list[str], row: int, effects: np.ndarray, top_k: int
) -> list[dict]:
    order = np.argsort(-np.abs(effects), kind="stable")[:top_k]
    return [
        {
            "feature": features[i],
            "value": _plain(columns[features[i]][row]),
            "effect": round(float(effects[i]), 2),
            "direction": "raises" if effects[i] > 0 else "lowers",
        }
        for i in order
        if round(float(effects[i]), 2) != 0
    ]


def _plain(value):
    """A JSON-able python value instead of a numpy scalar."""
    return value.item() if isinstance(value, np.generic) else value
