"""Is a record unlike the training data? A per-record novelty check from per-attribute rarity.

Each attribute of a record gets a rarity p-value against the n training rows: the share of training rows at
least as unusual as the record's value, counted with the record itself so it is never 0.

- Category attributes: p = (number of training rows whose value is at most as frequent as v, + 1) / (n + 1).
  The most frequent value gets p = 1; a value no training row has gets 1 / (n + 1).
- Ordered (int) attributes: a two-sided empirical tail,
  p = min(1, 2 * min(#(x <= v) + 1, #(x >= v) + 1) / (n + 1)). A value beyond the training range gets 2 / (n + 1).

The record's score is the sum over attributes of -log(p), so several moderately rare values add up like one
very rare one. The threshold is calibrated rather than chosen: the training rows are split into `folds`
(KFold, shuffled), each held-out row is scored by tables built from the other folds only, and the threshold is
the (1 - target_rate) quantile of these out-of-fold scores. The tables are then rebuilt from all rows. A new
record from the same population is therefore flagged (score > threshold) about `target_rate` of the time.

Reasons name the attributes that make a flagged record unusual: those with p < 0.05, rarest first, at most
three; when none is that rare (an unusual combination), the three rarest. They are written in the schema's
plain words for an attribute and its value (`schema.feature_value_text`), with the actual training counts.

The fitted state holds only python scalars/str, lists, str-keyed dicts and numpy arrays, so it can live inside
a scikit-learn estimator that skops serializes without extra trusted types: "n", "attributes", "kinds",
"sorted" (int attribute -> its sorted training values), "counts" (category attribute -> {value: rows}),
"threshold", "target_rate", "cv_rate" (the out-of-fold flag rate) and "lookup" (the same tables merged for
fast scoring).

A few records at a time (an API request's one record) are scored faster by dict lookups than by the vectorized
searches: `rarity_fast_tables` lists, per attribute, the p-value of every value it can look up (each category
value seen in training, every int from the smallest training value to the largest), computed once by the
vectorized code itself, so both paths give the same floats and the same flags. A value the tables lack (out of
range, missing, not an int) sends the records through the vectorized path.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from modelstore.schema import FEATURES, feature_value_text

TARGET_RATE = 0.02
REASON_P = 0.05
MAX_REASONS = 3
GRADES = ("G1", "G2")
# Int values are kept within +-VALUE_LIMIT so that attributes shifted by STRIDE never overlap (exact in float64).
VALUE_LIMIT = 2.0**38
STRIDE = 2.0**40
# Up to this many records, rarity_unusual looks their p-values up in rarity_fast_tables when it is given them.
FAST_ROWS = 8
# An int attribute whose training values span more than this many integers gets only its seen values looked up.
MAX_SPAN = 4096

if TYPE_CHECKING:
    import pandas as pd


def rarity_fit(X: pd.DataFrame, *, target_rate: float = TARGET_RATE, folds: int = 10, random_state: int = 0) -> dict:
    """Fitted state from the training rows X (columns: raw attributes, any subset of the schema's)."""
    if not 0 < target_rate < 1:
        raise ValueError("target_rate must be between 0 and 1")
    if len(X) < 2:
        raise ValueError("at least two training rows are needed")
    # Fitting only: a serving process scores with the fitted state and never imports scikit-learn.
    from sklearn.model_selection import KFold

    held_out = np.empty(len(X))
    splits = KFold(n_splits=min(folds, len(X)), shuffle=True, random_state=random_state).split(X)
    for train, test in splits:
        tables = _tables(X.iloc[train])
        held_out[test] = rarity_scores(tables, _columns(X.iloc[test]))[0]
    threshold = float(np.quantile(held_out, 1 - target_rate))
    return {
        **_tables(X),
        "threshold": threshold,
        "target_rate": float(target_rate),
        "cv_rate": float(np.mean(held_out > threshold)),
    }


def rarity_scores(state: dict, columns) -> tuple[np.ndarray, np.ndarray]:
    """(score per record [N], per-attribute rarity p-values [N, F] in state's attribute order)."""
    lookup, n = state["lookup"], state["n"]
    size = len(np.asarray(columns[state["attributes"][0]])) if state["attributes"] else 0
    p_values = np.empty((size, len(state["attributes"])))
    ints, categories = lookup["int_columns"], lookup["category_columns"]
    if ints:
        p_values[:, ints] = _int_p(lookup, n, _stack(columns, state, ints, float))
    if categories:
        p_values[:, categories] = _category_p(lookup, n, _stack(columns, state, categories, str))
    return _score(p_values), p_values


def rarity_fast_tables(state: dict) -> list[tuple[str, bool, dict]]:
    """Per attribute, in state's order: (name, is a category, {value: p-value}) for every value of it that
    `rarity_unusual` can look up instead of searching: the category values seen in training (str keys), every int
    from the smallest training value to the largest. Each p-value is computed by `rarity_scores`' own code on a
    table of these values, so a looked-up p-value is the very float the search gives."""
    candidates: dict[str, list] = {}
    for name in state["attributes"]:
        if state["kinds"][name] == "int":
            values = state["sorted"][name]
            span = range(int(values[0]), int(values[-1]) + 1)
            candidates[name] = list(span) if len(span) <= MAX_SPAN else np.unique(values).tolist()
        else:
            candidates[name] = list(state["counts"][name])
    size = max(len(values) for values in candidates.values())
    padded = {name: np.array(values + values[-1:] * (size - len(values)), dtype=object)
              for name, values in candidates.items()}
    _, p_values = rarity_scores(state, padded)
    return [
        (name, state["kinds"][name] == "category",
         dict(zip(candidates[name], p_values[:len(candidates[name]), column].tolist())))
        for column, name in enumerate(state["attributes"])
    ]


def rarity_unusual(
    state: dict, columns: Mapping[str, np.ndarray], *, fast: list[tuple[str, bool, dict]] | None = None
) -> tuple[np.ndarray, list[list[str]]]:
    """For N records given as one array per attribute (at least the attributes in state; categories as str/object,
    numbers as int): a bool array `unusual` of length N and, per record, its reasons in words (an empty list when
    not unusual). `fast`: state's `rarity_fast_tables`, used for up to FAST_ROWS records (same results)."""
    p_values = None if fast is None else _looked_up(fast, columns)
    if p_values is None:
        scores, p_values = rarity_scores(state, columns)
    else:
        scores = _score(p_values)
    unusual = scores > state["threshold"]
    reasons: list[list[str]] = [[] for _ in range(len(scores))]
    for row in np.flatnonzero(unusual):
        reasons[row] = [
            rarity_reason(state, state["attributes"][column], _item(columns[state["attributes"][column]], row))
            for column in _reason_columns(p_values[row])
        ]
    return unusual, reasons


def rarity_reason(state: dict, name: str, value) -> str:
    """Why `value` of attribute `name` is rare, in words, e.g. "age: 22 (only 1 of the 395 students the model
    learned from was 22 or older)"."""
    n = state["n"]
    if state["kinds"][name] == "category":
        count, predicate = state["counts"][name].get(str(value), 0), "had this"
    else:
        count, low = _int_tail(state["sorted"][name], value)
        predicate = _int_predicate(state, name, value, count, low)
    share = "none" if count == 0 else f"only {count}" if count < 0.2 * n else f"{count}"
    return f"{feature_value_text(name, value)} ({share} of the {n} students the model learned from {predicate})"


def _score(p_values: np.ndarray) -> np.ndarray:
    """Each record's score: the sum of -log(p) over its attributes (one row of `p_values`)."""
    return -np.log(p_values).sum(axis=1)


def _looked_up(fast: list[tuple[str, bool, dict]], columns: Mapping) -> np.ndarray | None:
    """The records' p-values [N, F] from the fast tables; None when there are more than FAST_ROWS records or a
    value is not in its table (the vectorized search then scores them)."""
    size = len(columns[fast[0][0]]) if fast else 0
    if not 0 < size <= FAST_ROWS:
        return None
    rows = []
    for row in range(size):
        found = []
        for name, category, table in fast:
            value = columns[name][row]
            p = table.get((value if type(value) is str else str(value)) if category else value)
            if p is None:
                return None
            found.append(p)
        rows.append(found)
    return np.array(rows, dtype=np.float64)


def _tables(X: pd.DataFrame) -> dict:
    kinds = {str(name): _kind(name, X[name]) for name in X.columns}
    state = {
        "n": int(len(X)),
        "attributes": list(kinds),
        "kinds": kinds,
        "sorted": {name: np.sort(X[name].to_numpy(dtype=np.int64)) for name, kind in kinds.items() if kind == "int"},
        "counts": {
            name: {str(value): int(count) for value, count in X[name].astype(str).value_counts().items()}
            for name, kind in kinds.items()
            if kind == "category"
        },
    }
    return {**state, "lookup": rarity_lookup(state)}


def rarity_lookup(state: dict) -> dict:
    """All attributes' tables in two sorted arrays, so that scoring is a few numpy calls whatever the attribute count.

    Int attribute j's training values are shifted by j * STRIDE (each attribute holds exactly n of them, so its
    block starts at j * n); category values are prefixed with their attribute's position.
    """
    ints = [name for name in state["attributes"] if state["kinds"][name] == "int"]
    categories = [name for name in state["attributes"] if state["kinds"][name] == "category"]
    keys = np.array([_prefix(j) + key for j, name in enumerate(categories) for key in state["counts"][name]], dtype=str)
    known_p = np.concatenate([_known_p(state["counts"][name], state["n"]) for name in categories] or [np.empty(0)])
    order = np.argsort(keys, kind="stable")
    return {
        "int_columns": [state["attributes"].index(name) for name in ints],
        "int_table": np.concatenate(
            [_shifted(state["sorted"][name].astype(float), j) for j, name in enumerate(ints)] or [np.empty(0)]
        ),
        "category_columns": [state["attributes"].index(name) for name in categories],
        "category_keys": keys[order],
        "category_p": known_p[order],
    }


def _known_p(counts: dict[str, int], n: int) -> np.ndarray:
    """The p-value of each seen category value (in `counts` order): its own rows and all rarer rows, + 1."""
    frequencies = np.array(list(counts.values()), dtype=np.int64)
    at_most = np.array([frequencies[frequencies <= f].sum() for f in frequencies], dtype=np.int64)
    return (at_most + 1) / (n + 1)


def _kind(name: str, column: pd.Series) -> str:
    if name in FEATURES:
        return FEATURES[name].kind
    return "int" if column.dtype.kind in "iub" else "category"


def _columns(X: pd.DataFrame) -> dict[str, np.ndarray]:
    return {name: X[name].to_numpy() for name in X.columns}


def _stack(columns, state: dict, positions: list[int], dtype) -> np.ndarray:
    """The records' values of the attributes at `positions`, as an [N, len(positions)] array of `dtype`."""
    return np.column_stack([np.asarray(columns[state["attributes"][j]]) for j in positions]).astype(dtype)


def _int_p(lookup: dict, n: int, values: np.ndarray) -> np.ndarray:
    table = lookup["int_table"]
    starts = np.arange(values.shape[1]) * n
    shifted = _shifted(values, np.arange(values.shape[1]))
    at_most = table.searchsorted(shifted, side="right") - starts
    at_least = starts + n - table.searchsorted(shifted, side="left")
    # A missing (NaN) value sorts past every block; clipping makes it "beyond the training range", not an error.
    tail = np.clip(np.minimum(at_most, at_least), 0, n)
    return np.minimum(1.0, 2 * (tail + 1) / (n + 1))


def _category_p(lookup: dict, n: int, values: np.ndarray) -> np.ndarray:
    keys = lookup["category_keys"]
    prefixed = np.strings.add(np.array([_prefix(j) for j in range(values.shape[1])], dtype=str), values)
    index = np.minimum(keys.searchsorted(prefixed), len(keys) - 1)
    return np.where(keys[index] == prefixed, lookup["category_p"][index], 1 / (n + 1))


def _shifted(values: np.ndarray, position) -> np.ndarray:
    return np.clip(values, -VALUE_LIMIT, VALUE_LIMIT) + position * STRIDE


def _prefix(position: int) -> str:
    return f"{position}\x1f"


def _int_tail(sorted_values: np.ndarray, value) -> tuple[int, bool]:
    """The training count of the record's rarer tail (as low or lower, or as high or higher); True if the low one."""
    at_most = int(sorted_values.searchsorted(value, side="right"))
    at_least = len(sorted_values) - int(sorted_values.searchsorted(value, side="left"))
    return (at_most, True) if at_most < at_least else (at_least, False)


def _reason_columns(p_values: np.ndarray) -> list[int]:
    order = np.argsort(p_values, kind="stable")
    rare = [int(column) for column in order if p_values[column] < REASON_P]
    return (rare or [int(column) for column in order])[:MAX_REASONS]


def _int_predicate(state: dict, name: str, value, count: int, low: bool) -> str:
    feature = FEATURES.get(name)
    if name == "age":
        return f"{'was' if count <= 1 else 'were'} {_as_int(value)} or {'younger' if low else 'older'}"
    if name in GRADES:
        return f"had a grade this {'low or lower' if low else 'high or higher'}"
    if feature is not None and feature.choice_labels:
        exact = int(np.sum(state["sorted"][name] == value))
        return "had this" if exact == count else f"had this or a {'lower' if low else 'higher'} level"
    return f"had as {'few or fewer' if low else 'many or more'}"


def _as_int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


def _item(values, row: int):
    values = values.to_numpy() if hasattr(values, "to_numpy") else np.asarray(values)
    return values[row]
