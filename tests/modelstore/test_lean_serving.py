"""Issue 19, lean serving memory: a serving process keeps the ONNX sessions and the little the outputs read of
the pipelines, read from the graphs themselves (no package is built); a graph stored before it carried that
state has it taken from the package, whose pipelines are then freed; a setup without a proved graph keeps its
pipeline."""
from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import types
import weakref
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from modelstore import loader, services, storage
from modelstore.ml.estimators import AttributeReference
from modelstore.ml.inference import Predictor, predict_records
from modelstore.ml.serving import ServingReference
from studentperf.memory import memory_release

pytestmark = pytest.mark.django_db


@pytest.fixture
def built(monkeypatch):
    """Weak references to every pipeline the loader builds from a package."""
    pipelines = []

    def package_loads(data):
        loaded, metadata = storage.package_loads(data)
        pipelines.extend(weakref.ref(pipeline) for pipeline in loaded.values())
        return loaded, metadata

    monkeypatch.setattr(loader, "package_loads", package_loads)
    return pipelines


def _estimators_reachable(root) -> list[BaseEstimator]:
    """The scikit-learn estimators reachable from `root` through instances and containers (not through
    classes, modules or functions, which reach everything; not into the ModelVersion row)."""
    seen, found, todo = set(), [], [root]
    skip = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType)
    while todo:
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, skip) or type(obj).__name__ == "ModelVersion":
            continue
        seen.add(id(obj))
        if isinstance(obj, BaseEstimator):
            found.append(obj)
        todo.extend(gc.get_referents(obj))
    return found


def _records(record: dict) -> list[dict]:
    """Two records of each setup, one of them with an unknown attribute."""
    other = {**record, "absences": 30, "studytime": None, "Medu": 1}
    return [
        record, other, {**record, "G2": None}, {**other, "G2": None},
        {**record, "G1": None, "G2": None}, {**other, "G1": None, "G2": None},
    ]


def test_a_served_version_whose_graphs_are_proved_is_loaded_without_building_its_package(register, built, record):
    services.model_version_activate(version=register(), user=None)

    loaded = loader.loaded_model_get()

    assert loaded.engines == {"A": "onnxruntime", "B": "onnxruntime", "C": "onnxruntime"}
    assert built == []  # the skops package was not even built: the graphs carry what serves beside them
    assert all(predictor.pipeline is None for predictor in loaded.predictors.values())
    assert all(type(predictor.reference_step) is ServingReference for predictor in loaded.predictors.values())
    assert _estimators_reachable(loaded) == []  # nothing of scikit-learn at all
    (result,) = predict_records(loaded.predictors, [record])
    assert result["setup"] == "A" and result["top_factors"] and result["unusual"] is False


def test_graphs_without_their_serving_state_take_it_from_the_package_and_free_the_pipelines(
    register, built, record, monkeypatch
):
    # As graphs converted before they carried their serving state (modelstore.ml.serving) are read.
    monkeypatch.setattr(loader.Predictor, "from_graph", classmethod(lambda cls, session: None))
    services.model_version_activate(version=register(), user=None)  # its check builds them too: not counted
    built.clear()

    loaded = loader.loaded_model_get()
    gc.collect()

    assert loaded.engines == {"A": "onnxruntime", "B": "onnxruntime", "C": "onnxruntime"}
    assert all(predictor.pipeline is None for predictor in loaded.predictors.values())
    # Freed, not merely out of the predictors: nothing in this process holds the pipelines any more.
    assert len(built) == 3 and all(reference() is None for reference in built)
    # What stays of them is the attribute reference step (typical values, novelty tables), nothing fitted.
    assert {type(estimator) for estimator in _estimators_reachable(loaded)} == {AttributeReference}
    (result,) = predict_records(loaded.predictors, [record])
    assert result["setup"] == "A" and result["top_factors"] and result["unusual"] is False


def test_the_lean_predictors_give_the_results_of_the_predictors_holding_the_pipelines(register, record):
    services.model_version_activate(version=register(), user=None)
    loaded = loader.loaded_model_get()
    pipelines = loaded.pipelines  # read from the package again
    full = {
        setup: Predictor(pipeline=pipelines[setup], session=predictor.session)
        for setup, predictor in loaded.predictors.items()
    }
    records = _records(record)

    for coverage in (0.9, 0.8):
        lean_results = predict_records(loaded.predictors, records, coverage=coverage, top_k=5)
        assert lean_results == predict_records(full, records, coverage=coverage, top_k=5)
        assert [result["setup"] for result in lean_results] == ["A", "A", "B", "B", "C", "C"]
    assert isinstance(pipelines["A"], Pipeline) and all(p.pipeline is None for p in loaded.predictors.values())


def test_a_setup_whose_graph_was_not_proved_is_served_by_its_pipeline(register, built, record, monkeypatch):
    services.model_version_activate(version=register(), user=None)
    real = loader.onnx_session

    def refuse_b(graph, **kwargs):
        if b"studentperf-setup-B" in graph:
            raise RuntimeError("[ONNXRuntimeError] : 10 : INVALID_GRAPH")
        return real(graph, **kwargs)

    monkeypatch.setattr(loader, "onnx_session", refuse_b)

    loaded = loader.loaded_model_get()
    gc.collect()

    assert loaded.engines == {"A": "onnxruntime", "B": "scikit-learn", "C": "onnxruntime"}
    assert isinstance(loaded.predictors["B"].pipeline, Pipeline)
    assert loaded.predictors["A"].pipeline is None and loaded.predictors["C"].pipeline is None
    assert sum(reference() is not None for reference in built) == 1  # B's, the only one kept
    records = [{**record, "G2": None}, {**record, "G2": None, "absences": 30}]
    served = predict_records(loaded.predictors, records)
    assert served == predict_records({"B": loaded.pipelines["B"]}, records)  # scikit-learn's own results
    assert [result["setup"] for result in served] == ["B", "B"] and served[0]["top_factors"]


def test_a_predictor_without_its_pipeline_needs_a_session_and_what_the_outputs_read():
    with pytest.raises(ValueError, match="session, reference_step and calibration"):
        Predictor(reference_step=AttributeReference(), calibration=(np.zeros((1, 1)), np.ones(1, dtype=np.int64)))


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmRSS from /proc")
def test_memory_freed_by_a_load_goes_back_to_the_system():
    # 64 KiB each, below any mapping threshold of glibc's: on the heap.
    blocks = [np.ones(8 * 1024) for _ in range(6400)]
    held = _rss_mib()
    del blocks[::2]  # every other one: 200 MiB freed in holes between live blocks, never at the top of the heap
    memory_release()

    assert _rss_mib() < held - 150, "the 200 MiB freed stayed resident"
    assert len(blocks) == 3200


# A web process as gunicorn starts it: the entry point, then the URLconf (every view and what it imports).
WEB_PROCESS = """
import json, sys
import studentperf.wsgi
from django.urls import get_resolver
get_resolver().url_patterns
from modelstore.ml.onnx import OUTPUTS, onnx_session
print(json.dumps(sorted(name for name in ("onnx", "skl2onnx") if name in sys.modules)))
from modelstore.ml.onnx import pipeline_to_onnx
print(json.dumps(sorted(name for name in ("onnx", "skl2onnx") if name in sys.modules)))
"""


def test_a_web_process_imports_the_graph_converter_only_when_it_converts(tmp_path):
    from tests.studentperf.test_settings import GOOD_KEY, GOOD_SECRET

    environment = {
        "PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "studentperf.settings",
        "DJANGO_SECRET_KEY": GOOD_SECRET, "MODEL_ENCRYPTION_KEY": GOOD_KEY, "LOG_STREAM": "stderr",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    done = subprocess.run([sys.executable, "-c", WEB_PROCESS], cwd=Path(__file__).resolve().parents[2],
                          env=environment, capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    serving, converting = (json.loads(line) for line in done.stdout.strip().splitlines()[-2:])
    assert serving == []  # onnx and skl2onnx: about 30 MiB a serving process does without
    assert converting == ["onnx", "skl2onnx"]
