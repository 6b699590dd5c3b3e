"""The estimators a served pipeline is made of, beyond scikit-learn's own.

Both classes keep only numpy arrays, python scalars/str/dicts and scikit-learn objects as state, so a
pipeline holding them round-trips through skops.io, trusting these two classes by name.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin, clone
from sklearn.model_selection import KFold
from sklearn.utils.validation import check_is_fitted

from modelstore.ml.novelty import rarity_fit
from modelstore.ml.serving import ReferenceMethods, interval_offsets_of
from modelstore.schema import GRADE_MAX, GRADE_MIN, PASS_MARK, PASS_THRESHOLD

# Rows per block when counting the residuals that reach a pass (rows x residuals booleans at a time).
_CHUNK = 4096
# The cuts between the paper's five levels above the pass mark (10-11, 12-13, 14-15, 16-20): `level_margin`
# holds a median to its anchor's side of these. The pass mark itself is the pass classifier's to call.
LEVEL_CUTS_ABOVE_PASS = (11.5, 13.5, 15.5)


class ConformalGradeRegressor(RegressorMixin, BaseEstimator):
    """A grade regressor whose every output is read from one predictive distribution per student.

    `fit` first computes out-of-fold predictions (`cv` folds): each training row is predicted by a copy of
    `estimator` that never saw it, and the signed residuals `y - prediction` are kept. Then `estimator` is
    fitted on all rows. For a new student with centre `point` (the estimator's grade), the predictive
    distribution of the final grade is `point + r` over the held-out residuals `r` of the student's category:
    a split-conformal predictive system (Vovk et al. 2017), Mondrian when `category_edges` is given. Because
    the fold models are trained on (cv-1)/cv of the rows, they err slightly more than the final model: the
    distribution leans to the wide side.

    Every output is a functional of that distribution, so they cannot contradict each other:
    - `predict` is its median: point + the residual of rank floor(n/2) + 1 (of n, 1-based), the upper median;
    - the interval holds its quantiles at (1 - coverage) / 2 and (1 + coverage) / 2, with the finite-sample
      ranks floor((n + 1) q) and ceil((n + 1) q) (beyond the sample: the grade range);
    - the pass probability is its mass at a pass, (k + 1) / (n + 2) with k the residuals with
      point + r >= 9.5, Laplace-smoothed so no finite sample claims certainty.
    The median is >= 9.5 exactly when k >= n / 2, that is when the probability is >= 0.5; the median's rank
    lies between the interval's, and an interval entirely below 9.5 leaves at most (n + 1) (1 - coverage) / 2
    residuals reaching a pass. Each comparison with 9.5 is made on the same floating-point sum point + r,
    so the rules hold exactly, not just approximately (docs/model.md, "One distribution per student").

    `anchor` names an input column (e.g. "G2") the grade is predicted relative to: the base estimator
    learns `y - X[anchor]`. Trees cannot draw the near-identity line between the last period grade and
    the final one except as coarse steps; learning the change keeps it exact and leaves the trees the
    real work (who improves, who drops out).

    `category_edges` (increasing numbers) cut the predicted change, `point - X[anchor]` (or the point
    itself without an anchor), into Mondrian categories: a student predicted to drop two points is
    calibrated on the held-out errors of students predicted to drop, not on everybody's. A category with
    fewer than `min_category` training rows uses the residuals of all rows.

    `pass_classifier`, when given, is fitted on `y >= PASS_MARK` and moves the centre where it and the
    distribution disagree on the side of the mark: the centre then becomes the one at which the
    distribution's mass at a pass is the classifier's probability (9.5 minus the residual of rank
    floor((1 - p) n) + 1). Where the grade is hard to call right at the pass mark (setup A: a student on 9
    at the second period ends on 9 or on 10), a classifier trained for that very decision beats the
    regressor's call; this way what it knows shapes the one distribution instead of being a second opinion,
    and every output still comes from that distribution.

    `level_margin`, with an anchor, holds the median to the anchor's level: where the median falls across one
    of the level cuts 11.5, 13.5 and 15.5 from the anchor (the student's last period grade), by less than
    `level_margin`, the centre moves so that the median is the nearest whole grade on the anchor's side of
    that cut (12 for a student on 13 whose median was 11.2; 11 for a student on 10 whose median was 11.8).
    A student's level seldom changes between the second period and the final grade, and a median just
    across a cut is more often the regressor's pull towards the mean than a real change: in setup A this
    lifts the five-level accuracy from 78.8 to 79.1 % (docs/model.md, "What was tried"). Only medians at or
    above the pass mark move, and they stay there, so the pass call is untouched.
    """

    def __init__(
        self, estimator=None, *, anchor: str | None = None, category_edges=None, min_category: int = 20,
        pass_classifier=None, level_margin: float | None = None, cv: int = 5, random_state: int | None = None,
    ):
        self.estimator = estimator
        self.level_margin = level_margin
        self.anchor = anchor
        self.category_edges = category_edges
        self.pass_classifier = pass_classifier
        self.min_category = min_category
        self.cv = cv
        self.random_state = random_state

    def fit(self, X, y):
        y = np.asarray(y, dtype=float)
        anchor = self._anchor_values(X)
        change = y - anchor
        held_out = np.empty_like(y)
        folds = KFold(n_splits=self.cv, shuffle=True, random_state=self.random_state)
        for train, test in folds.split(X):
            model = clone(self.estimator).fit(_rows(X, train), change[train])
            held_out[test] = _clip(model.predict(_rows(X, test)) + _take(anchor, test))
        residuals = y - held_out
        self.residuals_ = np.sort(residuals)
        self.category_edges_ = np.asarray(() if self.category_edges is None else self.category_edges, dtype=float)
        self.residual_table_, self.residual_counts_ = self._table(residuals, self._categories(held_out, anchor))
        self.estimator_ = clone(self.estimator).fit(X, change)
        passed = y >= PASS_MARK
        # A classifier needs both outcomes among the training rows; without them the regressor's centre stays.
        self.pass_classifier_ = (
            clone(self.pass_classifier).fit(X, passed)
            if self.pass_classifier is not None and 0 < passed.sum() < len(passed)
            else None
        )
        self.n_features_in_ = self.estimator_.n_features_in_
        if hasattr(self.estimator_, "feature_names_in_"):
            self.feature_names_in_ = self.estimator_.feature_names_in_
        return self

    def _table(self, residuals: np.ndarray, categories: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each category's sorted residuals as a row, padded with -inf (which never reaches a pass), and the
        count per row. A category with fewer than min_category rows gets the pooled residuals."""
        rows = []
        for category in range(len(self.category_edges_) + 1):
            own = residuals[categories == category]
            rows.append(np.sort(own if len(own) >= self.min_category else residuals))
        table = np.full((len(rows), max(len(row) for row in rows)), -np.inf)
        for position, row in enumerate(rows):
            table[position, : len(row)] = row
        return table, np.array([len(row) for row in rows], dtype=np.int64)

    def estimate(self, X) -> np.ndarray:
        """The estimator's grade for each row of X, anchored and clipped: the centre before the classifier."""
        check_is_fitted(self, "estimator_")
        return _clip(self.estimator_.predict(X) + self._anchor_values(X))

    def category(self, X, estimates: np.ndarray) -> np.ndarray:
        """The Mondrian category (row of residual_table_) of rows of X whose estimates are `estimates`."""
        return self._categories(estimates, self._anchor_values(X))

    def centre(self, X, estimates: np.ndarray, categories: np.ndarray) -> np.ndarray:
        """The centres of the rows' distributions: the estimates, moved where the pass classifier calls the
        other side of the mark to where the distribution's mass at a pass is the classifier's probability,
        then where `level_margin` holds the median to the anchor's level."""
        points = self.centre_at_mark(X, estimates, categories)
        margin = getattr(self, "level_margin", None)  # None in a version fitted before it existed
        if margin is None or self.anchor is None:
            return points
        return self.level_held(points, categories, self._anchor_values(X), margin)

    def centre_at_mark(self, X, estimates: np.ndarray, categories: np.ndarray) -> np.ndarray:
        """The centres after the pass classifier's move alone (before `level_margin`)."""
        classifier = getattr(self, "pass_classifier_", None)
        if classifier is None:
            return estimates
        table, counts = self._calibration()
        chance = classifier.predict_proba(X)[:, 1]
        disagree = (self.pass_proba_for(estimates, categories) >= 0.5) != (chance >= 0.5)
        n = counts[categories]
        rank = np.minimum(np.floor((1 - chance) * n).astype(np.int64), n - 1)
        moved = _clip(PASS_THRESHOLD - table[categories, rank])
        return np.where(disagree, moved, estimates)

    def level_held(self, points: np.ndarray, categories: np.ndarray, anchor: np.ndarray, margin: float) -> np.ndarray:
        """`points`, moved where the median (at or above the pass mark) lies across a level cut from `anchor` by
        less than `margin`: to `whole - median offset`, `whole` the nearest whole grade on the anchor's side of
        the nearest such cut. Cuts are tried in order so the nearest one crossed wins; each row moves once, from
        its own median. Compiled inference repeats these double operations (modelstore/ml/onnx/convert.py)."""
        offsets = self.median_offsets()[categories]
        median = _clip(points + offsets)
        held = np.asarray(points, dtype=float).copy()
        above = median >= PASS_THRESHOLD
        for cut in LEVEL_CUTS_ABOVE_PASS:  # rising: a later (higher) cut the median is above wins
            up = above & (anchor < cut) & (median >= cut) & (median < cut + margin)
            held = np.where(up, (cut - 0.5) - offsets, held)
        for cut in reversed(LEVEL_CUTS_ABOVE_PASS):  # falling: a later (lower) cut the median is below wins
            down = above & (anchor > cut) & (median < cut) & (median >= cut - margin)
            held = np.where(down, (cut + 0.5) - offsets, held)
        return held

    def point(self, X) -> np.ndarray:
        """The centre of each row's distribution."""
        estimates = self.estimate(X)
        return self.centre(X, estimates, self.category(X, estimates))

    def distribution(self, X) -> dict[str, np.ndarray]:
        """{"point" (the centre), "category", "grade" (the median), "pass_probability"} for each row of X."""
        estimates = self.estimate(X)
        categories = self.category(X, estimates)
        points = self.centre(X, estimates, categories)
        return {
            "point": points, "category": categories,
            "grade": self.median_for(points, categories), "pass_probability": self.pass_proba_for(points, categories),
        }

    def predict(self, X) -> np.ndarray:
        """The median of each row's predictive distribution: the predicted grade."""
        return self.distribution(X)["grade"]

    def predict_interval(self, X, coverage: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
        """Low and high ends of a `coverage` prediction interval for the final grade of each row of X."""
        outputs = self.distribution(X)
        return self.interval_for(outputs["point"], outputs["category"], coverage=coverage)

    def predict_pass_proba(self, X) -> np.ndarray:
        """P(G3 >= PASS_MARK) for each row of X."""
        return self.distribution(X)["pass_probability"]

    def median_for(self, points: np.ndarray, categories: np.ndarray) -> np.ndarray:
        """The medians of the distributions centred on `points` in `categories`."""
        return _clip(points + self.median_offsets()[categories])

    def median_offsets(self) -> np.ndarray:
        """What median_for adds to a centre, per category: the residual of rank floor(n/2) + 1 (the upper median),
        so compiled inference stores them as constants."""
        table, counts = self._calibration()
        return table[np.arange(len(counts)), counts // 2]

    def interval_for(
        self, points: np.ndarray, categories: np.ndarray, *, coverage: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """The `coverage` interval of the distributions centred on `points` in `categories`.

        Quantiles of the signed held-out residuals, `(1 - coverage) / 2` cut from each tail (dropouts make
        the errors very skewed, so a symmetric |residual| band would be needlessly wide upwards).
        """
        low, high = self.interval_offsets(coverage)
        return _clip(points + low[categories]), _clip(points + high[categories])

    def interval_offsets(self, coverage: float) -> tuple[np.ndarray, np.ndarray]:
        """What interval_for adds to a centre, per category, before clipping (±inf beyond the sample): one pair
        of arrays per version and coverage, so compiled inference (modelstore/ml/onnx) stores them as constants."""
        table, counts = self._calibration()
        return interval_offsets_of(table, counts, coverage)

    def pass_proba_for(self, points: np.ndarray, categories: np.ndarray) -> np.ndarray:
        """The distributions' mass at a pass: (k + 1) / (n + 2), k the residuals r of the category with
        point + r >= 9.5 (the same sums the median is read from), n the category's count."""
        table, counts = self._calibration()
        points = np.asarray(points, dtype=float)
        passing = np.empty(len(points))
        for start in range(0, len(points), _CHUNK):
            part = slice(start, start + _CHUNK)
            passing[part] = (points[part, None] + table[categories[part]] >= PASS_THRESHOLD).sum(axis=1)
        return (passing + 1) / (counts[categories] + 2)

    def _calibration(self) -> tuple[np.ndarray, np.ndarray]:
        """residual_table_ and residual_counts_; a version fitted before the table existed has one category,
        all its residuals."""
        check_is_fitted(self, "residuals_")
        if not hasattr(self, "residual_table_"):
            return self.residuals_.reshape(1, -1), np.array([len(self.residuals_)], dtype=np.int64)
        return self.residual_table_, self.residual_counts_

    def _categories(self, points: np.ndarray, anchor) -> np.ndarray:
        edges = getattr(self, "category_edges_", np.empty(0))
        return np.searchsorted(edges, np.asarray(points, dtype=float) - anchor, side="right").astype(np.int64)

    def _anchor_values(self, X) -> np.ndarray | float:
        return 0.0 if self.anchor is None else X[self.anchor].to_numpy(dtype=float)


class AttributeReference(ReferenceMethods, TransformerMixin, BaseEstimator):
    """Passes on the attributes it was fitted on and remembers a typical value of each.

    The typical values (median of numbers, most frequent category, from the training rows) are what an
    explanation swaps in to measure an attribute's effect, and what the model takes for an unknown value
    (`filled`: an attribute left unknown, or a school it was not trained on). `rarity_` is the novelty check
    fitted on the same rows (modelstore.ml.novelty): how unlike them a new record is, and why. Kept inside the
    pipeline so a stored model explains itself, and knows what it learned from, without the training data.
    `filled`, `unusual` and `unusual_tables` are `serving.ReferenceMethods`, shared with the state a serving
    process reads from a graph (`serving.ServingReference`).
    """

    def fit(self, X, y=None):
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        self.reference_ = {name: typical_value(X[name]) for name in X.columns}
        self.rarity_ = rarity_fit(X)
        return self

    def _check_fitted(self) -> None:
        check_is_fitted(self, "reference_")

    def transform(self, X):
        check_is_fitted(self, "reference_")
        # Records may carry more attributes than this setup uses (e.g. G1 in setup C): keep only ours.
        X = X.loc[:, list(self.feature_names_in_)]
        columns = {name: X[name].to_numpy() for name in X.columns}
        filled = self.filled(columns)
        if all(filled[name] is columns[name] for name in columns):
            return X
        return type(X)(filled, index=X.index)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return self.feature_names_in_.copy()


def typical_value(column) -> int | str:
    """An attribute's typical value among `column`'s rows: what the model takes for an unknown value."""
    if column.dtype.kind in "iub":
        # The lower median is always a value the attribute can take (never e.g. 2.5 failures).
        return int(np.sort(column.to_numpy())[(len(column) - 1) // 2])
    return str(column.mode().iloc[0])


def _take(values, index):
    return values[index] if isinstance(values, np.ndarray) else values


def _rows(X, index):
    return X.iloc[index] if hasattr(X, "iloc") else X[index]


def _clip(values) -> np.ndarray:
    return np.clip(np.asarray(values, dtype=float), GRADE_MIN, GRADE_MAX)
