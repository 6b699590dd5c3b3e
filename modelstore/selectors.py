"""Reading model versions (rows only: modelstore/loader.py loads the active one's package)."""
from __future__ import annotations

import logging

from modelstore.models import ModelVersion
from studentperf.errors import ApplicationError

logger = logging.getLogger(__name__)


NO_ACTIVE_VERSION = (
    "No model version is active. Train one with `manage.py train_model --activate`, "
    "or activate a version in the admin."
)


def model_version_get(*, number: int) -> ModelVersion:
    try:
        return ModelVersion.objects.get(version=number)
    except ModelVersion.DoesNotExist as exc:
        raise ApplicationError(f"There is no model version {number}.", kind="not_found") from exc


def model_version_active_find() -> ModelVersion | None:
    return ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()


def model_version_challenger_find() -> ModelVersion | None:
    """The version scoring the active one's predictions in shadow, if any (issue 19)."""
    return ModelVersion.objects.filter(is_challenger=True).first()


def model_version_list():
    """Every version, newest first (rejected ones included, with their status)."""
    return ModelVersion.objects.order_by("-version")


def model_version_active_get() -> ModelVersion:
    """The active version's row (its package is not loaded); ApplicationError(kind="unavailable") if none."""
    version = model_version_active_find()
    if version is None:
        raise ApplicationError(NO_ACTIVE_VERSION, kind="unavailable")
    return version


def model_version_rollback_target() -> ModelVersion | None:
    """The version a rollback would serve again: the one the active version replaced at its latest activation.

    None when no version is active or the active one replaced none. Rolling back twice returns to where it
    started, because the rollback itself becomes the active version's latest activation.
    """
    current = model_version_active_find()
    if current is None:
        return None
    latest = current.activations.select_related("previous_version").first()
    return latest.previous_version if latest is not None else None
