"""Reading model versions, and the active model as loaded pipelines (cached per process)."""
from __future__ import annotations

import gc
import logging
import math
import threading
import time
from dataclasses import dataclass

import onnxruntime
from django.conf import settings
from sklearn.pipeline import Pipeline

from modelstore.ml.inference import Predictor
from modelstore.ml.onnx import onnx_session
from modelstore.models import ModelVersion
from modelstore.storage import package_loads, version_artifact_read
from studentperf.threads import inference_threads
from studentperf.errors import ApplicationError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    version: ModelVersion
    # By setup: the pipeline with the session of its proved ONNX graph, for inference.predict_records.
    predictors: dict[str, Predictor]

    @property
    def pipelines(self) -> dict[str, Pipeline]:
        """setup -> its scikit-learn pipeline (the source of truth each predictor holds)."""
        return {setup: predictor.pipeline for setup, predictor in self.predictors.items()}

    @property
    def engines(self) -> dict[str, str]:
        """setup -> what serves it: "onnxruntime" or "scikit-learn"."""
        return {setup: predictor.engine for setup, predictor in sorted(self.predictors.items())}


NO_ACTIVE_VERSION = (
    "No model version is active. Train one with `manage.py train_model --activate`, "
    "or activate a version in the admin."
)
_lock = threading.Lock()
_loaded: LoadedModel | None = None
# When this process last read which version is active (time.monotonic()), and how many times it was told to
# read it again (active_model_recheck): a look that began before such a call must not count as the fresh one.
_checked_at = -math.inf
_rechecks = 0
# What identifies the loaded version: the primary key alone can come back after a rolled-back transaction
# or a restored database, the artifact and creation time cannot.
_IDENTITY_FIELDS = ("pk", "artifact_sha256", "created_at")


def active_model_get() -> LoadedModel:
    """The active version, its pipelines and their predictors (with the sessions of the proved ONNX graphs).

    Which version is active is read again (one small query) once the last look is ACTIVE_MODEL_CHECK_SECONDS
    old (0: on every call), and at once after an activation or rollback in this process
    (active_model_recheck); the package is loaded (decrypted, checked, built) only when the active version
    differs from the one this process holds. So an activation anywhere is served without a restart: by this
    process at once, by the others within ACTIVE_MODEL_CHECK_SECONDS. Raises
    ApplicationError(kind="unavailable") when no version is active or its package is refused (tampered,
    unreadable): nothing is served rather than something unchecked.
    """
    global _loaded, _checked_at
    loaded = _loaded
    now = time.monotonic()
    if loaded is not None and now - _checked_at < settings.ACTIVE_MODEL_CHECK_SECONDS:
        return loaded
    rechecks = _rechecks
    identity = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).values_list(*_IDENTITY_FIELDS).first()
    if identity is None:
        raise ApplicationError(NO_ACTIVE_VERSION, kind="unavailable")
    if loaded is None or _identity(loaded.version) != identity:
        with _lock:
            if _loaded is None or _identity(_loaded.version) != identity:
                _loaded = _model_load(pk=identity[0])
                _collector_settle()
            loaded = _loaded
    if rechecks == _rechecks:
        _checked_at = now
    return loaded


def _collector_settle() -> None:
    """Put what is alive once a model is loaded (Django, the libraries, the model: about 200,000 objects)
    out of the garbage collector's reach, so that its full passes, which walked all of them (about 100 ms,
    in whichever request they landed), walk only what requests allocate since. Unfrozen first, so that a
    model replaced by this load can be freed."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def active_model_recheck() -> None:
    """Make this process's next active_model_get read which version is active (after an activation here)."""
    global _checked_at, _rechecks
    _rechecks += 1
    _checked_at = -math.inf


def _model_load(*, pk: int) -> LoadedModel:
    version = ModelVersion.objects.get(pk=pk)
    try:
        stored = version_artifact_read(version)
        pipelines, _ = package_loads(stored.package)
    except ApplicationError as exc:
        logger.error("active model package refused", extra={"model_version": version.version, "reason": exc.message})
        raise ApplicationError(
            f"The active model v{version.version} cannot be loaded ({exc.message}). "
            "Activate another version or roll back.",
            kind="unavailable",
        ) from exc
    predictors = {
        setup: Predictor(pipeline=pipeline, session=_session(version, setup, stored.graphs.get(setup)))
        for setup, pipeline in pipelines.items()
    }
    loaded = LoadedModel(version=version, predictors=predictors)
    logger.info("active model loaded", extra={"model_version": version.version, "engines": loaded.engines})
    return loaded


def _session(version: ModelVersion, setup: str, graph: bytes | None) -> onnxruntime.InferenceSession | None:
    """A session of the setup's proved graph (its integrity checked on reading), or None to serve the setup
    through scikit-learn: no graph, or one this process's onnxruntime refuses (e.g. another version)."""
    if graph is None:
        return None
    try:
        return onnx_session(graph, threads=inference_threads())
    # onnxruntime raises its own error types; the pipeline still serves, slower, and the log says why.
    except Exception as exc:  # noqa: BLE001
        logger.error(
            "onnx graph refused by onnxruntime, serving through scikit-learn",
            extra={"model_version": version.version, "setup": setup, "reason": repr(exc)},
        )
        return None


def _identity(version: ModelVersion) -> tuple:
    return tuple(getattr(version, name) for name in _IDENTITY_FIELDS)


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


# What a version's measured accuracy means for a teacher, per setup.
SETUP_PHRASES = {
    "A": "when both period grades are known",
    "B": "when only the first period grade is known",
    "C": "when no period grade is known yet",
}


def model_version_accuracy_text(*, version: ModelVersion, setup: str) -> str | None:
    """The version's measured accuracy for one setup in a teacher's words, or None without such metrics.

    Cross-validation (students the model had not seen) is preferred; otherwise the reference metrics,
    which were measured on the training data and say so.
    """
    metrics = version.metrics if isinstance(version.metrics, dict) else {}
    measured = _setup_metrics(metrics, "cross_validation", "results", setup)
    if measured is not None:
        pass_share = _number(measured.get("pcc_binary"), scale=0.01)  # a percentage
        opening = "In testing on students it had not seen"
    else:
        measured = _setup_metrics(metrics, "reference", "setups", setup)
        if measured is None:
            return None
        pass_share = _number(measured.get("pass_accuracy"))  # a share
        opening = "Measured on the students it was trained on (so the real accuracy is likely lower)"
    rmse = _number(measured.get("rmse"))
    when = SETUP_PHRASES.get(setup, f"in setup {setup}")
    grade_claim = f"predicted grade was typically within {rmse:.1f} points of the real one" if rmse is not None else ""
    if pass_share is None:
        return f"{opening}, {when}, this model's {grade_claim}." if grade_claim else None
    pass_claim = f"this model made the correct pass/fail call for {_share_in_ten(pass_share)} {when}"
    if not grade_claim:
        return f"{opening}, {pass_claim}."
    return f"{opening}, {pass_claim}, and its {grade_claim}."


def _setup_metrics(metrics: dict, source: str, key: str, setup: str) -> dict | None:
    found = metrics.get(source)
    found = found.get(key) if isinstance(found, dict) else None
    found = found.get(setup) if isinstance(found, dict) else None
    return found if isinstance(found, dict) else None


def _number(value, *, scale: float = 1.0) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:  # NaN
        return None
    return float(value) * scale


def _share_in_ten(share: float) -> str:
    tenths = math.floor(share * 10 + 0.5)  # half up: 0.65 is "about 7 in 10"
    if tenths >= 10:
        return "almost every student"
    if tenths <= 0:
        return "fewer than 1 in 10 students"
    return f"about {tenths} in 10 students"


def model_version_rollback_target() -> ModelVersion | None:
    """The version a rollback would serve again: the one the active version replaced at its latest activation.

    None when no version is active or the active one replaced none. Rolling back twice returns to where it
    started, because the rollback itself becomes the active version's latest activation.
    """
    current = model_version_active()
    if current is None:
        return None
    latest = current.activations.select_related("previous_version").first()
    return latest.previous_version if latest is not None else None
