"""Re-encrypting the model store under the first of MODEL_ENCRYPTION_KEYS (`manage.py rotate_model_key`).

To replace a key: put the new one first in MODEL_ENCRYPTION_KEYS and keep the old one after it, in every process
(restarted, so that all read files under either key and none writes under the old one any more), run
`rotate_model_key` until it succeeds, then drop the old key. Each file is replaced on its own, atomically, and
only once its new copy was read back under the first key alone: a rotation stopped at any point loses nothing,
and running it again finishes the job.
"""
from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from modelstore.models import ModelVersion
from modelstore.storage import (
    TMP_PREFIX,
    OpenedArtifact,
    artifact_file_read,
    artifact_files,
    artifact_open,
    artifact_seal,
    store_file_write,
)
from studentperf.errors import ApplicationError

# A temporary file older than this was left by a writer that died (a write takes seconds); a younger one may be
# another process's artifact on its way to its name.
STALE_TMP_SECONDS = 3600
_SHA256_PREFIX = re.compile(r"[0-9a-f]{64}")


@dataclass
class RotationReport:
    """What a rotation did, by file name: `failed` files (with why) were left exactly as they were."""

    rotated: list[str] = field(default_factory=list)
    current: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)


def artifact_store_rotate() -> RotationReport:
    """Re-encrypt, under the first of MODEL_ENCRYPTION_KEYS, every artifact file in MODEL_STORE_DIR that another
    of the keys opens; remove the temporary files dead writers left. A file that no key opens, or that is not
    what its versions record, is reported in `failed` and left untouched; the others are rotated all the same."""
    report = RotationReport(removed=_stale_tmp_remove())
    versions = _versions_by_file()
    for file_name in artifact_files():
        try:
            rotated = _artifact_rotate(file_name=file_name, versions=versions.get(file_name, []))
        except ApplicationError as exc:
            report.failed[file_name] = exc.message
        except OSError as exc:  # the new copy could not be written (disk full, permissions): the old one stays
            report.failed[file_name] = f"The artifact {file_name} could not be rewritten ({exc.strerror or exc})."
        else:
            (report.rotated if rotated else report.current).append(file_name)
    return report


def _artifact_rotate(*, file_name: str, versions: list[ModelVersion]) -> bool:
    """Re-encrypt one file under the first key, unless it is under it already (then False)."""
    sha256 = _bound_sha256(file_name=file_name, versions=versions)
    opened = artifact_open(file_name=file_name, blob=artifact_file_read(file_name=file_name), sha256=sha256)
    _versions_check(opened, versions)
    if opened.key_index == 0:
        return False
    first_key = settings.MODEL_ENCRYPTION_KEYS[:1]

    def check(written: Path) -> None:
        # What replaces the file must open under the first key alone and hold exactly what the old one held:
        # the same authenticated bytes, compared whole (and so the same plaintext and members).
        reopened = artifact_open(file_name=file_name, blob=written.read_bytes(), sha256=sha256, keys=first_key)
        if reopened.compressed != opened.compressed:
            raise ApplicationError(
                f"The re-encrypted copy of {file_name} does not hold what the file holds; the file was kept.",
                kind="integrity",
            )
        _versions_check(reopened, versions)

    store_file_write(
        directory=Path(settings.MODEL_STORE_DIR), file_name=file_name,
        content=artifact_seal(magic=opened.magic, sha256=sha256, compressed=opened.compressed), check=check,
    )
    return True


def _bound_sha256(*, file_name: str, versions: list[ModelVersion]) -> str:
    """The package sha256 the file's encryption is bound to: the one its versions record, else the one its name
    begins with (artifact_save names every file so; a file no version names is still rotated)."""
    if versions:
        return versions[0].artifact_sha256
    match = _SHA256_PREFIX.match(file_name)
    if match is None:
        raise ApplicationError(
            f"The artifact {file_name} belongs to no model version and its name does not give the package "
            "sha256 it is bound to, so it cannot be authenticated.",
            kind="integrity",
        )
    return match.group()


def _versions_check(opened: OpenedArtifact, versions: list[ModelVersion]) -> None:
    """Every version stored in the file finds in it its package and its proved graphs, as recorded."""
    for version in versions:
        stored = opened.artifact(graphs_sha256=version.onnx_graphs_sha256)
        if hashlib.sha256(stored.package).hexdigest() != version.artifact_sha256:
            raise ApplicationError(
                f"The artifact {opened.file_name} is not the package v{version.version} records.", kind="integrity"
            )


def _versions_by_file() -> dict[str, list[ModelVersion]]:
    versions: dict[str, list[ModelVersion]] = {}
    stored = ModelVersion.objects.exclude(artifact_file="")
    for version in stored.only("version", "artifact_file", "artifact_sha256", "compiled"):
        versions.setdefault(version.artifact_file, []).append(version)
    return versions


def _stale_tmp_remove() -> list[str]:
    store = Path(settings.MODEL_STORE_DIR)
    if not store.is_dir():
        return []
    cutoff = time.time() - STALE_TMP_SECONDS
    removed = []
    for path in sorted(store.glob(f"{TMP_PREFIX}*")):
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed.append(path.name)
        except FileNotFoundError:
            continue  # its writer finished or removed it meanwhile
    return removed
