"""The training recipe: one pipeline per setup, from the raw UCI attributes to a calibrated grade."""
from __future__ import annotations

from collections.abc import Callable

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor, VotingRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from modelstore.ml.estimators import AttributeReference, ConformalGradeRegressor
from modelstore.schema import CATEGORICAL, FEATURES, SETUP_FEATURES, SETUPS, TARGET

# Two views of the same student: a random forest estimates the mean grade (what RMSE rewards), boosting
# with absolute loss the median (what the pass/fail and level calls reward). They differ where the outcome
# is bimodal: a student on 10 at the second period usually ends on 10 or more, but some drop out with 0.
# Their blend is the centre of a predictive distribution (ConformalGradeRegressor) whose median is the
# predicted grade and whose mass at 10 or more is the pass probability. In A a pass classifier moves the
# centre where it calls the other side of the mark than the blend does: the students at G2 = 9 and 10,
# whose pass/fail it calls better than any grade regressor (92.4 % against 91.2 %). Mondrian categories by
# the predicted change were measured and not kept (docs/model.md, "What was tried"). Choices by 10 runs of
# 10-fold CV; C's weights by 10 runs on other folds (seeds 100-109) than the reported evaluation's: with the
# distribution's median as the grade, C needs the steadier mean even more (five-level 33.60 % for [0.9, 0.1]
# against 33.29 for [0.75, 0.25] and 33.34 for [0.6, 0.4]). In A a level margin holds a median just across a
# level cut from G2 to G2's level: five-level accuracy 79.03 % against 78.44 on the reported folds.
RECIPE: dict = {
    "name": "conformal-distribution-forest-boosting-blend",
    "estimator": "VotingRegressor(RandomForestRegressor, HistGradientBoostingRegressor(loss='absolute_error')), "
    "the centre of a conformal predictive distribution; A: LogisticRegression moves the centre at the mark",
    "params": {
        "mean": {"n_estimators": 150, "max_features": 0.5},
        "median": {"loss": "absolute_error", "max_iter": 100, "learning_rate": 0.1},
        "weights": {"A": [0.5, 0.5], "B": [0.3, 0.7], "C": [0.9, 0.1]},  # [mean, median]; None: the forest alone
        "anchor": {"A": "G2", "B": "G1", "C": None},
        # Cuts of the predicted change (estimate - anchor) into Mondrian categories; None: one category.
        "category_edges": {"A": None, "B": None, "C": None},
        # Unscaled inputs on purpose: the period grades (0-20) then carry the decision and the 0/1 attributes
        # are held back by the penalty; scaled, every attribute weighs alike and the accuracy drops.
        "pass_classifier": {"A": {"C": 0.1, "max_iter": 5000}, "B": None, "C": None},
        # A median within this of a level cut (11.5, 13.5, 15.5), across it from the anchor, is held to the
        # anchor's level (ConformalGradeRegressor.level_held); None: never. Chosen on seeds 100-109.
        "level_margin": {"A": 1.5, "B": None, "C": None},
    },
    "encoding": "one-hot of the schema's categories (binary ones as one column), numbers as they are",
    "calibration": "5-fold out-of-fold signed residuals (split-conformal predictive system), per category if any",
}


def build_pipeline(setup: str, *, random_state: int = 0) -> Pipeline:
    """An unfitted pipeline for `setup`; it takes a DataFrame holding (at least) SETUP_FEATURES[setup]."""
    features = SETUP_FEATURES[setup]
    categorical = [name for name in features if name in CATEGORICAL]
    numeric = [name for name in features if name not in CATEGORICAL]
    categories = [list(FEATURES[name].choices) for name in categorical]
    encode = ColumnTransformer(
        [
            # Categories from the schema, not the rows: every fold of a cross-validation encodes alike.
            ("category", OneHotEncoder(categories=categories, drop="if_binary", sparse_output=False), categorical),
            # Trees need no scaling, and raw numbers keep explanations readable.
            ("number", "passthrough", numeric),
        ],
        verbose_feature_names_out=False,
    )
    params = RECIPE["params"]
    classifier = params["pass_classifier"][setup]
    regressor = ConformalGradeRegressor(
        _grade_estimator(setup, random_state=random_state),
        anchor=params["anchor"][setup],
        category_edges=params["category_edges"][setup],
        pass_classifier=LogisticRegression(**classifier) if classifier else None,
        level_margin=params["level_margin"][setup],
        cv=5,
        random_state=random_state,
    )
    pipeline = Pipeline(
        [
            ("reference", AttributeReference()),
            ("encode", encode),
            ("regressor", regressor),
        ]
    )
    return pipeline.set_output(transform="pandas")


def _grade_estimator(setup: str, *, random_state: int):
    params = RECIPE["params"]
    forest = RandomForestRegressor(**params["mean"], random_state=random_state)
    weights = params["weights"][setup]
    if weights is None:
        return forest
    median = HistGradientBoostingRegressor(**params["median"], random_state=random_state)
    return VotingRegressor([("mean", forest), ("median", median)], weights=weights)


def train_pipelines(
    df: pd.DataFrame, *, setups=SETUPS, random_state: int = 0, progress: Callable[[int, int], None] | None = None
) -> dict[str, Pipeline]:
    """One pipeline per setup, fitted on all rows of `df` (as returned by `load_dataset`), target G3.

    `progress(done, total)` is called as each setup's pipeline is fitted.
    """
    pipelines = {}
    for setup in setups:
        features = list(SETUP_FEATURES[setup])
        pipelines[setup] = build_pipeline(setup, random_state=random_state).fit(df[features], df[TARGET])
        if progress is not None:
            progress(len(pipelines), len(setups))
    return pipelines
