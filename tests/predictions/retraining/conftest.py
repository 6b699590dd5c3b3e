"""Retraining fixtures: the real recipe with few trees and 2 folds, and students with recorded final grades."""
from __future__ import annotations

import pytest

from modelstore.schema import FEATURES
from predictions.services import outcome_record, student_create


@pytest.fixture(autouse=True)
def model_store_dir(settings, tmp_path):
    settings.MODEL_STORE_DIR = tmp_path / "model-store"
    return settings.MODEL_STORE_DIR


@pytest.fixture
def small_recipe(monkeypatch):
    """The recipe with 10 trees and 2-fold measurement: the real retraining path, quickly. The full-size recipe
    runs in tests/integration/test_retrain.py."""
    from modelstore import retraining
    from modelstore.ml.recipe import RECIPE

    monkeypatch.setitem(RECIPE["params"]["mean"], "n_estimators", 10)
    monkeypatch.setitem(RECIPE["params"]["median"], "max_iter", 10)
    monkeypatch.setattr(retraining, "CV_FOLDS", 2)


@pytest.fixture
def graded(dataset, user):
    """graded(n, seed=0, grade=lambda row: row["G3"], prefix="R", **changes) -> the students: `n` students drawn
    from the UCI data (with `changes` to their attributes), each with the final grade `grade(row)` recorded."""

    def make(n, *, seed=0, grade=lambda row: int(row["G3"]), prefix="R", **changes):
        sample = dataset.sample(n=n, random_state=seed)
        students = []
        for index, (_, row) in enumerate(sample.iterrows()):
            record = {name: _plain(row[name]) for name in FEATURES} | changes
            student = student_create(data={"external_id": f"{prefix}{index}", **record}, teacher=user)
            outcome_record(student=student, final_grade=grade(row), user=user)
            students.append(student)
        return students

    return make


def _plain(value):
    return value.item() if hasattr(value, "item") else value
