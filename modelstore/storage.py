"""Model packages and their storage at rest.

A package is ONE skops file holding `{"format", "pipelines", "metadata"}`. It is only ever loaded through
`package_loads`, which refuses any type skops does not trust by default unless it is in ALLOWED_TYPES;
nothing is unpickled. At rest a package is stored with the ONNX graphs proved equal to its pipelines
(modelstore/compilation.py) in one small zip container, which is compressed, then encrypted and authenticated
with AES-256-GCM, the sha256 of the skops bytes bound to the ciphertext: written under the first of
settings.MODEL_ENCRYPTION_KEYS, read under whichever of them authenticates it (modelstore/keys.py re-encrypts
the store under the first). The skops bytes stay the version's identity (`artifact_sha256`); each graph's sha256
is recorded on the version and checked when it is read back.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

from modelstore.schema import SETUPS
from studentperf.errors import ApplicationError

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

PACKAGE_FORMAT = "studentperf-model/1"

# The types our pipelines hold that skops does not trust by default, found by dumping the trained
# pipelines and listing `skops.io.get_untrusted_types` (see tests/modelstore/test_storage.py, which fails
# when the recipe starts to need another one). Everything else skops would need is refused.
ALLOWED_TYPES: tuple[str, ...] = (
    "modelstore.ml.estimators.AttributeReference",
    "modelstore.ml.estimators.ConformalGradeRegressor",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
    "sklearn.utils._bunch.Bunch",
)

# Encrypted file: MAGIC (format version included) | 12-byte nonce | AES-GCM(zlib(plaintext)), where the
# plaintext of format 2 is a zip container (members stored, the outer zlib compresses) of PACKAGE_MEMBER and
# graph_member(setup) per proved graph, and that of format 1 (files written before the graphs) the skops bytes.
MAGIC = b"SPMODEL\x02"
MAGIC_V1 = b"SPMODEL\x01"
NONCE_SIZE = 12
FILE_SUFFIX = ".skops.enc"
# A file being written; never a stored artifact, whatever its suffix.
TMP_PREFIX = ".tmp-"
PACKAGE_MEMBER = "package.skops"
# A fixed date in the container: the same package and graphs always give the same plaintext.
_MEMBER_DATE = (2020, 1, 1, 0, 0, 0)


def package_dumps(pipelines: dict[str, Pipeline], metadata: dict) -> bytes:
    """The skops bytes of one package; `metadata` must be JSON-able (it is stored as plain JSON types)."""
    # skops (and the scikit-learn it brings) is imported only where a package is written or opened: reading and
    # decrypting artifacts, all a web process does, stays free of them (docs/performance.md, "Memory").
    import skops.io as sio

    try:
        plain_metadata = json.loads(json.dumps(metadata, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ApplicationError(f"The model metadata is not JSON-able: {exc}") from exc
    package = {"format": PACKAGE_FORMAT, "pipelines": dict(pipelines), "metadata": plain_metadata}
    return sio.dumps(package)


@dataclass(frozen=True)
class PackageTypes:
    """The types a package holds that skops does not trust by default, and those of them not in ALLOWED_TYPES."""

    untrusted: tuple[str, ...]
    refused: tuple[str, ...]

    def require_allowed(self) -> None:
        if self.refused:
            raise ApplicationError(
                f"The package was refused and not loaded: it holds types that are not allowed: {', '.join(self.refused)}."
            )


def package_loads(data: bytes) -> tuple[dict[str, Pipeline], dict]:
    """(pipelines, metadata) of a package, loaded only after its types passed the allow-list."""
    package_types(data).require_allowed()
    return package_build(data)


def package_types(data: bytes) -> PackageTypes:
    """What `data` would make skops build, read without building anything; ApplicationError if unreadable."""
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(data=data)
    # The bytes may come from anywhere; whatever makes skops fail to even list them means "not a package".
    except Exception as exc:  # noqa: BLE001
        raise ApplicationError(f"The file is not a readable skops model package ({exc}).") from exc
    return PackageTypes(untrusted=tuple(sorted(set(untrusted))), refused=tuple(sorted(set(untrusted) - set(ALLOWED_TYPES))))


def package_build(data: bytes) -> tuple[dict[str, Pipeline], dict]:
    """(pipelines, metadata) of a package whose types passed; skops itself refuses any other untrusted type."""
    import skops.io as sio

    try:
        package = sio.loads(data, trusted=list(ALLOWED_TYPES))
    except Exception as exc:  # noqa: BLE001  (an allowed object may still fail to rebuild, e.g. other versions)
        raise ApplicationError(f"The skops model package could not be loaded ({exc}).") from exc
    return _package_parts(package)


def _package_parts(package) -> tuple[dict[str, Pipeline], dict]:
    from sklearn.pipeline import Pipeline

    if not isinstance(package, dict) or package.get("format") != PACKAGE_FORMAT:
        raise ApplicationError(f"The file is not a {PACKAGE_FORMAT} package (no matching 'format' key).")
    pipelines, metadata = package.get("pipelines"), package.get("metadata")
    if not isinstance(pipelines, dict) or not pipelines:
        raise ApplicationError("The package holds no 'pipelines' dict.")
    unknown = sorted(set(map(str, pipelines)) - set(SETUPS))
    if unknown:
        raise ApplicationError(f"The package has pipelines for unknown setups: {', '.join(unknown)}.")
    for setup, pipeline in pipelines.items():
        if not isinstance(pipeline, Pipeline) or not callable(getattr(pipeline, "predict", None)):
            raise ApplicationError(f"The package entry for setup {setup} is not a scikit-learn Pipeline.")
    if not isinstance(metadata, dict):
        raise ApplicationError("The package holds no 'metadata' dict.")
    return pipelines, metadata


def graph_member(setup: str) -> str:
    return f"onnx/setup-{setup}.onnx"


@dataclass(frozen=True)
class StoredArtifact:
    """A stored package as read back: its skops bytes and the ONNX graphs asked for, by setup."""

    package: bytes
    graphs: dict[str, bytes] = field(default_factory=dict)


def artifact_save(data: bytes, *, graphs: Mapping[str, bytes] | None = None) -> tuple[str, str, int]:
    """Contain, compress, encrypt and atomically write a package and its graphs (by setup) to MODEL_STORE_DIR:
    (file name, sha256, size).

    The sha256 and size are those of the skops bytes `data`, as recorded on the ModelVersion. The file name
    also carries a digest of the graphs, so versions of the same package with other graphs (another
    converter, another coverage) never overwrite each other's file.
    """
    graphs = dict(sorted((graphs or {}).items()))
    sha256 = hashlib.sha256(data).hexdigest()
    compressed = zlib.compress(_container(data, graphs), 6)
    file_name = f"{sha256}{_graphs_suffix(graphs)}{FILE_SUFFIX}"
    store_file_write(
        directory=Path(settings.MODEL_STORE_DIR), file_name=file_name,
        content=artifact_seal(magic=MAGIC, sha256=sha256, compressed=compressed),
    )
    return file_name, sha256, len(data)


def artifact_seal(*, magic: bytes, sha256: str, compressed: bytes) -> bytes:
    """The bytes of an encrypted file holding `compressed` (the zlib'd plaintext of format `magic`), under the
    first of MODEL_ENCRYPTION_KEYS with a fresh nonce."""
    nonce = os.urandom(NONCE_SIZE)
    ciphertext = AESGCM(settings.MODEL_ENCRYPTION_KEYS[0]).encrypt(nonce, compressed, _associated(magic, sha256))
    return magic + nonce + ciphertext


def store_file_write(
    *, directory: Path, file_name: str, content: bytes, check: Callable[[Path], None] | None = None
) -> None:
    """Write `directory/file_name` atomically: a private (0600) temporary file beside it, synced to disk, handed
    to `check` (which raises to abandon the write), renamed over the name, the directory synced. A reader sees
    the old file or the new one, never part of either; a failure leaves the old one as it was."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    handle, tmp_path = tempfile.mkstemp(dir=directory, prefix=TMP_PREFIX, suffix=FILE_SUFFIX)  # created 0o600
    try:
        with os.fdopen(handle, "wb") as tmp:
            tmp.write(content)
            tmp.flush()
            os.fsync(tmp.fileno())
        if check is not None:
            check(Path(tmp_path))
        os.replace(tmp_path, directory / file_name)
    except BaseException:
        Path(tmp_path).unlink(missing_ok=True)
        raise
    # The rename itself is durable only once the directory is.
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def artifact_files() -> list[str]:
    """The names of the stored artifact files in MODEL_STORE_DIR, sorted; files being written left out."""
    store = Path(settings.MODEL_STORE_DIR)
    if not store.is_dir():
        return []
    return sorted(
        path.name for path in store.glob(f"*{FILE_SUFFIX}") if path.is_file() and not path.name.startswith(TMP_PREFIX)
    )


def artifact_load(*, file_name: str, sha256: str) -> bytes:
    """The skops bytes of a stored package, decrypted and checked; ApplicationError(kind="integrity") if not."""
    return artifact_read(file_name=file_name, sha256=sha256).package


def artifact_read(*, file_name: str, sha256: str, graphs_sha256: Mapping[str, str] | None = None) -> StoredArtifact:
    """A stored package and the graphs of the setups in `graphs_sha256` (setup -> the sha256 recorded at
    registration), decrypted and checked; ApplicationError(kind="integrity") if the file, or any graph asked
    for, is not what was stored. A format 1 file holds no graphs, so asking for one is refused."""
    opened = artifact_open(file_name=file_name, blob=artifact_file_read(file_name=file_name), sha256=sha256)
    return opened.artifact(graphs_sha256=graphs_sha256)


def artifact_file_read(*, file_name: str) -> bytes:
    """The bytes of a file in MODEL_STORE_DIR; ApplicationError(kind="integrity") if it is not there."""
    if not file_name or Path(file_name).name != file_name:
        raise _integrity(f"The artifact file name {file_name!r} is not a plain file name in the model store.")
    try:
        return (Path(settings.MODEL_STORE_DIR) / file_name).read_bytes()
    except OSError as exc:
        raise _integrity(f"The artifact {file_name} cannot be read ({exc.strerror or exc}).") from exc


@dataclass(frozen=True)
class OpenedArtifact:
    """An encrypted file authenticated and unpacked: its format (`magic`), which key opened it (its index in
    the keys tried: 0 is the key that encrypts), the compressed plaintext as authenticated, and its members."""

    file_name: str
    magic: bytes
    key_index: int
    compressed: bytes
    members: dict[str, bytes]

    def artifact(self, *, graphs_sha256: Mapping[str, str] | None = None) -> StoredArtifact:
        """The package (checked on opening) and the graphs of the setups in `graphs_sha256`, each checked against
        the sha256 recorded for it."""
        graphs = {}
        for setup, expected in (graphs_sha256 or {}).items():
            graph = self.members.get(graph_member(setup))
            if graph is None:
                raise _integrity(
                    f"The artifact {self.file_name} does not hold the setup {setup} ONNX graph proved at registration."
                )
            if hashlib.sha256(graph).hexdigest() != expected:
                raise _integrity(
                    f"The setup {setup} ONNX graph in the artifact {self.file_name} is not the one proved at "
                    "registration (its sha256 differs)."
                )
            graphs[setup] = graph
        return StoredArtifact(package=self.members.get(PACKAGE_MEMBER, b""), graphs=graphs)


def artifact_open(
    *, file_name: str, blob: bytes, sha256: str, keys: Sequence[bytes] | None = None
) -> OpenedArtifact:
    """`blob`, the bytes of the stored file `file_name`, authenticated under the first of `keys` (default:
    MODEL_ENCRYPTION_KEYS) that can, decompressed and unpacked, its package checked against `sha256`;
    ApplicationError(kind="integrity") if no key authenticates it or it is not the package recorded."""
    magic = blob[:len(MAGIC)]
    if magic not in (MAGIC, MAGIC_V1) or len(blob) < len(MAGIC) + NONCE_SIZE:
        raise _integrity(f"The artifact {file_name} is not an encrypted model file of a known format.")
    nonce, ciphertext = blob[len(MAGIC):len(MAGIC) + NONCE_SIZE], blob[len(MAGIC) + NONCE_SIZE:]
    for key_index, key in enumerate(settings.MODEL_ENCRYPTION_KEYS if keys is None else keys):
        try:
            compressed = AESGCM(key).decrypt(nonce, ciphertext, _associated(magic, sha256))
            break
        except InvalidTag:
            continue  # a key that did not encrypt it and a modified file fail alike: try the next key
    else:
        raise _integrity(
            f"The artifact {file_name} failed authentication: none of the configured keys authenticates it. "
            "It was modified, was encrypted with a key no longer in MODEL_ENCRYPTION_KEYS, or is not the package "
            "with the recorded sha256."
        )
    try:
        plaintext = zlib.decompress(compressed)
    except zlib.error as exc:
        raise _integrity(f"The artifact {file_name} does not decompress ({exc}).") from exc
    members = _container_members(file_name, plaintext) if magic == MAGIC else {PACKAGE_MEMBER: plaintext}
    if hashlib.sha256(members.get(PACKAGE_MEMBER, b"")).hexdigest() != sha256:
        raise _integrity(f"The artifact {file_name} does not match its recorded sha256.")
    return OpenedArtifact(
        file_name=file_name, magic=magic, key_index=key_index, compressed=compressed, members=members
    )


def version_artifact_read(version) -> StoredArtifact:
    """`artifact_read` of a ModelVersion's stored file: its package and every graph proved at registration."""
    return artifact_read(
        file_name=version.artifact_file, sha256=version.artifact_sha256, graphs_sha256=version.onnx_graphs_sha256
    )


def _container(data: bytes, graphs: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as container:
        members = [(PACKAGE_MEMBER, data), *((graph_member(setup), graph) for setup, graph in graphs.items())]
        for name, content in members:
            container.writestr(zipfile.ZipInfo(name, date_time=_MEMBER_DATE), content)
    return buffer.getvalue()


def _container_members(file_name: str, plaintext: bytes) -> dict[str, bytes]:
    # Authenticated, so written by artifact_save; still read defensively rather than trusted to be a zip.
    try:
        with zipfile.ZipFile(io.BytesIO(plaintext)) as container:
            return {name: container.read(name) for name in container.namelist()}
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise _integrity(f"The artifact {file_name} does not hold a readable package container ({exc}).") from exc


def _graphs_suffix(graphs: Mapping[str, bytes]) -> str:
    if not graphs:
        return ""
    digest = hashlib.sha256()
    for setup, graph in graphs.items():
        digest.update(f"{setup}:{hashlib.sha256(graph).hexdigest()}\n".encode("ascii"))
    return f"-onnx-{digest.hexdigest()[:16]}"


def _associated(magic: bytes, sha256: str) -> bytes:
    return magic + sha256.encode("ascii")


def _integrity(message: str) -> ApplicationError:
    return ApplicationError(message, kind="integrity")
