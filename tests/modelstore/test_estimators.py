import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.pipeline import make_pipeline
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


def _with_residuals(residuals, edges=()) -> ConformalGradeRegressor:
    """A fitted regressor whose calibration is replaced by `residuals`: one category, or rows per category."""
    regressor = ConformalGradeRegressor(LinearRegression(), cv=2).fit(*_noisy_line(20, seed=4))
    rows = [np.sort(np.asarray(row, dtype=float)) for row in (residuals if edges else [residuals])]
    width = max(len(row) for row in rows)
    regressor.residual_table_ = np.array([np.pad(row, (0, width - len(row)), constant_values=-np.inf) for row in rows])
    regressor.residual_counts_ = np.array([len(row) for row in rows])
    regressor.category_edges_ = np.asarray(edges, dtype=float)
    return regressor


def test_interval_uses_the_finite_sample_rank():
    regressor = _with_residuals(np.arange(-9.0, 10.0))  # 19: ranks ceil(20 * 0.95) = 19, floor(20 * 0.05) = 1
    low, high = regressor.interval_for(np.array([10.0]), np.array([0]), coverage=0.9)
    assert (low[0], high[0]) == (1.0, 19.0)
    # Beyond the residuals the interval is unbounded, so it is the whole grade range.
    low, high = regressor.interval_for(np.array([10.0]), np.array([0]), coverage=0.99)
    assert (low[0], high[0]) == (0.0, 20.0)


def test_pass_probability_counts_residuals_that_reach_a_pass_smoothed():
    regressor = _with_residuals([-3.0, -1.0, 0.0, 1.0, 3.0])
    probability = regressor.pass_proba_for(np.array([0.0, 8.5, 9.5, 20.0]), np.zeros(4, dtype=int))
    # 8.5 passes with residuals 1 and 3 (k=2 of n=5): (2 + 1) / (5 + 2).
    assert probability == pytest.approx([1 / 7, 3 / 7, 4 / 7, 6 / 7])


def test_the_grade_is_the_upper_median_of_the_distribution():
    odd, even = _with_residuals([-3.0, -1.0, 0.5, 1.0, 3.0]), _with_residuals([-3.0, -1.0, 0.5, 1.0])
    assert odd.median_for(np.array([10.0]), np.array([0]))[0] == 10.5
    # Even n: rank n/2 + 1, so that "median >= 9.5" and "at least half the mass at a pass" are one statement.
    assert even.median_for(np.array([10.0]), np.array([0]))[0] == 10.5
    assert even.median_for(np.array([9.0]), np.array([0]))[0] == 9.5
    assert even.pass_proba_for(np.array([9.0]), np.array([0]))[0] == pytest.approx(3 / 6)


def test_mondrian_categories_cut_the_predicted_change_and_calibrate_apart():
    X = pd.DataFrame({"G2": np.tile(np.arange(5.0, 16.0), 20), "drop": np.repeat([0.0, 1.0], 110)})
    rng = np.random.default_rng(7)
    # Students marked "drop" lose 3 points with a wide spread; the others keep G2 give or take a little.
    y = np.where(X["drop"] == 1, X["G2"] - 3 + rng.normal(0, 2.5, len(X)), X["G2"] + rng.normal(0, 0.4, len(X)))
    regressor = ConformalGradeRegressor(
        DecisionTreeRegressor(max_depth=2, random_state=0), anchor="G2", category_edges=[-1.5], cv=5, random_state=0,
    ).fit(X, y)
    points = regressor.point(X)
    categories = regressor.category(X, points)
    assert set(categories[X["drop"] == 1]) == {0} and set(categories[X["drop"] == 0]) == {1}
    low, high = regressor.interval_for(points, categories, coverage=0.9)
    width = high - low
    # Each category's interval reflects its own errors: the pooled ones would give everyone the same width.
    assert width[X["drop"] == 1].mean() > 3 * width[X["drop"] == 0].mean()
    assert regressor.residual_counts_.tolist() == [110, 110]


def test_a_category_with_too_few_rows_uses_the_pooled_residuals():
    X, y = _noisy_line(100, seed=8)
    regressor = ConformalGradeRegressor(
        LinearRegression(), category_edges=[19.5], min_category=20, cv=5, random_state=0
    ).fit(X, y)
    points = np.clip(cross_val_predict(LinearRegression(), X, y, cv=KFold(5, shuffle=True, random_state=0)), 0, 20)
    own = int(np.sum(points < 19.5))
    assert 20 <= own < 100  # the few centres above 19.5 are too few for their own calibration
    assert regressor.residual_counts_.tolist() == [own, 100]
    assert np.array_equal(regressor.residual_table_[1], regressor.residuals_)


def test_a_version_fitted_before_the_table_reads_its_residuals_as_one_category():
    regressor = _with_residuals([-3.0, -1.0, 0.0, 1.0, 3.0])
    for name in ("residual_table_", "residual_counts_", "category_edges_"):
        delattr(regressor, name)
    regressor.residuals_ = np.array([-3.0, -1.0, 0.0, 1.0, 3.0])
    X = pd.DataFrame({"x": [8.5]})
    outputs = regressor.distribution(X)
    assert outputs["category"].tolist() == [0]
    assert outputs["pass_probability"][0] == pytest.approx(regressor.pass_proba_for(outputs["point"], [0])[0])


def test_a_pass_classifier_moves_the_centre_only_where_it_calls_the_other_side():
    rng = np.random.default_rng(6)
    x = rng.uniform(0, 20, 600)
    # Students near the mark split: those with "effort" pass, the others drop; the line cannot see it.
    effort = rng.integers(0, 2, 600)
    y = np.clip(np.where((x > 7) & (x < 12), np.where(effort == 1, 11.0, 8.0), x) + rng.normal(0, 0.5, 600), 0, 20)
    X = pd.DataFrame({"x": x, "effort": effort.astype(float)})
    line = ColumnTransformer([("x", "passthrough", ["x"])])
    regressor = ConformalGradeRegressor(
        make_pipeline(line, LinearRegression()), pass_classifier=make_pipeline(
            ColumnTransformer([("both", "passthrough", ["x", "effort"])]), LogisticRegression(C=10, max_iter=1000)),
        cv=3, random_state=0,
    ).fit(X, y)
    outputs = regressor.distribution(X)
    estimates = regressor.estimate(X)
    chance = regressor.pass_classifier_.predict_proba(X)[:, 1]
    disagree = (regressor.pass_proba_for(estimates, outputs["category"]) >= 0.5) != (chance >= 0.5)
    assert disagree.sum() > 20
    assert np.array_equal(outputs["point"] != estimates, disagree)
    # Moved to where the distribution's mass at a pass is about the classifier's chance, on its side of the mark.
    n = len(regressor.residuals_)
    assert np.abs(outputs["pass_probability"][disagree] - chance[disagree]).max() <= 2 / n + 1e-9
    assert np.array_equal((outputs["grade"] >= 9.5)[disagree], (chance >= 0.5)[disagree])
    # And the pass call improves where they disagreed: the classifier saw the effort.
    unmoved_call = regressor.pass_proba_for(estimates, outputs["category"]) >= 0.5
    assert np.mean((outputs["grade"] >= 9.5) == (y >= 9.5)) > np.mean(unmoved_call == (y >= 9.5))


def test_level_margin_holds_a_median_just_across_a_level_cut_to_the_anchors_level():
    regressor = _with_residuals([-1.0, 0.0, 1.0])  # the median is the centre
    anchor = np.array([13.0, 13.0, 10.0, 10.0, 12.0, 16.0, 16.0, 9.0])
    points = np.array([11.2, 9.8, 11.8, 13.2, 12.4, 12.9, 9.0, 11.7])
    zeros = np.zeros(len(points), dtype=int)

    held = regressor.level_held(points, zeros, anchor, 1.5)

    # 11.2 for a student on 13: 0.3 below the cut at 11.5, back to 12; 9.8 is 1.7 below it, a real drop.
    # 11.8 for a student on 10: down to 11; 13.2 is 1.7 above the cut, a real rise. 12.4 on 12: the same level.
    # 12.9 on 16: 0.6 below the cut at 13.5 (2.6 below 15.5): 14, the anchor's side of the nearest cut.
    # 9.0 on 16: below the pass mark, which is the classifier's to call. 11.7 on 9: held at 11, still a pass.
    assert held.tolist() == [12.0, 9.8, 11.0, 13.2, 12.4, 14.0, 9.0, 11.0]
    wide = regressor.level_held(points, zeros, anchor, 3.0)
    assert wide.tolist() == [12.0, 12.0, 11.0, 11.0, 12.4, 14.0, 9.0, 11.0]


def test_level_margin_moves_the_centre_not_just_the_median(dataset):
    X, y = dataset[["G2", "absences"]], dataset["G3"]
    plain = ConformalGradeRegressor(LinearRegression(), anchor="G2", cv=5, random_state=0).fit(X, y)
    held = ConformalGradeRegressor(LinearRegression(), anchor="G2", level_margin=1.5, cv=5, random_state=0).fit(X, y)
    before, after = plain.distribution(X), held.distribution(X)
    moved = before["point"] != after["point"]
    assert moved.sum() > 5
    # Every moved median is a whole grade at the edge of the student's G2 level, and its interval moved with it.
    cuts = np.array([11.5, 13.5, 15.5])
    assert np.array_equal(np.digitize(after["grade"][moved], cuts), np.digitize(X["G2"].to_numpy()[moved], cuts))
    assert np.allclose(after["grade"][moved], np.round(after["grade"][moved]))
    low, high = held.interval_for(after["point"], after["category"], coverage=0.9)
    assert np.all((low <= after["grade"]) & (after["grade"] <= high))
    # Nothing crosses the pass mark: the pass call is the same with and without the margin.
    assert np.array_equal(before["grade"] >= 9.5, after["grade"] >= 9.5)
    assert np.array_equal(before["pass_probability"] >= 0.5, after["pass_probability"] >= 0.5)
    # A version fitted before the margin existed serves as it did.
    del held.level_margin
    assert np.array_equal(held.point(X), plain.point(X))


def test_without_both_outcomes_no_classifier_is_fitted():
    X = pd.DataFrame({"x": np.linspace(10, 20, 30)})
    y = np.linspace(12, 20, 30)  # everyone passes: a classifier cannot be fitted
    regressor = ConformalGradeRegressor(LinearRegression(), pass_classifier=LogisticRegression(), cv=3).fit(X, y)
    assert regressor.pass_classifier_ is None
    assert np.array_equal(regressor.point(X), regressor.estimate(X))


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


def test_attribute_reference_fits_the_novelty_check_on_its_rows(dataset):
    features = ["age", "absences", "Medu", "Mjob", "G2"]
    step = AttributeReference().fit(dataset[features])
    assert step.rarity_["attributes"] == features and step.rarity_["n"] == len(dataset)
    odd = {"age": np.array([22]), "absences": np.array([75]), "Medu": np.array([0]), "Mjob": np.array(["health"],
           dtype=object), "G2": np.array([0])}
    unusual, reasons = step.unusual(odd)
    assert unusual.tolist() == [True] and any(reason.startswith("age: 22 (") for reason in reasons[0])
    del step.rarity_  # a version fitted before the check
    assert step.unusual(odd) is None


def test_anchor_learns_the_change_from_a_column():
    X = pd.DataFrame({"G2": np.arange(21.0)})
    y = np.arange(21.0)
    stump = DecisionTreeRegressor(max_depth=1)
    # A stump alone can only draw two steps; relative to G2 it only has to learn "no change".
    anchored = ConformalGradeRegressor(stump, anchor="G2", random_state=0).fit(X, y)
    plain = ConformalGradeRegressor(stump, random_state=0).fit(X, y)
    assert np.allclose(anchored.predict(X), y) and np.allclose(anchored.residuals_, 0)
    assert not np.allclose(plain.predict(X), y)
