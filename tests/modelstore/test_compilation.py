import hashlib

import pytest

from modelstore import compilation, loader, selectors, services, storage
from modelstore.ml.recipe import build_pipeline
from modelstore.package_validation import CHECK_COMPILED
from modelstore.schema import SETUP_FEATURES, SETUPS, TARGET
from studentperf.errors import ApplicationError

pytestmark = pytest.mark.django_db

VALIDATED = "validated"


def _check(version) -> dict:
    (check,) = [check for check in version.validation_report["checks"] if check["check"] == CHECK_COMPILED]
    return check


def _stored_graphs(version) -> dict[str, bytes]:
    stored = storage.artifact_read(
        file_name=version.artifact_file, sha256=version.artifact_sha256, graphs_sha256=version.onnx_graphs_sha256
    )
    return stored.graphs


def _failing_for(setup: str, exc: Exception):
    convert = compilation.pipeline_to_onnx

    def pipeline_to_onnx(pipeline, **kwargs):
        if list(pipeline.feature_names_in_) == list(SETUP_FEATURES[setup]):
            raise exc
        return convert(pipeline, **kwargs)

    return pipeline_to_onnx


def test_registration_stores_the_proved_graphs_in_the_package_and_serves_through_onnxruntime(register, model_store_dir):
    version = register()

    assert version.status == VALIDATED and sorted(version.compiled) == list(SETUPS)
    graphs = _stored_graphs(version)
    for setup in SETUPS:
        entry = version.compiled[setup]
        assert entry["engine"] == "onnxruntime" and (entry["rows"], entry["tolerance"]) == (395, 1e-4)
        assert entry["sha256"] == hashlib.sha256(graphs[setup]).hexdigest()
        assert max(entry["max_abs_diff"].values()) <= 1e-4
    assert (model_store_dir / version.artifact_file).read_bytes().startswith(b"SPMODEL\x02")
    # The version's identity is still the skops package, which export writes alone.
    package = storage.artifact_load(file_name=version.artifact_file, sha256=version.artifact_sha256)
    assert hashlib.sha256(package).hexdigest() == version.artifact_sha256 and len(package) == version.artifact_size
    check = _check(version)
    assert check["passed"] and check["informational"]
    assert check["detail"].count("served through onnxruntime; largest differences from scikit-learn on 395 rows") == 3

    services.model_version_activate(version=version, user=None)
    assert loader.loaded_model_get().engines == {setup: "onnxruntime" for setup in SETUPS}


def test_a_pipeline_that_does_not_convert_is_validated_and_served_through_scikit_learn(register, monkeypatch):
    monkeypatch.setattr(compilation, "pipeline_to_onnx", _failing_for("B", RuntimeError("no converter for it")))

    version = register()

    assert version.status == VALIDATED and version.rejection_reason == ""
    assert version.compiled["B"]["engine"] == "scikit-learn"
    assert "no converter for it" in version.compiled["B"]["reason"] and "sha256" not in version.compiled["B"]
    assert (version.compiled["A"]["engine"], version.compiled["C"]["engine"]) == ("onnxruntime", "onnxruntime")
    assert sorted(_stored_graphs(version)) == ["A", "C"]
    check = _check(version)
    assert not check["passed"] and check["informational"]
    assert "Setup B: served through scikit-learn: The setup B pipeline cannot be converted" in check["detail"]
    assert "Setup A: served through onnxruntime" in check["detail"]

    services.model_version_activate(version=version, user=None)
    loaded = loader.loaded_model_get()
    assert loaded.engines == {"A": "onnxruntime", "B": "scikit-learn", "C": "onnxruntime"}


def test_a_graph_that_disagrees_with_its_pipeline_is_served_through_scikit_learn(register, small_pipelines, dataset,
                                                                                 monkeypatch):
    other = build_pipeline("C", random_state=1).set_params(
        regressor__estimator__mean__n_estimators=5, regressor__estimator__median__max_iter=5
    ).fit(dataset[list(SETUP_FEATURES["C"])], dataset[TARGET])
    convert = compilation.pipeline_to_onnx
    # Setup C's graph is another model's: same inputs and outputs, other grades.
    monkeypatch.setattr(
        compilation, "pipeline_to_onnx",
        lambda pipeline, **kwargs: convert(other if "G1" not in pipeline.feature_names_in_ else pipeline, **kwargs),
    )

    version = register()

    assert version.status == VALIDATED and version.compiled["C"]["engine"] == "scikit-learn"
    reason = version.compiled["C"]["reason"]
    assert "The setup C ONNX graph differs from the scikit-learn pipeline on the 395 reference rows" in reason
    assert "largest differences: grade" in reason
    assert "Setup C: served through scikit-learn" in _check(version)["detail"]
    assert sorted(_stored_graphs(version)) == ["A", "B"]


def test_an_upload_is_compiled_at_its_registration(register, tmp_path):
    exported = services.model_version_export(version=register(), out_path=tmp_path / "model.skops")

    uploaded = services.model_version_upload(data=exported.read_bytes(), name="uploaded")

    assert {entry["engine"] for entry in uploaded.compiled.values()} == {"onnxruntime"}
    assert sorted(_stored_graphs(uploaded)) == list(SETUPS)


def test_a_rejected_version_is_not_compiled(register, small_pipelines, monkeypatch):
    monkeypatch.setattr(compilation, "pipeline_to_onnx", pytest.fail)

    version = register(pipelines={"A": small_pipelines["A"]})

    assert version.status == "rejected" and version.compiled == {}
    assert CHECK_COMPILED not in [check["check"] for check in version.validation_report["checks"]]


def test_a_stored_graph_other_than_the_proved_one_is_refused_at_load_and_activation(register, model_store_dir):
    version = register()
    package = storage.artifact_load(file_name=version.artifact_file, sha256=version.artifact_sha256)
    graphs = _stored_graphs(version)
    # Encrypted with the right key and bound to the right package: only the graph's recorded sha256 tells.
    forged_file, _, _ = storage.artifact_save(package, graphs={**graphs, "A": graphs["B"]})
    (model_store_dir / forged_file).replace(model_store_dir / version.artifact_file)

    with pytest.raises(ApplicationError) as refused:
        services.model_version_activate(version=version, user=None)
    assert refused.value.kind == "integrity" and "setup A ONNX graph" in refused.value.message
    with pytest.raises(ApplicationError) as refused:
        _stored_graphs(version)
    assert "is not the one proved at registration" in refused.value.message


def test_an_active_version_whose_graph_is_missing_is_not_served(register, model_store_dir):
    version = services.model_version_activate(version=register(), user=None)
    package = storage.artifact_load(file_name=version.artifact_file, sha256=version.artifact_sha256)
    graphs = _stored_graphs(version)
    forged_file, _, _ = storage.artifact_save(package, graphs={"B": graphs["B"], "C": graphs["C"]})
    (model_store_dir / forged_file).replace(model_store_dir / version.artifact_file)

    with pytest.raises(ApplicationError) as unavailable:
        loader.loaded_model_get()
    assert unavailable.value.kind == "unavailable" and "v1 cannot be loaded" in unavailable.value.message
    assert "does not hold the setup A ONNX graph proved at registration" in unavailable.value.message
