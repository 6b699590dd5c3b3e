from __future__ import annotations

import functools
import hashlib
import io
import os
import stat
import zipfile
import zlib

import numpy as np
import pytest
import skops.io as sio
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from modelstore import storage
from modelstore.schema import SETUP_FEATURES, TARGET
from studentperf.errors import ApplicationError

METADATA = {"name": "plain", "setups": ["C"], "metrics": {"rmse": 4.2, "protocol": "none"}, "sha": None}


class Exploit:
    """Runs code when skops rebuilds it: what a malicious package would hold."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __setstate__(self, state):
        with open(state["marker"], "w") as handle:
            handle.write("pwned")


@pytest.fixture(scope="module")
def plain_pipeline(dataset):
    features = list(SETUP_FEATURES["C"])
    categories = list(dataset[features].select_dtypes(exclude="number").columns)
    encode = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), categories)], remainder="passthrough")
    return Pipeline([("encode", encode), ("model", LinearRegression())]).fit(dataset[features], dataset[TARGET])


def _package(**content) -> bytes:
    return sio.dumps({"format": storage.PACKAGE_FORMAT, "pipelines": {}, "metadata": {}} | content)


def test_package_round_trip_returns_equal_pipelines_and_metadata(plain_pipeline, dataset):
    pipelines, metadata = storage.package_loads(storage.package_dumps({"C": plain_pipeline}, METADATA))

    assert metadata == METADATA
    assert set(pipelines) == {"C"} and pipelines["C"] is not plain_pipeline
    X = dataset[list(SETUP_FEATURES["C"])]
    np.testing.assert_allclose(pipelines["C"].predict(X), plain_pipeline.predict(X))


def test_allow_list_is_exactly_what_the_trained_recipe_needs(trained_pipelines):
    data = storage.package_dumps(trained_pipelines, METADATA)

    assert sorted(sio.get_untrusted_types(data=data)) == sorted(storage.ALLOWED_TYPES)
    pipelines, _ = storage.package_loads(data)
    assert sorted(pipelines) == ["A", "B", "C"]


def test_package_with_code_running_class_is_refused_naming_it_and_never_runs_it(tmp_path):
    marker = tmp_path / "pwned"
    data = _package(metadata={"note": Exploit(marker)})

    with pytest.raises(ApplicationError, match=f"{__name__}.Exploit"):
        storage.package_loads(data)
    assert not marker.exists()
    # Without the allow-list the same bytes do run code: the refusal above is what prevents it.
    sio.loads(data, trusted=[f"{__name__}.Exploit"])
    assert marker.read_text() == "pwned"


def test_package_with_shell_command_is_refused_naming_the_types():
    data = _package(pipelines={"A": functools.partial(os.system, "echo pwned")})

    with pytest.raises(ApplicationError) as refused:
        storage.package_loads(data)
    assert "functools.partial" in refused.value.message and "posix.system" in refused.value.message


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not a zip at all", "not a readable skops model package"),
        (sio.dumps({"pipelines": {}, "metadata": {}}), "not a studentperf-model/1 package"),
        (_package(), "no 'pipelines'"),
        (_package(pipelines={"D": LinearRegression()}), "unknown setups: D"),
        (_package(pipelines={"A": LinearRegression()}), "setup A is not a scikit-learn Pipeline"),
    ],
)
def test_package_with_wrong_structure_is_refused(data, reason):
    with pytest.raises(ApplicationError, match=reason):
        storage.package_loads(data)


def test_metadata_that_is_not_json_is_refused(plain_pipeline):
    with pytest.raises(ApplicationError, match="not JSON-able"):
        storage.package_dumps({"C": plain_pipeline}, {"rmse": float("nan")})


def test_artifact_round_trip_is_compressed_encrypted_and_private(model_store_dir):
    data = b"skops bytes " * 1000

    file_name, sha256, size = storage.artifact_save(data)

    path = model_store_dir / file_name
    blob = path.read_bytes()
    assert file_name == f"{sha256}.skops.enc" and size == len(data)
    assert blob.startswith(storage.MAGIC) and b"skops bytes" not in blob and len(blob) < len(data) / 10
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(model_store_dir.stat().st_mode) == 0o700
    assert [p.name for p in model_store_dir.iterdir()] == [file_name]  # no temporary file left behind
    assert storage.artifact_load(file_name=file_name, sha256=sha256) == data


def test_graphs_are_stored_with_the_package_and_read_back_only_when_asked_for(model_store_dir):
    data, graphs = b"skops bytes " * 100, {"A": b"graph A", "B": b"graph B"}

    file_name, sha256, size = storage.artifact_save(data, graphs=graphs)

    digests = {setup: hashlib.sha256(graph).hexdigest() for setup, graph in graphs.items()}
    assert (sha256, size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert storage.artifact_read(file_name=file_name, sha256=sha256) == storage.StoredArtifact(package=data)
    assert storage.artifact_read(file_name=file_name, sha256=sha256, graphs_sha256={"B": digests["B"]}).graphs == {
        "B": b"graph B"
    }
    assert storage.artifact_load(file_name=file_name, sha256=sha256) == data
    # The same package with other graphs is another file: neither version's graphs overwrite the other's.
    other_file, _, _ = storage.artifact_save(data, graphs={"A": b"graph A, other coverage"})
    plain_file, _, _ = storage.artifact_save(data)
    assert len({file_name, other_file, plain_file}) == 3 and plain_file == f"{sha256}.skops.enc"
    assert storage.artifact_read(file_name=file_name, sha256=sha256, graphs_sha256=digests).graphs == graphs


@pytest.mark.parametrize(
    ("asked", "refusal"),
    [({"C": "0" * 64}, "does not hold the setup C ONNX graph"), ({"A": "0" * 64}, "is not the one proved")],
)
def test_a_graph_missing_or_other_than_recorded_is_refused(asked, refusal):
    file_name, sha256, _ = storage.artifact_save(b"model" * 100, graphs={"A": b"graph A"})

    assert refusal in _integrity_refusal(file_name=file_name, sha256=sha256, graphs_sha256=asked).message


def test_a_file_of_the_first_format_still_loads_without_graphs(model_store_dir, settings):
    data = b"skops bytes of an older version " * 10
    sha256 = hashlib.sha256(data).hexdigest()
    nonce = os.urandom(storage.NONCE_SIZE)
    ciphertext = AESGCM(settings.MODEL_ENCRYPTION_KEY).encrypt(
        nonce, zlib.compress(data), storage.MAGIC_V1 + sha256.encode()
    )
    model_store_dir.mkdir()
    (model_store_dir / "old.skops.enc").write_bytes(storage.MAGIC_V1 + nonce + ciphertext)

    assert storage.artifact_read(file_name="old.skops.enc", sha256=sha256) == storage.StoredArtifact(package=data)
    assert "does not hold the setup A" in _integrity_refusal(
        file_name="old.skops.enc", sha256=sha256, graphs_sha256={"A": "0" * 64}
    ).message


def _integrity_refusal(**kwargs) -> ApplicationError:
    with pytest.raises(ApplicationError) as refused:
        storage.artifact_read(**kwargs)
    assert refused.value.kind == "integrity"
    return refused.value


@pytest.mark.parametrize("offset", [len(storage.MAGIC) + 2, -1, -30])
def test_tampered_artifact_byte_is_refused(model_store_dir, offset):
    file_name, sha256, _ = storage.artifact_save(b"model" * 100)
    blob = bytearray((model_store_dir / file_name).read_bytes())
    blob[offset] ^= 0x01
    (model_store_dir / file_name).write_bytes(bytes(blob))

    assert "failed authentication" in _integrity_refusal(file_name=file_name, sha256=sha256).message


def test_artifact_under_another_key_is_refused(settings):
    file_name, sha256, _ = storage.artifact_save(b"model" * 100)
    settings.MODEL_ENCRYPTION_KEYS = (os.urandom(32), os.urandom(32))

    message = _integrity_refusal(file_name=file_name, sha256=sha256).message
    assert "failed authentication: none of the configured keys authenticates it" in message


def test_artifact_is_written_under_the_first_key_and_read_under_any_configured_one(settings):
    old_key, new_key = os.urandom(32), os.urandom(32)
    settings.MODEL_ENCRYPTION_KEYS = (old_key,)
    old_file, old_sha256, _ = storage.artifact_save(b"old model" * 100)
    settings.MODEL_ENCRYPTION_KEYS = (new_key, old_key)
    new_file, new_sha256, _ = storage.artifact_save(b"new model" * 100)

    assert storage.artifact_load(file_name=old_file, sha256=old_sha256) == b"old model" * 100
    assert storage.artifact_load(file_name=new_file, sha256=new_sha256) == b"new model" * 100
    settings.MODEL_ENCRYPTION_KEYS = (new_key,)
    assert storage.artifact_load(file_name=new_file, sha256=new_sha256) == b"new model" * 100
    _integrity_refusal(file_name=old_file, sha256=old_sha256)


def test_artifact_with_other_sha256_than_recorded_is_refused():
    file_name, _, _ = storage.artifact_save(b"model" * 100)
    other_sha256 = storage.artifact_save(b"other")[1]

    _integrity_refusal(file_name=file_name, sha256=other_sha256)


def test_artifact_whose_content_does_not_match_its_sha256_is_refused(model_store_dir, settings):
    file_name, sha256, _ = storage.artifact_save(b"model" * 100)
    # Encrypted with our key and bound to the recorded sha256, but other bytes than those it belongs to.
    nonce = os.urandom(storage.NONCE_SIZE)
    container = io.BytesIO()
    with zipfile.ZipFile(container, "w") as members:
        members.writestr(storage.PACKAGE_MEMBER, b"evil" * 100)
    forged = AESGCM(settings.MODEL_ENCRYPTION_KEY).encrypt(
        nonce, zlib.compress(container.getvalue()), storage.MAGIC + sha256.encode()
    )
    (model_store_dir / file_name).write_bytes(storage.MAGIC + nonce + forged)

    assert "does not match its recorded sha256" in _integrity_refusal(file_name=file_name, sha256=sha256).message


@pytest.mark.parametrize("content", [b"", b"plain text, not ours", storage.MAGIC])
def test_artifact_of_unknown_format_is_refused(model_store_dir, content):
    model_store_dir.mkdir()
    (model_store_dir / "x.skops.enc").write_bytes(content)

    assert "known format" in _integrity_refusal(file_name="x.skops.enc", sha256="0" * 64).message


@pytest.mark.parametrize("file_name", ["missing.skops.enc", ""])
def test_artifact_missing_from_the_store_is_refused(file_name):
    _integrity_refusal(file_name=file_name, sha256="0" * 64)


@pytest.mark.parametrize("outside", ["relative", "absolute"])
def test_artifact_outside_the_store_is_refused_without_reading_it(settings, tmp_path, monkeypatch, outside):
    # A genuine artifact, under our key and its recorded sha256, but beside the store rather than in it:
    # only the file-name guard stands between the name and a successful load.
    settings.MODEL_STORE_DIR = tmp_path / "elsewhere"
    file_name, sha256, _ = storage.artifact_save(b"model outside the store" * 50)
    planted = tmp_path / "elsewhere" / file_name
    settings.MODEL_STORE_DIR = tmp_path / "model-store"
    (tmp_path / "model-store").mkdir()
    escaping = f"../elsewhere/{file_name}" if outside == "relative" else str(planted)
    assert (tmp_path / "model-store" / escaping).resolve() == planted  # the name does lead to it
    before = sorted(tmp_path.rglob("*"))
    reads = []
    real_read_bytes = storage.Path.read_bytes
    monkeypatch.setattr(
        storage.Path, "read_bytes", lambda path: reads.append(path.resolve()) or real_read_bytes(path)
    )

    refusal = _integrity_refusal(file_name=escaping, sha256=sha256)

    assert "is not a plain file name in the model store" in refusal.message
    assert reads == []  # the file outside was never opened...
    with pytest.raises(ApplicationError, match="not a plain file name"):
        storage.artifact_load(file_name=escaping, sha256=sha256)
    assert reads == []
    assert sorted(tmp_path.rglob("*")) == before  # ...nor anything written, in the store or out of it
    monkeypatch.undo()
    # The same bytes in the store load: the refusal is the name's, not the file's.
    (tmp_path / "model-store" / file_name).write_bytes(planted.read_bytes())
    assert storage.artifact_load(file_name=file_name, sha256=sha256) == b"model outside the store" * 50


def test_package_types_lists_untrusted_and_refused_types_without_building_anything(tmp_path, plain_pipeline):
    marker = tmp_path / "pwned"
    data = _package(pipelines={"C": plain_pipeline}, metadata={"note": Exploit(marker)})

    types = storage.package_types(data)

    assert types.refused == (f"{__name__}.Exploit",) and f"{__name__}.Exploit" in types.untrusted
    assert not marker.exists()
    with pytest.raises(ApplicationError, match=f"not allowed: {__name__}.Exploit"):
        types.require_allowed()
    with pytest.raises(ApplicationError, match="could not be loaded"):  # skops keeps refusing it on its own
        storage.package_build(data)
    assert not marker.exists()
