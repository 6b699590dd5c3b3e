"""The active model as this process serves it: its package loaded once (decrypted, checked, built into
predictors with the sessions of the proved ONNX graphs) and cached per process, re-read when another version
becomes active. A setup served by its graph keeps the session and what the outputs and explanations read,
which the graph carries (`Predictor.from_graph`, modelstore.ml.serving): the package is not even built, so a
serving process never imports scikit-learn or skops for it. A setup scikit-learn serves (or a graph converted
before graphs carried that state) reads the package, and of a pipeline whose graph serves keeps only the
same small state (`Predictor.serving`), so a worker holds a version in a fraction of the memory
(docs/performance.md, "Memory"). `model_readiness` is what /health/ready asks of it (settings.READINESS_CHECKS)."""
from __future__ import annotations

import gc
import logging
import math
import threading
import time
from dataclasses import dataclass

from typing import TYPE_CHECKING

import onnxruntime
from django.conf import settings

from modelstore.ml.inference import Predictor
from modelstore.ml.onnx import OUTPUTS, onnx_session
from modelstore.models import ModelVersion
from modelstore.selectors import NO_ACTIVE_VERSION
from modelstore.storage import package_loads, version_artifact_read
from studentperf.errors import ApplicationError
from studentperf.memory import memory_release
from studentperf.threads import inference_threads

if TYPE_CHECKING:  # the versions whose graphs carry their serving state load without scikit-learn
    from sklearn.pipeline import Pipeline

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    version: ModelVersion
    # By setup, for inference.predict_records: the session of its proved ONNX graph and the little the outputs
    # and explanations read of the pipeline (Predictor.serving), or the pipeline where scikit-learn serves.
    predictors: dict[str, Predictor]

    @property
    def pipelines(self) -> dict[str, Pipeline]:
        """setup -> its scikit-learn pipeline (the source of truth), read from the stored package again on every
        call (decrypted, checked, built: about a second and 100 MiB or more while held), since a serving process
        does not keep the pipelines its graphs serve. For training, export and proofs, not for serving."""
        pipelines, _ = package_loads(version_artifact_read(self.version).package)
        return pipelines

    @property
    def engines(self) -> dict[str, str]:
        """setup -> what serves it: "onnxruntime" or "scikit-learn"."""
        return {setup: predictor.engine for setup, predictor in sorted(self.predictors.items())}


_lock = threading.Lock()


_loaded: LoadedModel | None = None


# When this process last read which version is active (time.monotonic()), and how many times it was told to
# read it again (loaded_model_recheck): a look that began before such a call must not count as the fresh one.
_checked_at = -math.inf


_rechecks = 0


# What identifies the loaded version: the primary key alone can come back after a rolled-back transaction
# or a restored database, the artifact and creation time cannot.
_IDENTITY_FIELDS = ("pk", "artifact_sha256", "created_at")


def loaded_model_get() -> LoadedModel:
    """The active version, its pipelines and their predictors (with the sessions of the proved ONNX graphs).

    Which version is active is read again (one small query) once the last look is ACTIVE_MODEL_CHECK_SECONDS
    old (0: on every call), and at once after an activation or rollback in this process
    (loaded_model_recheck); the package is loaded (decrypted, checked, built) only when the active version
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
    model replaced by this load can be freed (and its memory handed back, `memory_release`)."""
    gc.unfreeze()
    memory_release()
    gc.freeze()


def loaded_model_recheck() -> None:
    """Make this process's next loaded_model_get read which version is active (after an activation here)."""
    global _checked_at, _rechecks
    _rechecks += 1
    _checked_at = -math.inf


def version_predictors_load(version: ModelVersion) -> dict[str, Predictor]:
    """The version's predictors by setup, as a serving process holds them: its stored file read (decrypted, the
    sha256 of its package and graphs checked), then each setup from its proved graph and the serving state the
    graph carries, without building the package (`_graph_predictors`), or else from the package's pipelines
    (`_package_predictors`, the allow-list checked). ApplicationError saying why the version cannot serve.
    What is freed of the package and the pipelines is garbage once this returns (`memory_release`)."""
    stored = version_artifact_read(version)
    predictors = _graph_predictors(version, stored.graphs)
    return predictors if predictors is not None else _package_predictors(version, stored)


def _model_load(*, pk: int) -> LoadedModel:
    version = ModelVersion.objects.get(pk=pk)
    try:
        predictors = version_predictors_load(version)
    except ApplicationError as exc:
        logger.error("active model package refused", extra={"model_version": version.version, "reason": exc.message})
        raise ApplicationError(
            f"The active model v{version.version} cannot be loaded ({exc.message}). "
            "Activate another version or roll back.",
            kind="unavailable",
        ) from exc
    loaded = LoadedModel(version=version, predictors=predictors)
    # The package and its graphs' bytes (and the pipelines a graph serves) are garbage from here: the heap they
    # took is handed back to the system, so a worker holds the sessions and small arrays only.
    memory_release()
    logger.info("active model loaded", extra={"model_version": version.version, "engines": loaded.engines})
    return loaded


def _graph_predictors(version: ModelVersion, graphs: dict[str, bytes]) -> dict[str, Predictor] | None:
    """Every setup's predictor from its proved graph and the serving state the graph carries, without reading
    the package (so without scikit-learn or skops); None when a setup needs its pipeline: served through
    scikit-learn, a graph onnxruntime refuses, or one converted before graphs carried their serving state."""
    setups = sorted(version.compiled) if isinstance(version.compiled, dict) else []
    if not setups or set(setups) != set(graphs):
        return None
    predictors = {}
    for setup in setups:
        session = _session(version, setup, graphs[setup])
        try:
            predictor = None if session is None else Predictor.from_graph(session)
        except (ValueError, KeyError, TypeError) as exc:  # a state this code cannot read: the pipeline serves
            logger.warning("serving state of the onnx graph unreadable, reading the package",
                           extra={"model_version": version.version, "setup": setup, "reason": repr(exc)})
            predictor = None
        if predictor is None:
            return None
        predictors[setup] = predictor
    return predictors


def _package_predictors(version: ModelVersion, stored) -> dict[str, Predictor]:
    """Every setup's predictor built from the package's pipelines (imports scikit-learn and skops): the session
    of its proved graph and what its pipeline's outputs and explanations read, or the pipeline itself where no
    graph serves (`Predictor.serving`)."""
    pipelines, _ = package_loads(stored.package)
    return {
        setup: Predictor.serving(pipeline, _session(version, setup, stored.graphs.get(setup)))
        for setup, pipeline in pipelines.items()
    }


def _session(version: ModelVersion, setup: str, graph: bytes | None) -> onnxruntime.InferenceSession | None:
    """A session of the setup's proved graph (its integrity checked on reading), or None to serve the setup
    through scikit-learn: no graph, or one this process's onnxruntime refuses (e.g. another version)."""
    if graph is None:
        return None
    try:
        session = onnx_session(graph, threads=inference_threads())
    # onnxruntime raises its own error types; the pipeline still serves, slower, and the log says why.
    except Exception as exc:  # noqa: BLE001
        logger.error(
            "onnx graph refused by onnxruntime, serving through scikit-learn",
            extra={"model_version": version.version, "setup": setup, "reason": repr(exc)},
        )
        return None
    outputs = tuple(node.name for node in session.get_outputs())
    if outputs != OUTPUTS:
        # A graph stored before the predictive distribution (grade and pass chance from two models) would
        # serve outputs that may disagree; the pipeline computes the coherent ones.
        logger.warning(
            "onnx graph of an earlier format, serving through scikit-learn",
            extra={"model_version": version.version, "setup": setup, "reason": f"outputs {list(outputs)}"},
        )
        return None
    return session


def _identity(version: ModelVersion) -> tuple:
    return tuple(getattr(version, name) for name in _IDENTITY_FIELDS)


def model_readiness() -> dict:
    """{"model_version": N, "engines": {setup: "onnxruntime" or "scikit-learn"}} of the model this process
    serves, loading it if needed; ApplicationError(kind="unavailable", fields={"model": [...]}) when none can be."""
    try:
        model = loaded_model_get()
    except ApplicationError as exc:
        raise ApplicationError(exc.message, kind="unavailable", fields={"model": [exc.message]}) from exc
    return {"model_version": model.version.version, "engines": model.engines}
