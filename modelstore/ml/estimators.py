"""The estimators a served pipeline is made of, beyond scikit-learn's own.

Both classes keep only numpy arrays, python scalars/str/dicts and scikit-learn objects as state, so a
pipeline holding them round-trips through skops.io, trusting these two classes by name.
"""
from __future__ import annotations

import math

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin, clone
from sklearn.model_selection import KFold
from sklearn.utils.validation import check_is_fitted

from modelstore.schema import GRADE_MAX, GRADE_MIN, PASS_MARK

# G3 is an integer, so "G3 >= 10" is "a continuous grade above 9.5".
PASS_THRESHOLD = PASS_MARK - 0.5


class ConformalGradeRegressor(RegressorMixin, BaseEstimator):
    """A grade regressor that also knows how wrong it tends to be.

    `fit` first computes out-of-fold predictions (`cv` folds): each training row is predicted by a copy of
    `estimator` that never saw it, and the signed residuals `y - prediction` are kept, sorted, in
    `residuals_`. Then `estimator` is fitted on all rows. Because the residuals are honest held-out errors,
    they calibrate prediction intervals (split-conformal) and the pass probability. The fold models are
    trained on (cv-1)/cv of the rows, so they err slightly more than the final model: the intervals lean
    to the conservative side.

    `anchor` names an input column (e.g. "G2") the grade is predicted relative to: the base estimator
    learns `y - X[anchor]`. Trees cannot draw the near-identity line between the last period grade and
    the final one except as coarse steps; learning the change keeps it exact and leaves the trees the
    real work (who improves, who drops out).

    `pass_classifier`, when given, is fitted on `y >= PASS_MARK` and gives the pass probability instead of
    the residuals. Where the grade is hard to call right at the pass mark (setup A: a student on 9 at the
    second period ends on 9 or on 10), a classifier trained for that very decision beats the grade
    regressor's call; the grade, its interval and the pass chance then come from two models.
    """

    def __init__(
        self, estimator=None, *, anchor: str | None = None, pass_classifier=None, cv: int = 5,
        random_state: int | None = None,
    ):
        self.estimator = estimator
        self.anchor = anchor
        self.pass_classifier = pass_classifier
        self.cv = cv
        self.random_state = random_state

    def fit(self, X, y):
        y = np.asarray(y, dtype=float)
        change = y - self._anchor_values(X)
        held_out = np.empty_like(y)
        folds = KFold(n_splits=self.cv, shuffle=True, random_state=self.random_state)
        for train, test in folds.split(X):
            model = clone(self.estimator).fit(_rows(X, train), change[train])
            held_out[test] = _clip(model.predict(_rows(X, test)) + self._anchor_values(_rows(X, test)))
        self.residuals_ = np.sort(y - held_out)
        self.estimator_ = clone(self.estimator).fit(X, change)
        passed = y >= PASS_MARK
        # A classifier needs both outcomes among the training rows; without them the residuals decide.
        self.pass_classifier_ = (
            clone(self.pass_classifier).fit(X, passed)
            if self.pass_classifier is not None and 0 < passed.sum() < len(passed)
            else None
        )
        self.n_features_in_ = self.estimator_.n_features_in_
        if hasattr(self.estimator_, "feature_names_in_"):
            self.feature_names_in_ = self.estimator_.feature_names_in_
        return self

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return _clip(self.estimator_.predict(X) + self._anchor_values(X))

    def predict_interval(self, X, coverage: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
        """Low and high ends of a `coverage` prediction interval for the final grade of each row of X."""
        return self.interval_for(self.predict(X), coverage=coverage)

    def predict_pass_proba(self, X) -> np.ndarray:
        """P(G3 >= PASS_MARK) for each row of X."""
        return self.pass_proba(X, self.predict(X))

    def pass_proba(self, X, predictions: np.ndarray) -> np.ndarray:
        """P(G3 >= PASS_MARK) for the rows of X whose grades this estimator predicted as `predictions`."""
        check_is_fitted(self, "residuals_")
        if self.pass_classifier_ is None:
            return self.pass_proba_for(predictions)
        n = len(self.residuals_)
        # The same bounds as the smoothed residual share: no finite training set claims certainty.
        return np.clip(self.pass_classifier_.predict_proba(X)[:, 1], 1 / (n + 2), (n + 1) / (n + 2))

    def interval_for(self, predictions: np.ndarray, *, coverage: float) -> tuple[np.ndarray, np.ndarray]:
        """The interval around grades this estimator predicted (lets callers predict once, use thrice).

        Conformal quantiles of the signed held-out residuals, `(1 - coverage) / 2` cut from each tail
        (dropouts make the errors very skewed, so a symmetric |residual| band would be needlessly wide
        upwards). The order statistics use the finite-sample correction: rank ceil((n + 1) * q) of n.
        """
        low, high = self.interval_offsets(coverage)
        return _clip(predictions + low), _clip(predictions + high)

    def interval_offsets(self, coverage: float) -> tuple[float, float]:
        """What interval_for adds to a predicted grade before clipping (±inf beyond the sample): one pair per
        version and coverage, so compiled inference (modelstore/ml/onnx) stores them as constants."""
        if not 0 < coverage < 1:
            raise ValueError("coverage must be between 0 and 1")
        check_is_fitted(self, "residuals_")
        n = len(self.residuals_)
        tail = (1 - coverage) / 2
        # The epsilon keeps float noise ((1 - 0.9) / 2 is 0.04999...) from moving a rank by one.
        return (
            _order_statistic(self.residuals_, math.floor((n + 1) * tail + 1e-9)),
            _order_statistic(self.residuals_, math.ceil((n + 1) * (1 - tail) - 1e-9)),
        )

    def pass_proba_for(self, predictions: np.ndarray) -> np.ndarray:
        """The share of held-out errors that would turn these predicted grades into a pass.

        Laplace-smoothed, (k + 1) / (n + 2), so no finite calibration set claims certainty.
        """
        check_is_fitted(self, "residuals_")
        # Residuals are sorted: the ones that lift a prediction to a pass are the tail at or above the gap.
        gap = PASS_THRESHOLD - np.asarray(predictions, dtype=float)
        passing = len(self.residuals_) - np.searchsorted(self.residuals_, gap, side="left")
        return (passing + 1) / (len(self.residuals_) + 2)

    def _anchor_values(self, X) -> np.ndarray | float:
        return 0.0 if self.anchor is None else X[self.anchor].to_numpy(dtype=float)


class AttributeReference(TransformerMixin, BaseEstimator):
    """Passes on the attributes it was fitted on and remembers a typical value of each.

    The typical values (median of numbers, most frequent category, from the training rows) are what an
    explanation swaps in to measure an attribute's effect. Kept inside the pipeline so a stored model
    explains itself without the training data.
    """

    def fit(self, X, y=None):
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        self.reference_ = {name: _typical(X[name]) for name in X.columns}
        return self

    def transform(self, X):
        check_is_fitted(self, "reference_")
        # Records may carry more attributes than this setup uses (e.g. G1 in setup C): keep only ours.
        return X.loc[:, list(self.feature_names_in_)]

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return self.feature_names_in_.copy()


def _typical(column) -> int | str:
    if column.dtype.kind in "iub":
        # The lower median is always a value the attribute can take (never e.g. 2.5 failures).
        return int(np.sort(column.to_numpy())[(len(column) - 1) // 2])
    return str(column.mode().iloc[0])


def _rows(X, index):
    return X.iloc[index] if hasattr(X, "iloc") else X[index]


def _clip(values) -> np.ndarray:
    return np.clip(np.asarray(values, dtype=float), GRADE_MIN, GRADE_MAX)


def _order_statistic(sorted_values: np.ndarray, rank: int) -> float:
    """The rank-th smallest value (1-based); beyond the sample it is unbounded, so the grade range decides."""
    if rank < 1:
        return -math.inf
    if rank > len(sorted_values):
        return math.inf
    return float(sorted_values[rank - 1])
