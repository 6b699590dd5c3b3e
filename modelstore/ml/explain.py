"""Why a grade was predicted: per-record effects of each original attribute, in grade points.

The effect of attribute `a` on record `x` is f(x) - f(x with `a` set to its typical training value), the
typical value being the one `AttributeReference` stored in the pipeline (median number, most frequent
category). Positive means the record's value of `a` raises the predicted grade compared with a typical
student. It is model-agnostic and speaks of `absences` and `G2`, not of one-hot columns. Effects are
one-at-a-time, so for correlated attributes (G1 and G2) each is measured with the other held at the
record's value; they need not add up to the prediction.

All records and the variants that differ from them go through the model in one call: the scikit-learn
pipeline or its ONNX graph, whichever serves the setup (`inference.Predictor.predict`). A record that already
holds an attribute's typical value needs no variant for it (its effect is exactly 0): about half of all
variants for the UCI data, so skipping them halves the rows a batch sends through the model.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

# The model call: the setup's attribute columns -> {"grade": one per row, other outputs one per row}.
Predict = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


def predict_and_explain(
    columns: dict[str, np.ndarray], *, reference: dict, predict: Predict, top_k: int
) -> tuple[dict[str, np.ndarray], list[list[dict]]]:
    """`predict`'s outputs for the records in `columns` (an array per attribute the model takes, all of the
    same length), and per record its `top_k` factors by size of effect; `reference` holds the typical values
    (`AttributeReference.reference_`). `predict` is called once, on the records and their variants together.

    A factor is {"feature", "value", "effect", "direction"}; attributes whose effect is zero (e.g. the
    record already holds the typical value) are left out, so a record may have fewer than `top_k`.
    """
    features = list(columns)
    rows = len(columns[features[0]])
    variants, (attribute, row) = _variants(columns, rows, reference)
    predictions = predict(variants)
    grades = predictions["grade"]
    effects = np.zeros((rows, len(features)))  # (record, attribute)
    effects[row, attribute] = grades[row] - grades[rows:]
    outputs = {name: values[:rows] for name, values in predictions.items()}
    return outputs, _top_factors(columns, features, effects, top_k)


def _variants(columns: dict[str, np.ndarray], rows: int, reference: dict) -> tuple[dict[str, np.ndarray], tuple]:
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
    return variants, (attribute, row)


def _top_factors(
    columns: dict[str, np.ndarray], features: list[str], effects: np.ndarray, top_k: int
) -> list[list[dict]]:
    """Per record (a row of `effects`), its largest effects in order, sorted for all records at once.

    Sizes equal to 1e-4 are ties, kept in attribute order: a graph's grades are float32 (differences of ~1e-6
    from scikit-learn; ~1e-5 where skl2onnx's float32 trees serve), and effects that are exactly equal in one
    engine must come out in the same order from the other.
    """
    order = np.argsort(-np.round(np.abs(effects), 4), axis=1, kind="stable")[:, :top_k]
    top = np.take_along_axis(effects, order, axis=1)
    values = [columns[name].tolist() for name in features]  # JSON-able python values, not numpy scalars
    return [
        [
            {
                "feature": features[i],
                "value": values[i][row],
                "effect": rounded,
                "direction": "raises" if effect > 0 else "lowers",
            }
            for i, effect in zip(indices, row_effects)
            if (rounded := round(effect, 2)) != 0
        ]
        for row, (indices, row_effects) in enumerate(zip(order.tolist(), top.tolist()))
    ]
