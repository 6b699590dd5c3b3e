import numpy as np
import pytest
import skops.io as sio
from sklearn.compose import ColumnTransformer

from modelstore.ml.estimators import ConformalGradeRegressor
from modelstore.ml.recipe import build_pipeline, train_pipelines
from modelstore.schema import SETUP_FEATURES, SETUPS, TARGET

OUR_TYPES = {"modelstore.ml.estimators.AttributeReference", "modelstore.ml.estimators.ConformalGradeRegressor"}


def test_build_pipeline_encodes_then_regresses_with_the_conformal_estimator():
    pipeline = build_pipeline("A")
    assert isinstance(pipeline.named_steps["encode"], ColumnTransformer)
    assert isinstance(pipeline[-1], ConformalGradeRegressor)


def test_trained_pipelines_cover_every_setup_with_its_own_attributes(trained_pipelines):
    assert set(trained_pipelines) == set(SETUPS)
    for setup, pipeline in trained_pipelines.items():
        assert tuple(pipeline.named_steps["reference"].feature_names_in_) == SETUP_FEATURES[setup]
        assert len(pipeline[-1].residuals_) == 395


def test_setup_c_ignores_period_grades(trained_pipelines, dataset):
    rows = dataset.head(20)
    changed = rows.assign(G1=20, G2=20)
    pipeline = trained_pipelines["C"]
    assert np.array_equal(pipeline.predict(rows), pipeline.predict(changed))
    assert not np.array_equal(trained_pipelines["A"].predict(rows), trained_pipelines["A"].predict(changed))


def test_encoded_features_keep_readable_names(trained_pipelines):
    names = set(trained_pipelines["A"][:-1].get_feature_names_out())
    assert {"absences", "failures", "G2", "Mjob_teacher"} <= names


def test_predictions_fit_the_training_data_reasonably(trained_pipelines, dataset):
    for setup, pipeline in trained_pipelines.items():
        grades = pipeline.predict(dataset[list(SETUP_FEATURES[setup])])
        assert grades.min() >= 0 and grades.max() <= 20
        assert np.sqrt(np.mean((grades - dataset[TARGET]) ** 2)) < 3.5, setup


def test_training_is_reproducible_with_a_seed(dataset):
    subset = dataset.head(120)
    first = train_pipelines(subset, setups=("B",), random_state=3)["B"]
    second = train_pipelines(subset, setups=("B",), random_state=3)["B"]
    assert np.array_equal(first.predict(subset), second.predict(subset))
    assert np.array_equal(first[-1].residuals_, second[-1].residuals_)


def test_trained_pipelines_round_trip_through_skops(trained_pipelines, dataset):
    data = sio.dumps(trained_pipelines)
    untrusted = set(sio.get_untrusted_types(data=data))
    # Only our two classes and scikit-learn's own internals may need trusting, never e.g. builtins.eval.
    assert OUR_TYPES <= untrusted
    assert all(name in OUR_TYPES or name.startswith("sklearn.") for name in untrusted)
    loaded = sio.loads(data, trusted=sorted(untrusted))
    for setup, pipeline in trained_pipelines.items():
        assert np.array_equal(loaded[setup].predict(dataset), pipeline.predict(dataset))
        assert np.array_equal(loaded[setup][-1].residuals_, pipeline[-1].residuals_)


def test_skops_refuses_to_load_without_trusting_our_types(trained_pipelines):
    with pytest.raises(Exception, match="Untrusted types"):
        sio.loads(sio.dumps(trained_pipelines["C"]), trusted=None)


def test_a_category_missing_from_the_training_rows_is_still_encoded(dataset):
    rows = dataset[dataset["Mjob"] != "health"]
    pipeline = build_pipeline("C").set_params(regressor__estimator__mean__n_estimators=5)
    pipeline.fit(rows[list(SETUP_FEATURES["C"])], rows[TARGET])
    assert "Mjob_health" in pipeline[:-1].get_feature_names_out()
    health = dataset[dataset["Mjob"] == "health"]
    assert pipeline.predict(health).shape == (len(health),)


def test_setup_a_moves_its_centre_with_a_pass_classifier_and_the_others_do_not(trained_pipelines, dataset):
    assert trained_pipelines["B"][-1].pass_classifier_ is None and trained_pipelines["C"][-1].pass_classifier_ is None
    pipeline = trained_pipelines["A"]
    regressor = pipeline[-1]
    encoded = pipeline[:-1].transform(dataset)
    estimates = regressor.estimate(encoded)
    outputs = regressor.distribution(encoded)
    at_mark = regressor.centre_at_mark(encoded, estimates, outputs["category"])
    moved = at_mark != estimates
    chance = regressor.pass_classifier_.predict_proba(encoded)[:, 1]
    # Moved exactly where the classifier calls the other side of the mark than the blend's own distribution,
    # and then to the classifier's side: some students, not all.
    at_estimate = regressor.pass_proba_for(estimates, outputs["category"])
    assert np.array_equal(moved, (at_estimate >= 0.5) != (chance >= 0.5))
    assert 0 < moved.sum() < 0.2 * len(moved)
    assert np.mean((outputs["pass_probability"][moved] >= 0.5) == (chance[moved] >= 0.5)) > 0.9
    # The level margin (A only) then moves some centres within a level, never across the pass mark.
    assert regressor.level_margin == 1.5
    assert trained_pipelines["B"][-1].level_margin is None and trained_pipelines["C"][-1].level_margin is None
    at_mark_pass = regressor.pass_proba_for(at_mark, outputs["category"]) >= 0.5
    assert np.array_equal(outputs["pass_probability"] >= 0.5, at_mark_pass)
    for setup in "ABC":
        assert trained_pipelines[setup][-1].residual_counts_.tolist() == [395]  # one category: no edges kept


def test_the_pass_chance_follows_the_second_period_grade_through_the_one_distribution(trained_pipelines, dataset):
    # What the setup A pass classifier used to know: a student on 9 at the second period is likelier to fail,
    # one on 14 to pass; now it is the mass of the same distribution whose median is the grade.
    pipeline = trained_pipelines["A"]
    student = dataset[list(pipeline.feature_names_in_)].iloc[[0]].copy()
    for g2, passes in ((6, False), (14, True)):
        student["G1"], student["G2"] = g2, g2
        outputs = pipeline[-1].distribution(pipeline[:-1].transform(student))
        assert bool(outputs["pass_probability"][0] >= 0.5) is passes
        assert bool(outputs["grade"][0] >= 9.5) is passes
