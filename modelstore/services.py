"""Model versions: register, train, import, upload, export, activate, roll back, and the challenger."""
from __future__ import annotations

import hashlib
import logging
import platform
import re
from collections.abc import Callable
from importlib.metadata import version as distribution_version
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from modelstore.compilation import pipelines_compile
from modelstore.loader import loaded_model_recheck, version_predictors_load
from modelstore.models import ModelActivation, ModelVersion
from modelstore.figures import figures_measured
from modelstore.package_validation import (
    CHECK_READABLE,
    ValidationReport,
    package_open,
    pipelines_validate,
    reference_figures_check,
)
from modelstore.schema import SETUP_FEATURES, SETUPS, feature_schema
from modelstore.selectors import model_version_active_find, model_version_rollback_target
from modelstore.storage import artifact_load, artifact_save, package_dumps, package_loads, version_artifact_read
from studentperf.errors import ApplicationError

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

logger = logging.getLogger(__name__)

Status = ModelVersion.Status
CV_RUNS, CV_FOLDS = 1, 10


def model_version_register(
    *,
    pipelines: dict[str, Pipeline],
    name: str,
    description: str = "",
    created_by: AbstractBaseUser | None = None,
    metrics: dict | None = None,
    training_data_sha256: str = "",
) -> ModelVersion:
    """Package, validate and store pipelines as a new version: VALIDATED, or REJECTED with the reason.

    The validation runs on the pipelines loaded back from the package bytes (through the allow-list), never
    on the objects passed in, so what is checked is what will be served; each check is recorded, in order, in
    the version's `validation_report`. `metrics` (e.g. cross-validation from training) are kept beside the
    `reference` metrics measured here, which must not be degenerate nor far from what `metrics` claim
    (figures.py); a version refused for its figures keeps them, so its page shows why. A validated version's
    pipelines are then compiled to ONNX graphs, each stored beside the package once proved equal to its
    pipeline (`compiled` says which setups are served through onnxruntime, and why the others are not:
    compilation.py).
    """
    setups = sorted(str(setup) for setup in pipelines)
    # The version's descriptive fields, stored in the package too so that an exported file describes itself.
    metadata = {
        "name": name,
        "description": description,
        "setups": setups,
        "feature_schema": {setup: feature_schema(setup) for setup in setups if setup in SETUP_FEATURES},
        "metrics": metrics or {},
        "training_data_sha256": training_data_sha256,
        "library_versions": _library_versions(),
    }
    report = ValidationReport()
    try:
        data = package_dumps(pipelines, metadata)
    except ApplicationError:
        raise  # metadata that is not JSON: the caller's mistake, and nothing to store
    # skops raises whatever the object makes it raise; an object it cannot store is simply not a model.
    except Exception as exc:  # noqa: BLE001
        reason = f"Cannot be packaged: {exc!r}"
        report.add(CHECK_READABLE, passed=False, detail=reason)
        return _version_create(
            **metadata, created_by=created_by, status=Status.REJECTED, rejection_reason=reason,
            validation_report=report.as_dict(),
        )
    reference = None
    try:
        loaded, _ = package_open(data=data, report=report)
        reference = pipelines_validate(pipelines=loaded, report=report)
        reference_figures_check(reference=reference, claimed_metrics=metadata["metrics"], report=report)
    except ApplicationError as exc:
        logger.warning("model version rejected", extra={"model_name": name, "reason": exc.message})
        measured = {"metrics": {**metadata["metrics"], "reference": reference}} if reference else {}
        return _version_create(
            **(metadata | measured), **_stored(data), created_by=created_by, status=Status.REJECTED,
            rejection_reason=exc.message, validation_report=report.as_dict(),
        )
    compilation = pipelines_compile(pipelines=loaded, coverage=settings.PREDICTION_INTERVAL_COVERAGE, report=report)
    validated = {**metadata, "metrics": {**metadata["metrics"], "reference": reference}}
    return _version_create(
        **validated, **_stored(data, compilation.graphs), created_by=created_by, status=Status.VALIDATED,
        compiled=compilation.compiled, validation_report=report.as_dict(),
    )


def model_version_train(
    *,
    data_path: str | Path | None = None,
    name: str = "default",
    description: str = "",
    created_by: AbstractBaseUser | None = None,
    activate: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ModelVersion:
    """Train the recipe on a UCI CSV (default data/student-mat.csv), cross-validate it, register it.

    With `activate`, a validated version is activated at once; a rejected one is returned as it is.
    `progress(done, total)` counts the steps: one per setup trained, one per cross-validation fold, and the
    registration (validation and compilation).
    """
    # The training modules (pandas, scikit-learn) are imported as training starts: the web processes, which
    # import this module for the admin, stay free of them (docs/performance.md, "Memory").
    from modelstore.ml.data import DEFAULT_DATA_PATH, file_sha256, load_dataset
    from modelstore.ml.evaluation import evaluate
    from modelstore.ml.recipe import train_pipelines

    path = Path(data_path) if data_path is not None else DEFAULT_DATA_PATH
    df = load_dataset(path)
    trained = len(SETUPS)
    total = trained + trained * CV_RUNS * CV_FOLDS + 1

    def step(done: int) -> None:
        if progress is not None:
            progress(done, total)

    pipelines = train_pipelines(df, progress=lambda done, _: step(done))
    cross_validation = evaluate(
        df, runs=CV_RUNS, folds=CV_FOLDS, progress=lambda done, _: step(trained + done)
    )
    version = model_version_register(
        pipelines=pipelines,
        name=name,
        description=description or f"Trained on {path.name} ({len(df)} rows).",
        created_by=created_by,
        metrics={
            "cross_validation": {
                "protocol": f"{CV_RUNS} run(s) of {CV_FOLDS}-fold cross-validation of the recipe on {path.name}",
                "results": cross_validation,
            }
        },
        training_data_sha256=file_sha256(path),
    )
    step(total)
    return _activated_if(version, activate=activate, user=created_by)


def model_version_import(
    *,
    data: bytes,
    name: str | None = None,
    created_by: AbstractBaseUser | None = None,
    activate: bool = False,
) -> ModelVersion:
    """Register an external skops package (as written by `model_version_export`).

    A file that is not a package or holds a type outside the allow-list raises ApplicationError and nothing
    is stored: no object was ever built from it. A package that loads but fails validation (other
    attributes, broken predictions) is stored as REJECTED with the reason, like any registration.
    Metrics the package claims are kept; the reference metrics are always recomputed here.
    """
    pipelines, metadata = package_loads(data)
    version = _package_register(
        pipelines=pipelines, metadata=metadata, name=name, description=None, created_by=created_by
    )
    return _activated_if(version, activate=activate, user=created_by)


def model_version_upload(
    *, data: bytes, name: str, description: str = "", created_by: AbstractBaseUser | None = None
) -> ModelVersion:
    """Register an uploaded skops package; every attempt is recorded as a version with its validation report.

    Like `model_version_import`, except that a file which cannot be opened safely (not a skops package, a type
    outside the allow-list, not our package structure) is not an error but a REJECTED version: its reason, its
    report and the file's sha256 and size are kept, its bytes are not (no artifact is stored).
    """
    report = ValidationReport()
    try:
        pipelines, metadata = package_open(data=data, report=report)
    except ApplicationError as exc:
        logger.warning("uploaded model refused", extra={"model_name": name, "reason": exc.message})
        return _version_create(
            name=name[:100], description=description, created_by=created_by, status=Status.REJECTED,
            rejection_reason=exc.message, validation_report=report.as_dict(),
            artifact_sha256=hashlib.sha256(data).hexdigest(), artifact_size=len(data),
        )
    return _package_register(
        pipelines=pipelines, metadata=metadata, name=name, description=description, created_by=created_by
    )


def _package_register(
    *, pipelines: dict[str, Pipeline], metadata: dict, name: str | None, description: str | None,
    created_by: AbstractBaseUser | None,
) -> ModelVersion:
    """Register pipelines loaded from an outside package: the package's own name and description unless given,
    the metrics it claims kept (never its reference metrics, which are recomputed)."""
    claimed_sha256 = str(metadata.get("training_data_sha256", ""))
    metrics = metadata.get("metrics")
    return model_version_register(
        pipelines=pipelines,
        name=(name or str(metadata.get("name") or "imported"))[:100],
        description=description or str(metadata.get("description", "")),
        created_by=created_by,
        metrics={key: value for key, value in metrics.items() if key != "reference"} if isinstance(metrics, dict) else {},
        training_data_sha256=claimed_sha256 if re.fullmatch(r"[0-9a-f]{64}", claimed_sha256) else "",
    )


def model_version_export(*, version: ModelVersion, out_path: str | Path) -> Path:
    """Write the version's plain skops package (pipelines and metadata) after checking its integrity."""
    if not version.artifact_file:
        raise ApplicationError(f"v{version.version} has no stored package to export.", kind="not_found")
    data = artifact_load(file_name=version.artifact_file, sha256=version.artifact_sha256)
    out_path = Path(out_path)
    try:
        out_path.write_bytes(data)
    except OSError as exc:
        raise ApplicationError(f"Cannot write {out_path}: {exc.strerror or exc}") from exc
    return out_path


def model_version_activate(*, version: ModelVersion, user: AbstractBaseUser | None) -> ModelVersion:
    """Serve `version` from now on; the active one is retired. Only an intact validated/retired version."""
    if version.status == Status.REJECTED:
        raise ApplicationError(
            f"v{version.version} was rejected and cannot be activated: {version.rejection_reason}", kind="conflict"
        )
    if version.status == Status.ACTIVE:
        raise ApplicationError(f"v{version.version} is already the active version.", kind="conflict")
    return _active_switch(target=version, user=user, action=ModelActivation.Action.ACTIVATE)


def model_version_rollback(*, user: AbstractBaseUser | None) -> ModelVersion:
    """Serve again the version that was active before the latest activation of the current one.

    Rolling back twice returns to where it started: the rollback itself is the current version's latest
    activation, and it remembers the version it replaced.
    """
    current = model_version_active_find()
    if current is None:
        raise ApplicationError("No version is active, so there is nothing to roll back.", kind="conflict")
    target = model_version_rollback_target()
    if target is None:
        raise ApplicationError(
            f"v{current.version} has no previously active version to roll back to.", kind="conflict"
        )
    return _active_switch(target=target, user=user, action=ModelActivation.Action.ROLLBACK)


def model_version_challenger_set(*, version: ModelVersion, user: AbstractBaseUser | None) -> ModelVersion:
    """Make `version` the challenger: from now on it scores every prediction the active version serves, in
    shadow. One challenger at a time: a previous one is retired from the role (its shadow rows stay). Only an
    intact validated or retired version; the package is checked first, as for an activation."""
    if not version.can_be_challenger:
        raise ApplicationError(
            f"v{version.version} is {version.status} and cannot be the challenger: only a validated or retired "
            "version can.", kind="conflict",
        )
    _artifact_verify(version, purpose="be the challenger")
    if not figures_measured(version.metrics):
        _figures_measure_now(version)
    try:
        with transaction.atomic():
            version = ModelVersion.objects.select_for_update().get(pk=version.pk)
            if not version.can_be_challenger:
                raise ApplicationError(
                    f"v{version.version} is {version.status} and cannot be the challenger.", kind="conflict"
                )
            if version.is_challenger:
                return version
            ModelVersion.objects.select_for_update().filter(is_challenger=True).update(
                is_challenger=False, challenger_since=None, challenger_set_by=None
            )
            version.is_challenger, version.challenger_since, version.challenger_set_by = True, timezone.now(), user
            version.save(update_fields=["is_challenger", "challenger_since", "challenger_set_by"])
    except IntegrityError as exc:
        raise ApplicationError("Another challenger was chosen at the same time; try again.", kind="conflict") from exc
    logger.info("model version challenger set", extra={"model_version": version.version})
    return version


def model_version_challenger_retire(*, user: AbstractBaseUser | None) -> ModelVersion | None:
    """Stop the shadow scoring: the challenger, if any, goes back to being a plain version (its shadow rows
    stay, for the record). Returns the version retired from the role, or None when there was none."""
    with transaction.atomic():
        version = ModelVersion.objects.select_for_update().filter(is_challenger=True).first()
        if version is None:
            return None
        version.is_challenger, version.challenger_since, version.challenger_set_by = False, None, None
        version.save(update_fields=["is_challenger", "challenger_since", "challenger_set_by"])
    logger.info("model version challenger retired", extra={
        "model_version": version.version, "user_id": getattr(user, "pk", None),
    })
    return version


def _active_switch(*, target: ModelVersion, user: AbstractBaseUser | None, action: str) -> ModelVersion:
    # Checked before anything changes: a tampered or unreadable package leaves the active version in service.
    _artifact_verify(target)
    if not figures_measured(target.metrics):
        _figures_measure_now(target)
    try:
        with transaction.atomic():
            target = ModelVersion.objects.select_for_update().get(pk=target.pk)
            if not target.can_be_activated:
                raise ApplicationError(f"v{target.version} is {target.status} and cannot be activated.", kind="conflict")
            previous = ModelVersion.objects.select_for_update().filter(status=Status.ACTIVE).first()
            if previous is not None:
                previous.status = Status.RETIRED
                previous.save(update_fields=["status"])
            target.status = Status.ACTIVE
            # Promoting the challenger is the normal activation; it then serves, and nothing scores in shadow.
            target.is_challenger, target.challenger_since, target.challenger_set_by = False, None, None
            target.save(update_fields=["status", "is_challenger", "challenger_since", "challenger_set_by"])
            ModelActivation.objects.create(version=target, previous_version=previous, action=action, activated_by=user)
            # This process serves the new version from its next prediction; others within
            # ACTIVE_MODEL_CHECK_SECONDS (modelstore.loader.loaded_model_get).
            transaction.on_commit(loaded_model_recheck)
    except IntegrityError as exc:
        # The one-active constraint: another activation committed between our read and our write.
        raise ApplicationError("Another activation happened at the same time; try again.", kind="conflict") from exc
    logger.info("model version %s", action, extra={"model_version": target.version})
    return target


def _artifact_verify(version: ModelVersion, *, purpose: str = "be activated") -> None:
    """Check that the version can serve: its stored package and graphs read (decrypted, their sha256 checked)
    and built into predictors as a serving process builds them (`loader.version_predictors_load`: from the
    graphs alone where they carry their serving state, so an activation in a web worker imports no scikit-learn;
    else from the package, its allow-list checked). ApplicationError(kind="integrity") naming why not."""
    if not version.artifact_file:
        raise ApplicationError(f"v{version.version} has no stored package.", kind="integrity")
    try:
        version_predictors_load(version)
    except ApplicationError as exc:
        logger.error("model package refused", extra={"model_version": version.version, "reason": exc.message})
        raise ApplicationError(
            f"v{version.version} cannot {purpose}, its stored package was refused: {exc.message}", kind="integrity"
        ) from exc


def _figures_measure_now(version: ModelVersion) -> None:
    """Measure a version validated before its figures were (issue 18) as registration does now, and keep the
    figures and the checks on it; ApplicationError (nothing changed) when they refuse it. Such a version is
    thus served again only once measured, and it stays as it was (validated or retired) either way. Its
    pipelines are built from the package for this (already checked by `_artifact_verify`)."""
    report = ValidationReport()
    try:
        pipelines, _ = package_loads(version_artifact_read(version).package)
        reference = pipelines_validate(pipelines=pipelines, report=report)
        reference_figures_check(reference=reference, claimed_metrics=version.metrics, report=report)
    except ApplicationError as exc:
        logger.warning(
            "model version refused at activation", extra={"model_version": version.version, "reason": exc.message}
        )
        raise ApplicationError(
            f"v{version.version} was validated before validation measured its figures, and measuring them now "
            f"refuses it: {exc.message}", kind="conflict",
        ) from exc
    earlier = version.validation_report.get("checks", []) if isinstance(version.validation_report, dict) else []
    for check in report.checks:
        check["detail"] = f"(measured at activation) {check['detail']}"
    version.metrics = {**(version.metrics if isinstance(version.metrics, dict) else {}), "reference": reference}
    version.validation_report = {"checks": [*earlier, *report.checks]}
    version.save(update_fields=["metrics", "validation_report"])


def _stored(data: bytes, graphs: dict[str, bytes] | None = None) -> dict:
    """The artifact fields of a version whose package (and proved graphs) were just written to the store."""
    artifact_file, artifact_sha256, artifact_size = artifact_save(data, graphs=graphs)
    return {"artifact_file": artifact_file, "artifact_sha256": artifact_sha256, "artifact_size": artifact_size}


def _activated_if(version: ModelVersion, *, activate: bool, user: AbstractBaseUser | None) -> ModelVersion:
    if activate and version.status == Status.VALIDATED:
        return model_version_activate(version=version, user=user)
    return version


def _version_create(**fields) -> ModelVersion:
    """Insert with the next version number; a number taken concurrently is retried, not duplicated."""
    for _ in range(5):
        number = (ModelVersion.objects.aggregate(top=Max("version"))["top"] or 0) + 1
        try:
            with transaction.atomic():
                return ModelVersion.objects.create(version=number, **fields)
        except IntegrityError:
            if not ModelVersion.objects.filter(version=number).exists():
                raise
    raise ApplicationError("Could not allocate a version number; try again.", kind="conflict")


def _library_versions() -> dict[str, str]:
    # The installed distributions' versions (the same strings as the modules' __version__), read without
    # importing them.
    libraries = ("scikit-learn", "skops", "numpy", "pandas")
    return {"python": platform.python_version(), **{name: distribution_version(name) for name in libraries}}
