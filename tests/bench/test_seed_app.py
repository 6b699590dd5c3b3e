"""bench/seed_app.py, the peer of bench/peers.py: it must answer what the pipelines it loaded predict.

Flask is a bench-only dependency (bench/requirements.txt): without it these tests are skipped.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import joblib
import pandas as pd
import pytest

pytest.importorskip("flask")

SEED_APP = Path(__file__).resolve().parents[2] / "bench" / "seed_app.py"


def _seed_app_module():
    spec = importlib.util.spec_from_file_location("seed_app", SEED_APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def pipelines_file(tmp_path, small_pipelines):
    path = tmp_path / "pipelines.joblib"
    joblib.dump(small_pipelines, path)
    return path


@pytest.mark.parametrize(("drop", "setup"), [((), "A"), (("G2",), "B"), (("G1", "G2"), "C")])
def test_seed_app_answers_the_grade_of_the_records_setup(pipelines_file, small_pipelines, record, drop, setup):
    client = _seed_app_module().create_app(pipelines_file).test_client()
    body = {name: value for name, value in record.items() if name not in drop}

    response = client.post("/predict", json=body)

    assert response.status_code == 200
    expected = small_pipelines[setup].predict(pd.DataFrame([body]))[0]
    assert response.get_json() == {"predicted_grade": pytest.approx(float(expected), abs=1e-12)}


def test_seed_app_serves_a_single_pipeline_too(tmp_path, small_pipelines, record):
    path = tmp_path / "one.joblib"
    joblib.dump(small_pipelines["A"], path)
    client = _seed_app_module().create_app(path).test_client()

    response = client.post("/predict", json=record)

    assert response.get_json()["predicted_grade"] == pytest.approx(
        float(small_pipelines["A"].predict(pd.DataFrame([record]))[0]), abs=1e-12
    )
