from __future__ import annotations

from io import StringIO

import numpy as np
import onnx
import onnxruntime
import pytest
import skops.io as sio
from django.core.management import CommandError, call_command

from modelstore import services, storage
from modelstore.ml.data import file_sha256
from modelstore import compilation
from modelstore.ml.onnx import convert
from modelstore.models import ModelActivation, ModelVersion
from modelstore.schema import SETUP_FEATURES

pytestmark = pytest.mark.django_db


def _run(*args, stderr=None) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=stderr or StringIO())
    return out.getvalue()


class TerminalIO(StringIO):
    """stderr as a terminal, so that a command shows its progress bar."""

    def isatty(self):
        return True


# Some rare categories are missing from a quarter of the students: expected, and encoded as "none of them".
@pytest.mark.filterwarnings("ignore:Found unknown categories")
def test_train_model_trains_registers_and_activates(small_csv):
    terminal = TerminalIO()
    output = _run("train_model", "--data", str(small_csv), "--activate", "--name", "small", stderr=terminal)

    version = ModelVersion.objects.get()
    assert (version.version, version.name, version.status) == (1, "small", "active")
    assert version.training_data_sha256 == file_sha256(small_csv)
    cross_validation = version.metrics["cross_validation"]
    assert "2-fold cross-validation" in cross_validation["protocol"] and "rmse" in cross_validation["results"]["A"]
    assert set(version.metrics["reference"]["setups"]) == {"A", "B", "C"}
    assert "v1 'small': active" in output and '"reference"' in output
    # On a terminal, a bar over every step: 3 setups trained, 3 x 2 cross-validation folds, the registration.
    assert "10/10" in terminal.getvalue()


def test_train_model_is_quiet_when_stderr_is_not_a_terminal(register, monkeypatch):
    calls = []

    def fake_train(**kwargs):
        calls.append(kwargs)
        return register()

    monkeypatch.setattr(services, "model_version_train", fake_train)
    stderr = StringIO()

    assert "v1 'small'" in _run("train_model", stderr=stderr)
    assert calls[0]["progress"] is None and stderr.getvalue() == ""


def test_train_model_if_none_active_does_nothing_when_a_version_is_active(register, small_csv):
    services.model_version_activate(version=register(), user=None)

    output = _run("train_model", "--data", str(small_csv), "--if-none-active", "--activate")

    assert "v1 'small' is active; nothing trained." in output and ModelVersion.objects.count() == 1


def test_train_model_reports_a_bad_data_file(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("school;sex\nGP;F\n")

    with pytest.raises(CommandError, match="bad.csv does not match the attribute schema"):
        _run("train_model", "--data", str(bad))
    assert not ModelVersion.objects.exists()


def test_export_then_import_round_trip(register, tmp_path):
    original = register(name="shared")
    out = tmp_path / "shared.skops"

    assert "Wrote v1" in _run("export_model", "1", "--out", str(out))
    output = _run("import_model", str(out), "--name", "copy", "--activate")

    imported = ModelVersion.objects.get(version=2)
    assert (imported.name, imported.status) == ("copy", "active") and "v2 'copy': active" in output
    assert imported.metrics == original.metrics
    assert out.read_bytes() == storage.artifact_load(file_name=original.artifact_file, sha256=original.artifact_sha256)


def test_export_of_unknown_version_fails_clearly(db, tmp_path):
    with pytest.raises(CommandError, match="There is no model version 7"):
        _run("export_model", "7", "--out", str(tmp_path / "x.skops"))


def test_import_of_crafted_file_is_refused_and_nothing_changes(register, tmp_path):
    active = services.model_version_activate(version=register(), user=None)
    crafted = tmp_path / "crafted.skops"
    crafted.write_bytes(sio.dumps({"format": storage.PACKAGE_FORMAT, "pipelines": {"A": print}, "metadata": {}}))

    with pytest.raises(CommandError, match="crafted.skops was not imported: .*not allowed: builtins.print"):
        _run("import_model", str(crafted), "--activate")
    assert list(ModelVersion.objects.values_list("version", "status")) == [(active.version, "active")]
    assert ModelActivation.objects.count() == 1


def test_import_of_broken_package_reports_the_rejection(register, small_pipelines, tmp_path):
    package = tmp_path / "broken.skops"
    package.write_bytes(storage.package_dumps(small_pipelines | {"A": small_pipelines["C"]}, {"name": "broken"}))

    with pytest.raises(CommandError, match="v1 'broken' was rejected: The setup A pipeline takes other input"):
        _run("import_model", str(package), "--activate")
    assert ModelVersion.objects.get().status == "rejected"


def test_export_onnx_writes_one_graph_per_setup_that_plain_onnxruntime_scores_like_the_version(
    register, small_pipelines, dataset, tmp_path
):
    register()
    output = _run("export_model", "1", "--format", "onnx", "--output", str(tmp_path / "graphs"))

    assert sorted(path.name for path in (tmp_path / "graphs").iterdir()) == ["setup-A.onnx", "setup-B.onnx", "setup-C.onnx"]
    assert "Wrote v1 as ONNX" in output and output.count("equal to the scikit-learn pipeline on 395 reference rows") == 3
    for setup, pipeline in small_pipelines.items():
        session = onnxruntime.InferenceSession(str(tmp_path / "graphs" / f"setup-{setup}.onnx"))
        feeds = {
            node.name: dataset[[node.name]].to_numpy(dtype=object if node.type == "tensor(string)" else np.int64)
            for node in session.get_inputs()
        }
        (grades,) = session.run(["grade"], feeds)
        assert np.abs(grades - pipeline.predict(dataset[list(SETUP_FEATURES[setup])])).max() <= 1e-4
        props = session.get_modelmeta().custom_metadata_map
        assert (props["studentperf.setup"], props["studentperf.model_version"]) == (setup, "1")


def test_export_onnx_writes_the_graphs_served_since_registration(register, tmp_path, monkeypatch):
    version = register()
    stored = storage.version_artifact_read(version).graphs
    assert sorted(stored) == ["A", "B", "C"]

    def no_conversion(*args, **kwargs):
        raise AssertionError("a served graph was converted again")

    monkeypatch.setattr(compilation, "pipeline_to_onnx", no_conversion)
    output = _run("export_model", "1", "--format", "onnx", "--out", str(tmp_path / "graphs"))

    assert output.count("(the graph served since registration)") == 3
    for setup, graph in stored.items():
        exported = onnx.load(str(tmp_path / "graphs" / f"setup-{setup}.onnx"))
        # What it computes is byte for byte the served graph; only the version's metadata was added.
        assert exported.graph.SerializeToString() == onnx.load_from_string(graph).graph.SerializeToString()
        props = {prop.key: prop.value for prop in exported.metadata_props}
        assert props["studentperf.model_version"] == "1" and props["studentperf.coverage"] == "0.9"


def test_export_onnx_converts_now_for_another_coverage_or_a_setup_served_through_scikit_learn(
    register, tmp_path, settings
):
    version = register()
    version.compiled["B"] = {"engine": "scikit-learn", "reason": "set by the test"}
    version.save(update_fields=["compiled"])
    output = _run("export_model", "1", "--format", "onnx", "--out", str(tmp_path / "same"))
    assert "setup-B.onnx (converted now)" in output and output.count("(the graph served since registration)") == 2

    settings.PREDICTION_INTERVAL_COVERAGE = 0.8
    output = _run("export_model", "1", "--format", "onnx", "--out", str(tmp_path / "other"))
    assert output.count("(converted now)") == 3
    props = onnxruntime.InferenceSession(str(tmp_path / "other" / "setup-A.onnx")).get_modelmeta().custom_metadata_map
    assert props["studentperf.coverage"] == "0.8"


def test_export_onnx_refuses_a_graph_that_differs_from_its_pipeline_and_writes_nothing(
    register, tmp_path, monkeypatch, settings
):
    register()
    convert = compilation.pipeline_to_onnx
    # A graph for another coverage: its intervals are not the ones asked for.
    monkeypatch.setattr(compilation, "pipeline_to_onnx", lambda pipeline, **kwargs: convert(pipeline, coverage=0.5))
    settings.PREDICTION_INTERVAL_COVERAGE = 0.8  # not the stored graphs' coverage: converted now

    with pytest.raises(CommandError, match=r"v1 was not exported: The setup A ONNX graph differs .* interval low"):
        _run("export_model", "1", "--format", "onnx", "--out", str(tmp_path / "graphs"))
    assert not (tmp_path / "graphs").exists()


def test_export_onnx_proves_a_served_graph_again_and_refuses_it_if_the_pipeline_now_disagrees(
    register, small_pipelines, dataset, tmp_path, monkeypatch
):
    from modelstore import onnx_export
    from modelstore.ml.recipe import build_pipeline
    from modelstore.schema import TARGET

    register()
    # As if the stored pipeline now predicted otherwise (e.g. another scikit-learn): another seed's forest.
    other = build_pipeline("A", random_state=7).set_params(regressor__estimator__mean__n_estimators=5)
    other.fit(dataset[list(SETUP_FEATURES["A"])], dataset[TARGET])
    loads = onnx_export.package_loads
    monkeypatch.setattr(
        onnx_export, "package_loads", lambda data: ({**loads(data)[0], "A": other}, loads(data)[1])
    )

    with pytest.raises(CommandError, match=r"v1 was not exported: The setup A ONNX graph differs .* grade"):
        _run("export_model", "1", "--format", "onnx", "--out", str(tmp_path / "graphs"))
    assert not (tmp_path / "graphs").exists()


def test_export_onnx_names_a_conversion_failure(register, tmp_path, monkeypatch):
    def unsupported(*args, **kwargs):
        raise RuntimeError("Unable to find a shape calculator")

    monkeypatch.setattr(convert, "convert_sklearn", unsupported)
    # No graph converts at registration either: the version is served through scikit-learn, and the export
    # has to convert now.
    assert register().onnx_graphs_sha256 == {}

    with pytest.raises(CommandError, match="setup A pipeline cannot be converted to ONNX: .*shape calculator"):
        _run("export_model", "1", "--format", "onnx", "--out", str(tmp_path / "graphs"))
    assert not (tmp_path / "graphs").exists()


def test_export_as_skops_needs_the_file_to_write(register):
    register()

    with pytest.raises(CommandError, match="--out is required for the skops format"):
        _run("export_model", "1")
