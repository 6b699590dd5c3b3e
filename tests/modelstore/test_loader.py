from __future__ import annotations

import base64
import os
import subprocess
import sys
import zlib
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.db import connection

from modelstore import loader, services, storage
from modelstore.ml.inference import predict_records
from modelstore.models import ModelVersion
from studentperf.errors import ApplicationError

pytestmark = pytest.mark.django_db


@pytest.fixture
def loads(monkeypatch):
    """The versions this process loaded (read, checked and built into predictors), by primary key, in order."""
    loaded = []
    real = loader._model_load

    def counting_model_load(*, pk):
        loaded.append(pk)
        return real(pk=pk)

    monkeypatch.setattr(loader, "_model_load", counting_model_load)
    return loaded


def test_active_model_is_loaded_once_and_then_served_from_memory(register, loads, dataset):
    version = services.model_version_activate(version=register(), user=None)

    served = [loader.loaded_model_get() for _ in range(3)]

    assert len(loads) == 1 and served[0] is served[1] is served[2]
    assert served[0].version == version and sorted(served[0].pipelines) == ["A", "B", "C"]
    features = list(served[0].pipelines["A"].feature_names_in_)
    assert served[0].pipelines["A"].predict(dataset[features].head(3)).shape == (3,)


def test_a_model_load_freezes_what_is_alive_and_the_next_load_lets_it_be_collected(register):
    import gc
    import weakref

    class Node:
        pass

    first, second = register(), register()
    cycle = Node()
    cycle.itself = cycle  # garbage only the collector can free, once unreferenced
    orphan = weakref.ref(cycle)
    services.model_version_activate(version=first, user=None)
    loader.loaded_model_get()
    del cycle
    gc.collect()
    assert orphan() is not None  # frozen at the load: full collections no longer walk it

    services.model_version_activate(version=second, user=None)
    assert loader.loaded_model_get().version == second

    assert orphan() is None  # unfrozen before the next freeze: what the old model left is freed


def test_active_model_checks_the_active_version_with_one_query(register, django_assert_num_queries):
    services.model_version_activate(version=register(), user=None)
    loader.loaded_model_get()

    with django_assert_num_queries(1):
        loader.loaded_model_get()


def test_new_activation_is_served_on_the_next_call_without_restart(register, loads):
    first, second = register(), register()
    services.model_version_activate(version=first, user=None)
    assert loader.loaded_model_get().version.version == 1

    services.model_version_activate(version=second, user=None)
    assert loader.loaded_model_get().version.version == 2

    services.model_version_rollback(user=None)
    assert loader.loaded_model_get().version.version == 1
    assert len(loads) == 3


@pytest.fixture
def clock(monkeypatch, settings):
    """The selectors' monotonic clock, set by hand; the active version is looked at every 5 s."""
    settings.ACTIVE_MODEL_CHECK_SECONDS = 5
    now = SimpleNamespace(seconds=1000.0)
    monkeypatch.setattr(loader, "time", SimpleNamespace(monotonic=lambda: now.seconds))
    loader.loaded_model_recheck()  # forget when earlier tests looked, on the real clock
    return now


def test_between_checks_the_loaded_model_is_served_without_a_query(register, clock, django_assert_num_queries):
    services.model_version_activate(version=register(), user=None)
    loader.loaded_model_get()

    clock.seconds += 4.9
    with django_assert_num_queries(0):
        loader.loaded_model_get()
    clock.seconds += 0.1
    with django_assert_num_queries(1):
        loader.loaded_model_get()


def test_an_activation_elsewhere_is_served_once_the_check_is_due(register, clock, loads):
    first, second = register(), register()
    services.model_version_activate(version=first, user=None)
    assert loader.loaded_model_get().version.version == 1

    # In the test's transaction the commit hooks never run: to this process, the activation happened elsewhere.
    services.model_version_activate(version=second, user=None)
    clock.seconds += 4
    assert loader.loaded_model_get().version.version == 1
    clock.seconds += 1
    assert loader.loaded_model_get().version.version == 2
    assert len(loads) == 2


def test_an_activation_or_rollback_in_this_process_is_served_at_once(
    register, clock, django_capture_on_commit_callbacks
):
    first, second = register(), register()
    services.model_version_activate(version=first, user=None)
    assert loader.loaded_model_get().version.version == 1

    with django_capture_on_commit_callbacks(execute=True):
        services.model_version_activate(version=second, user=None)
    assert loader.loaded_model_get().version.version == 2
    with django_capture_on_commit_callbacks(execute=True):
        services.model_version_rollback(user=None)
    assert loader.loaded_model_get().version.version == 1


def test_no_active_version_is_unavailable_and_says_what_to_do(register):
    register()

    with pytest.raises(ApplicationError) as unavailable:
        loader.loaded_model_get()
    assert unavailable.value.kind == "unavailable" and "train_model --activate" in unavailable.value.message


def test_active_version_with_tampered_package_is_not_served(register, model_store_dir, caplog):
    version = services.model_version_activate(version=register(), user=None)
    (model_store_dir / version.artifact_file).write_bytes(b"replaced")

    with pytest.raises(ApplicationError) as unavailable:
        loader.loaded_model_get()
    assert unavailable.value.kind == "unavailable" and "v1 cannot be loaded" in unavailable.value.message
    assert any(record.message == "active model package refused" for record in caplog.records)


CHILD = """
import os, sys
import django
from django.conf import settings

settings.DATABASES["default"]["NAME"] = os.environ["STUDENTPERF_CHILD_DB_NAME"]
django.setup()
from modelstore.loader import loaded_model_get

print("serving", loaded_model_get().version.version, flush=True)
sys.stdin.readline()
print("serving", loaded_model_get().version.version, flush=True)
"""


@pytest.mark.django_db(transaction=True)
def test_another_process_serves_a_new_activation_without_restart(register):
    first, second = register(), register()
    services.model_version_activate(version=first, user=None)
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "studentperf.test_settings",
        "STUDENTPERF_CHILD_DB_NAME": str(connection.settings_dict["NAME"]),
        "MODEL_STORE_DIR": str(settings.MODEL_STORE_DIR),
        "MODEL_ENCRYPTION_KEY": base64.urlsafe_b64encode(settings.MODEL_ENCRYPTION_KEY).decode(),
        "LOG_STREAM": "stderr",  # stdout is the conversation with this test
    }
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], cwd=settings.BASE_DIR, env=env, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        before = child.stdout.readline().strip()
        services.model_version_activate(version=second, user=None)
        after, errors = child.communicate("go\n", timeout=120)
    finally:
        child.kill()

    assert (before, after.strip()) == ("serving 1", "serving 2"), errors


def test_active_model_serves_each_setup_through_its_proved_graph_with_the_thread_setting(register, monkeypatch):
    services.model_version_activate(version=register(), user=None)
    monkeypatch.setenv("INFERENCE_THREADS", "2")

    loaded = loader.loaded_model_get()

    assert loaded.engines == {"A": "onnxruntime", "B": "onnxruntime", "C": "onnxruntime"}
    for predictor in loaded.predictors.values():
        options = predictor.session.get_session_options()
        assert (options.intra_op_num_threads, options.inter_op_num_threads) == (2, 2)


def test_a_version_stored_in_the_first_format_still_loads_and_serves_through_scikit_learn(
    register, model_store_dir, record, tmp_path
):
    version = register()
    package = storage.artifact_load(file_name=version.artifact_file, sha256=version.artifact_sha256)
    # As written before the graphs: MAGIC 1, the skops bytes alone, no `compiled` record.
    nonce = os.urandom(storage.NONCE_SIZE)
    ciphertext = AESGCM(settings.MODEL_ENCRYPTION_KEY).encrypt(
        nonce, zlib.compress(package), storage.MAGIC_V1 + version.artifact_sha256.encode()
    )
    (model_store_dir / version.artifact_file).write_bytes(storage.MAGIC_V1 + nonce + ciphertext)
    ModelVersion.objects.filter(pk=version.pk).update(compiled={})
    version.refresh_from_db()
    services.model_version_activate(version=version, user=None)

    loaded = loader.loaded_model_get()

    assert loaded.engines == {"A": "scikit-learn", "B": "scikit-learn", "C": "scikit-learn"}
    (result,) = predict_records(loaded.predictors, [record])
    assert result["setup"] == "A" and result["top_factors"]
    exported = services.model_version_export(version=version, out_path=tmp_path / "old.skops")
    assert exported.read_bytes() == package


def test_a_graph_onnxruntime_refuses_at_load_leaves_the_setup_to_scikit_learn(register, monkeypatch, caplog):
    services.model_version_activate(version=register(), user=None)
    real = loader.onnx_session

    def refuse_b(graph, **kwargs):
        if b"studentperf-setup-B" in graph:
            raise RuntimeError("[ONNXRuntimeError] : 10 : INVALID_GRAPH")
        return real(graph, **kwargs)

    monkeypatch.setattr(loader, "onnx_session", refuse_b)

    loaded = loader.loaded_model_get()

    assert loaded.engines == {"A": "onnxruntime", "B": "scikit-learn", "C": "onnxruntime"}
    assert any(r.message.startswith("onnx graph refused by onnxruntime") for r in caplog.records)


def _graph_with_outputs(names: list[str]) -> bytes:
    """A valid ONNX graph copying its one input to each of `names`."""
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Identity", ["x"], [name]) for name in names]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [None])],
        [helper.make_tensor_value_info(name, TensorProto.DOUBLE, [None]) for name in names],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]).SerializeToString()


def test_a_graph_of_the_earlier_four_outputs_is_not_served(caplog):
    from modelstore.ml.onnx import OUTPUTS

    version = SimpleNamespace(version=3)
    # Stored before the predictive distribution: grade and pass chance came from two models and could disagree.
    earlier = _graph_with_outputs(["grade", "interval_low", "interval_high", "pass_probability"])
    assert loader._session(version, "A", earlier) is None
    assert "earlier format" in caplog.text
    assert loader._session(version, "A", _graph_with_outputs(list(OUTPUTS))) is not None
