"""Reading model versions, and the active model as loaded pipelines (cached per process)."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from sklearn.pipeline import Pipeline

from modelstore.models import ModelVersion
from modelstore.storage import artifact_load, package_loads
from studentperf.errors import ApplicationError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    version: ModelVersion
    pipelines: dict[str, Pipeline]


NO_ACTIVE_VERSION = (
    "No model version is active. Train one with `manage.py train_model --activate`, "
    "or activate a version in the admin."
)
_lock = threading.Lock()
_loaded: LoadedModel | None = None
# What identifies the loaded version: the primary key alone can come back after a rolled-back transaction
# or a restored database, the artifact and creation time cannot.
_IDENTITY_FIELDS = ("pk", "artifact_sha256", "created_at")


def active_model_get() -> LoadedModel:
    """The active version and its pipelines.

    Each call costs one small query; the package is loaded (decrypted, checked, built) only when the
    active version differs from the one this process holds, so an activation anywhere is picked up on the
    next call without a restart. Raises ApplicationError(kind="unavailable") when no version is active or
    its package is refused (tampered, unreadable): nothing is served rather than something unchecked.
    """
    global _loaded
    identity = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).values_list(*_IDENTITY_FIELDS).first()
    if identity is None:
        raise ApplicationError(NO_ACTIVE_VERSION, kind="unavailable")
    loaded = _loaded
    if loaded is not None and _identity(loaded.version) == identity:
        return loaded
    with _lock:
        if _loaded is None or _identity(_loaded.version) != identity:
            _loaded = _model_load(pk=identity[0])
        return _loaded


def _model_load(*, pk: int) -> LoadedModel:
    version = ModelVersion.objects.get(pk=pk)
    try:
        pipelines, _ = package_loads(artifact_load(file_name=version.artifact_file, sha256=version.artifact_sha256))
    except ApplicationError as exc:
        logger.error("active model package refused", extra={"model_version": version.version, "reason": exc.message})
        raise ApplicationError(
            f"The active model v{version.version} cannot be loaded ({exc.message}). "
            "Activate another version or roll back.",
            kind="unavailable",
        ) from exc
    logger.info("active model loaded", extra={"model_version": version.version})
    return LoadedModel(version=version, pipelines=pipelines)


def _identity(version: ModelVersion) -> tuple:
    return tuple(getattr(version, field) for field in _IDENTITY_FIELDS)


def model_version_get(*, number: int) -> ModelVersion:
    try:
        return ModelVersion.objects.get(version=number)
    except ModelVersion.DoesNotExist as exc:
        raise ApplicationError(f"There is no model version {number}.", kind="not_found") from exc


def model_version_active() -> ModelVersion | None:
    return ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()


def model_version_list():
    """Every version, newest first (rejected ones included, with their status)."""
    return ModelVersion.objects.order_by("-version")


def model_version_active_get() -> ModelVersion:
    """The active version's row (its package is not loaded); ApplicationError(kind="unavailable") if none."""
    version = model_version_active()
    if version is None:
        raise ApplicationError(NO_ACTIVE_VERSION, kind="unavailable")
    return version
