import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.tree import DecisionTreeRegressor

from modelstore.ml.estimators import AttributeReference, ConformalGradeRegressor


def _noisy_line(n: int, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 20, n)
    return pd.DataFrame({"x": x}), np.clip(x + rng.normal(0, 2, n), 0, 20)


def test_residuals_are_held_out_not_in_sample():
    X, y = _noisy_line(200, seed=1)
    # A full-depth tree reproduces its training rows exactly: in-sample residuals would all be zero.
    regressor = ConformalGradeRegressor(DecisionTreeRegressor(random_state=0), cv=5, random_state=0).fit(X, y)
    assert np.allclose(regressor.predict(X), y)
    assert np.abs(regressor.residuals_).mean() > 1
    assert np.all(np.diff(regressor.residuals_) >= 0)


def test_interval_covers_about_the_stated_share_of_new_data():
    X, y = _noisy_line(400, seed=2)
    X_new, y_new = _noisy_line(4000, seed=3)
    regressor = ConformalGradeRegressor(LinearRegression(), random_state=0).fit(X, y)
    for coverage in (0.8, 0.9):
        low, high = regressor.predict_interval(X_new, coverage=coverage)
        assert abs(np.mean((low <= y_new) & (y_new <= high)) - coverage) < 0.03
    assert np.all(low >= 0) and np.all(high <= 20)


def test_interval_uses_the_finite_sample_rank():
    regressor = ConformalGradeRegressor(LinearRegression(), cv=2).fit(*_noisy_line(20, seed=4))
    regressor.residuals_ = np.arange(-9.0, 10.0)  # 19 residuals: ranks ceil(20 * 0.95) = 19, floor(20 * 0.05) = 1
    low, high = regressor.interval_for(np.array([10.0]), coverage=0.9)
    assert (low[0], high[0]) == (1.0, 19.0)
    # Beyond the residuals the interval is unbounded, so it is the whole grade range.
    low, high = regressor.interval_for(np.array([10.0]), coverage=0.99)
    assert (low[0], high[0]) == (0.0, 20.0)


def test_pass_probability_counts_residuals_that_reach_a_pass_smoothed():
    regressor = ConformalGradeRegressor(LinearRegression(), cv=2).fit(*_noisy_line(20, seed=5))
    regressor.residuals_ = np.array([-3.0, -1.0, 0.0, 1.0, 3.0])
    probability = regressor.pass_proba_for(np.array([0.0, 8.5, 9.5, 20.0]))
    # 8.5 passes with residuals 1 and 3 (k=2 of n=5): (2 + 1) / (5 + 2).
    assert probability == pytest.approx([1 / 7, 3 / 7, 4 / 7, 6 / 7])


def test_a_pass_classifier_gives_the_pass_probability_within_the_smoothed_bounds():
    X, y = _noisy_line(300, seed=6)
    regressor = ConformalGradeRegressor(LinearRegression(), pass_classifier=LogisticRegression(), cv=3).fit(X, y)
    grades = regressor.predict(X)
    probability = regressor.pass_proba(X, grades)
    expected = LogisticRegression().fit(X, y >= 10).predict_proba(X)[:, 1]
    n = len(regressor.residuals_)
    assert probability == pytest.approx(np.clip(expected, 1 / (n + 2), (n + 1) / (n + 2)))
    assert not np.allclose(probability, regressor.pass_proba_for(grades))
    assert np.all((probability > 0) & (probability < 1))


def test_without_both_outcomes_the_residuals_give_the_pass_probability():
    X = pd.DataFrame({"x": np.linspace(10, 20, 30)})
    y = np.linspace(12, 20, 30)  # everyone passes: a classifier cannot be fitted
    regressor = ConformalGradeRegressor(LinearRegression(), pass_classifier=LogisticRegression(), cv=3).fit(X, y)
    grades = regressor.predict(X)
    assert regressor.pass_classifier_ is None
    assert regressor.pass_proba(X, grades) == pytest.approx(regressor.pass_proba_for(grades))


def test_predictions_are_clipped_to_the_grade_range():
    X = pd.DataFrame({"x": np.arange(40.0)})
    regressor = ConformalGradeRegressor(LinearRegression(), random_state=0).fit(X, np.arange(40.0) - 10)
    grades = regressor.predict(X)
    assert grades.min() == 0 and grades.max() == 20


def test_attribute_reference_keeps_its_columns_and_typical_values():
    X = pd.DataFrame({"failures": [0, 0, 1, 3], "Mjob": ["other", "teacher", "other", "health"], "G1": [1] * 4})
    step = AttributeReference().fit(X[["failures", "Mjob"]])
    assert step.reference_ == {"failures": 0, "Mjob": "other"}
    assert list(step.transform(X).columns) == ["failures", "Mjob"]


def test_anchor_learns_the_change_from_a_column():
    X = pd.DataFrame({"G2": np.arange(21.0)})
    y = np.arange(21.0)
    stump = DecisionTreeRegressor(max_depth=1)
    # A stump alone can only draw two steps; relative to G2 it only has to learn "no change".
    anchored = ConformalGradeRegressor(stump, anchor="G2", random_state=0).fit(X, y)
    plain = ConformalGradeRegressor(stump, random_state=0).fit(X, y)
    assert np.allclose(anchored.predict(X), y) and np.allclose(anchored.residuals_, 0)
    assert not np.allclose(plain.predict(X), y)
