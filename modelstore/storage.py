"""Model packages and their storage at rest.

A package is ONE skops file holding `{"format", "pipelines", "metadata"}`. It is only ever loaded through
`package_loads`, which refuses any type skops does not trust by default unless it is in ALLOWED_TYPES;
nothing is unpickled. At rest a package is compressed, then encrypted and authenticated with AES-256-GCM
(settings.MODEL_ENCRYPTION_KEY), the sha256 of the skops bytes bound to the ciphertext.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import skops.io as sio
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from sklearn.pipeline import Pipeline

from modelstore.schema import SETUPS
from studentperf.errors import ApplicationError

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

# Encrypted file: MAGIC (format version included) | 12-byte nonce | AES-GCM(zlib(skops bytes)).
MAGIC = b"SPMODEL\x01"
NONCE_SIZE = 12
FILE_SUFFIX = ".skops.enc"


def package_dumps(pipelines: dict[str, Pipeline], metadata: dict) -> bytes:
    """The skops bytes of one package; `metadata` must be JSON-able (it is stored as plain JSON types)."""
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
    try:
        untrusted = sio.get_untrusted_types(data=data)
    # The bytes may come from anywhere; whatever makes skops fail to even list them means "not a package".
    except Exception as exc:  # noqa: BLE001
        raise ApplicationError(f"The file is not a readable skops model package ({exc}).") from exc
    return PackageTypes(untrusted=tuple(sorted(set(untrusted))), refused=tuple(sorted(set(untrusted) - set(ALLOWED_TYPES))))


def package_build(data: bytes) -> tuple[dict[str, Pipeline], dict]:
    """(pipelines, metadata) of a package whose types passed; skops itself refuses any other untrusted type."""
    try:
        package = sio.loads(data, trusted=list(ALLOWED_TYPES))
    except Exception as exc:  # noqa: BLE001  (an allowed object may still fail to rebuild, e.g. other versions)
        raise ApplicationError(f"The skops model package could not be loaded ({exc}).") from exc
    return _package_parts(package)


def _package_parts(package) -> tuple[dict[str, Pipeline], dict]:
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


def artifact_save(data: bytes) -> tuple[str, str, int]:
    """Compress, encrypt and atomically write a package to MODEL_STORE_DIR: (file name, sha256, size).

    The sha256 and size are those of the skops bytes `data`, as recorded on the ModelVersion.
    """
    sha256 = hashlib.sha256(data).hexdigest()
    nonce = os.urandom(NONCE_SIZE)
    ciphertext = AESGCM(settings.MODEL_ENCRYPTION_KEY).encrypt(nonce, zlib.compress(data, 6), _associated(sha256))
    store = Path(settings.MODEL_STORE_DIR)
    store.mkdir(mode=0o700, parents=True, exist_ok=True)
    file_name = f"{sha256}{FILE_SUFFIX}"
    handle, tmp_path = tempfile.mkstemp(dir=store, prefix=".tmp-", suffix=FILE_SUFFIX)  # created 0o600
    try:
        with os.fdopen(handle, "wb") as tmp:
            tmp.write(MAGIC + nonce + ciphertext)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_path, store / file_name)
    except BaseException:
        Path(tmp_path).unlink(missing_ok=True)
        raise
    return file_name, sha256, len(data)


def artifact_load(*, file_name: str, sha256: str) -> bytes:
    """The skops bytes of a stored package, decrypted and checked; ApplicationError(kind="integrity") if not."""
    if not file_name or Path(file_name).name != file_name:
        raise _integrity(f"The artifact file name {file_name!r} is not a plain file name in the model store.")
    try:
        blob = (Path(settings.MODEL_STORE_DIR) / file_name).read_bytes()
    except OSError as exc:
        raise _integrity(f"The artifact {file_name} cannot be read ({exc.strerror or exc}).") from exc
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + NONCE_SIZE:
        raise _integrity(f"The artifact {file_name} is not an encrypted model file of a known format.")
    nonce, ciphertext = blob[len(MAGIC):len(MAGIC) + NONCE_SIZE], blob[len(MAGIC) + NONCE_SIZE:]
    try:
        compressed = AESGCM(settings.MODEL_ENCRYPTION_KEY).decrypt(nonce, ciphertext, _associated(sha256))
    except InvalidTag as exc:
        raise _integrity(
            f"The artifact {file_name} failed authentication: it was modified, encrypted with another key, "
            "or is not the package with the recorded sha256."
        ) from exc
    try:
        data = zlib.decompress(compressed)
    except zlib.error as exc:
        raise _integrity(f"The artifact {file_name} does not decompress ({exc}).") from exc
    if hashlib.sha256(data).hexdigest() != sha256:
        raise _integrity(f"The artifact {file_name} does not match its recorded sha256.")
    return data


def _associated(sha256: str) -> bytes:
    return MAGIC + sha256.encode("ascii")


def _integrity(message: str) -> ApplicationError:
    return ApplicationError(message, kind="integrity")
