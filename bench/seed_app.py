"""The peer of bench/peers.py: a minimal Flask + joblib prediction app in the style of the seed document's example.

Per request it builds a one-row DataFrame from the JSON body and returns `pipeline.predict` of it, as the
seed's example does, and nothing else: no authentication, no validation, no interval, pass probability or
explanations, no audit row, no batch endpoint. Errors are whatever Flask makes of an exception (a 500).

The file it loads (`create_app(path)`, or the SEED_PIPELINE environment variable for
`gunicorn seed_app:app`) is a joblib dump of either one fitted scikit-learn pipeline or a dict
{setup: pipeline}; with a dict, a record with G1 and G2 goes to setup "A", with G1 only to "B", else to "C",
as studentperf chooses (modelstore.schema.setup_for). joblib unpickles: load only a file made by the same
run (bench/peers.py dumps the bench's own model into its throw-away folder), never one from elsewhere.
Unpickling studentperf's pipelines imports their estimator classes (modelstore.ml.estimators, which needs
no Django): the project's root must be on PYTHONPATH.
"""
from __future__ import annotations

import os

import joblib
import pandas as pd
from flask import Flask, jsonify, request


def create_app(path: str | os.PathLike) -> Flask:
    model = joblib.load(path)
    app = Flask(__name__)

    @app.post("/predict")
    def predict():
        record = request.get_json()
        pipeline = model[_setup(record)] if isinstance(model, dict) else model
        grade = pipeline.predict(pd.DataFrame([record]))[0]
        return jsonify({"predicted_grade": float(grade)})

    @app.get("/health")
    def health():  # for the bench to know a worker is up; not on the measured path
        return "ok"

    return app


def _setup(record: dict) -> str:
    if record.get("G1") is not None:
        return "A" if record.get("G2") is not None else "B"
    return "C"


# `gunicorn seed_app:app` (with --chdir bench/): each worker loads the file when it imports this module.
app = create_app(os.environ["SEED_PIPELINE"]) if os.environ.get("SEED_PIPELINE") else None
