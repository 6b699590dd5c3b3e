from __future__ import annotations

import copy
import hashlib
import platform

import numpy as np
import pandas
import pytest
import sklearn
import skops
import skops.io as sio
from django.db import IntegrityError, transaction
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from modelstore import services, storage
from modelstore.models import ModelActivation, ModelVersion
from modelstore.schema import CATEGORICAL, SETUP_FEATURES, SETUPS, TARGET, feature_schema
from studentperf.errors import ApplicationError

pytestmark = pytest.mark.django_db

ACTIVE, RETIRED, VALIDATED, REJECTED = "active", "retired", "validated", "rejected"


def _statuses() -> dict[int, str]:
    return dict(ModelVersion.objects.values_list("version", "status"))


def _tamper(version: ModelVersion, model_store_dir) -> None:
    path = model_store_dir / version.artifact_file
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    path.write_bytes(bytes(blob))


def test_register_validates_real_model_with_metrics_schema_versions_and_sha256(trained_pipelines):
    cv = {"protocol": "10-fold", "A": {"rmse": 1.9}}

    version = services.model_version_register(
        pipelines=trained_pipelines, name="real", metrics={"cross_validation": cv}, training_data_sha256="ab" * 32
    )

    assert (version.status, version.rejection_reason, version.version) == (VALIDATED, "", 1)
    assert version.setups == list(SETUPS)
    assert version.feature_schema == {setup: feature_schema(setup) for setup in SETUPS}
    # Read from the installed distributions (importlib.metadata), not the imported modules: the same strings.
    assert version.library_versions == {
        "python": platform.python_version(), "scikit-learn": sklearn.__version__, "skops": skops.__version__,
        "numpy": np.__version__, "pandas": pandas.__version__,
    }
    assert version.metrics["cross_validation"] == cv and version.training_data_sha256 == "ab" * 32
    reference = version.metrics["reference"]
    assert "in-sample" in reference["protocol"] and reference["rows"] == 395
    for setup in SETUPS:
        assert 0 <= reference["setups"][setup]["rmse"] < 4
        assert 0.7 < reference["setups"][setup]["pass_accuracy"] <= 1
        assert 0.8 < reference["setups"][setup]["interval_coverage"] <= 1
    # Easier with more grades known, as in the paper.
    assert reference["setups"]["A"]["rmse"] < reference["setups"]["C"]["rmse"]
    data = storage.artifact_load(file_name=version.artifact_file, sha256=version.artifact_sha256)
    assert hashlib.sha256(data).hexdigest() == version.artifact_sha256 and len(data) == version.artifact_size
    _, metadata = storage.package_loads(data)
    assert metadata["name"] == "real" and metadata["setups"] == list(SETUPS)


def test_register_numbers_versions_one_after_another(register):
    assert [register().version for _ in range(3)] == [1, 2, 3]


def test_register_retries_a_version_number_taken_at_the_same_time(register, monkeypatch):
    register()
    # As if another process had read the same maximum before this one inserted.
    stale, aggregate = iter([{"top": 0}]), ModelVersion.objects.aggregate
    monkeypatch.setattr(ModelVersion.objects, "aggregate", lambda **kwargs: next(stale, None) or aggregate(**kwargs))

    assert register().version == 2


def _swapped_setups(pipelines: dict, dataset) -> dict:
    return pipelines | {"A": pipelines["C"]}


def _nan_predictions(pipelines: dict, dataset) -> dict:
    """Setup B's regressor predicts NaN for everyone."""
    broken = copy.deepcopy(pipelines["B"])
    nan_model = DummyRegressor(strategy="constant", constant=0.0).fit(np.zeros((2, 1)), [0, 0])
    nan_model.constant_ = np.array([[np.nan]])
    broken[-1].estimator_ = nan_model
    return pipelines | {"B": broken}


def _plain_regressor(pipelines: dict, dataset) -> dict:
    """Setup C as a plain linear pipeline: the right attributes, but no intervals or pass probability."""
    features = list(SETUP_FEATURES["C"])
    encode = ColumnTransformer(
        [("category", OneHotEncoder(handle_unknown="ignore"), [name for name in features if name in CATEGORICAL])],
        remainder="passthrough",
    )
    plain = Pipeline([("encode", encode), ("model", LinearRegression())]).fit(dataset[features], dataset[TARGET])
    return pipelines | {"C": plain}


@pytest.mark.parametrize(
    ("broken", "reason"),
    [
        (_swapped_setups, "setup A pipeline takes other input attributes than setup A (missing ['G1', 'G2']"),
        (_nan_predictions, "Setup B returned non-finite values for predicted_grade"),
        (_plain_regressor, "Setup C failed to predict the reference sample"),
        (lambda pipelines, dataset: {"A": pipelines["A"]}, "does not serve setup(s) B, C"),
        (lambda pipelines, dataset: pipelines | {"D": pipelines["A"]}, "unknown setups: D"),
    ],
    ids=["wrong-features", "nan-predictions", "no-intervals", "missing-setups", "unknown-setup"],
)
def test_register_rejects_broken_package_with_reason_and_never_serves_it(
    register, small_pipelines, dataset, broken, reason
):
    version = register(pipelines=broken(small_pipelines, dataset))

    assert version.status == REJECTED and reason in version.rejection_reason
    assert "reference" not in version.metrics
    with pytest.raises(ApplicationError, match="was rejected and cannot be activated"):
        services.model_version_activate(version=version, user=None)
    assert not ModelVersion.objects.filter(status=ACTIVE).exists()


def test_register_rejects_pipeline_holding_a_type_outside_the_allow_list(register, small_pipelines):
    pipelines = small_pipelines | {"A": Pipeline([("custom", _Custom())] + small_pipelines["A"].steps)}

    version = register(pipelines=pipelines)

    assert version.status == REJECTED
    assert "not allowed" in version.rejection_reason and f"{__name__}._Custom" in version.rejection_reason


def test_register_rejects_pipelines_that_cannot_be_packaged(register, small_pipelines):
    unpicklable = Pipeline([("custom", _Custom(state=(x for x in [])))] + small_pipelines["A"].steps)

    version = register(pipelines=small_pipelines | {"A": unpicklable})

    assert version.status == REJECTED and "Cannot be packaged" in version.rejection_reason
    assert version.artifact_file == ""


def test_register_refuses_metadata_that_is_not_json_and_stores_nothing(register):
    with pytest.raises(ApplicationError, match="not JSON-able"):
        register(metrics={"rmse": float("nan")})
    assert not ModelVersion.objects.exists()


class _Custom:
    def __init__(self, state=None):
        self.state = state


    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X


def test_activate_serves_version_retires_previous_and_records_history(register, user):
    first, second = register(), register()

    services.model_version_activate(version=first, user=user)
    activated = services.model_version_activate(version=second, user=None)

    assert activated.status == ACTIVE and _statuses() == {1: RETIRED, 2: ACTIVE}
    history = list(ModelActivation.objects.values_list("version__version", "previous_version__version", "action", "activated_by"))
    assert history == [(2, 1, "activate", None), (1, None, "activate", user.pk)]


def test_activating_the_active_version_again_is_refused(register):
    version = services.model_version_activate(version=register(), user=None)

    with pytest.raises(ApplicationError, match="already the active version"):
        services.model_version_activate(version=version, user=None)
    assert ModelActivation.objects.count() == 1


def test_database_allows_only_one_active_version():
    for number in (1, 2):
        ModelVersion.objects.create(version=number, name=f"v{number}")

    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.update(status=ACTIVE)
    assert not ModelVersion.objects.filter(status=ACTIVE).exists()


def test_database_refuses_rejected_version_without_reason():
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.create(version=1, name="x", status=REJECTED)


def test_rollback_restores_previous_version_and_writes_history(register, user):
    first, second = register(), register()
    services.model_version_activate(version=first, user=None)
    services.model_version_activate(version=second, user=None)

    restored = services.model_version_rollback(user=user)

    assert restored.version == 1 and _statuses() == {1: ACTIVE, 2: RETIRED}
    latest = ModelActivation.objects.first()
    assert (latest.version, latest.previous_version, latest.action, latest.activated_by) == (first, second, "rollback", user)
    # The rollback is now the latest activation of v1, so rolling back again returns to v2.
    assert services.model_version_rollback(user=user).version == 2


def test_rollback_without_a_previous_version_is_refused(register):
    with pytest.raises(ApplicationError, match="No version is active"):
        services.model_version_rollback(user=None)
    services.model_version_activate(version=register(), user=None)

    with pytest.raises(ApplicationError, match="v1 has no previously active version"):
        services.model_version_rollback(user=None)
    assert _statuses() == {1: ACTIVE}


def test_activation_of_tampered_version_is_refused_and_active_version_stays(register, model_store_dir):
    current, tampered = register(), register()
    services.model_version_activate(version=current, user=None)
    _tamper(tampered, model_store_dir)

    with pytest.raises(ApplicationError) as refused:
        services.model_version_activate(version=tampered, user=None)

    assert refused.value.kind == "integrity" and "failed authentication" in refused.value.message
    assert _statuses() == {1: ACTIVE, 2: VALIDATED} and ModelActivation.objects.count() == 1


def test_rollback_to_tampered_version_is_refused_and_active_version_stays(register, model_store_dir):
    first, second = register(), register()
    services.model_version_activate(version=first, user=None)
    services.model_version_activate(version=second, user=None)
    (model_store_dir / first.artifact_file).unlink()

    with pytest.raises(ApplicationError, match="cannot be read"):
        services.model_version_rollback(user=None)
    assert _statuses() == {1: RETIRED, 2: ACTIVE}


def test_export_then_import_registers_an_equal_new_version(register, tmp_path):
    original = register(name="to-export", description="exported", metrics={"cross_validation": {"rmse": 2}})
    out = services.model_version_export(version=original, out_path=tmp_path / "model.skops")

    imported = services.model_version_import(data=out.read_bytes(), activate=True)

    assert out.read_bytes() == storage.artifact_load(file_name=original.artifact_file, sha256=original.artifact_sha256)
    assert (imported.version, imported.status, imported.name, imported.description) == (2, ACTIVE, "to-export", "exported")
    assert imported.metrics == original.metrics


def test_import_of_refused_file_stores_nothing(db, model_store_dir):
    crafted = sio.dumps({"format": storage.PACKAGE_FORMAT, "pipelines": {"A": _Custom()}, "metadata": {}})

    with pytest.raises(ApplicationError, match=f"not allowed: {__name__}._Custom"):
        services.model_version_import(data=crafted)
    with pytest.raises(ApplicationError, match="not a readable skops model package"):
        services.model_version_import(data=b"\x00garbage")
    assert not ModelVersion.objects.exists() and not model_store_dir.exists()


def test_register_records_every_check_as_passed_in_its_validation_report(register):
    version = register()

    checks = version.validation_report["checks"]
    assert [check["check"] for check in checks] == [
        "package readable", "types allowed", "package structure", "schema", "reference predictions",
        "measured figures", "compiled inference",
    ]
    assert all(check["passed"] for check in checks)
    rmse = version.metrics["reference"]["setups"]["C"]["rmse"]
    assert f"C: RMSE {rmse}" in checks[-3]["detail"]


def test_rejection_report_ends_with_the_failed_check_holding_the_reason(register, small_pipelines):
    version = register(pipelines={"A": small_pipelines["A"]})

    *passed, failed = version.validation_report["checks"]
    assert [check["check"] for check in passed] == ["package readable", "types allowed", "package structure"]
    assert all(check["passed"] for check in passed)
    assert failed == {"check": "schema", "passed": False, "detail": version.rejection_reason}


def test_register_of_an_unpackable_pipeline_reports_the_package_unreadable(register, small_pipelines):
    unpicklable = Pipeline([("custom", _Custom(state=(x for x in [])))] + small_pipelines["A"].steps)

    version = register(pipelines=small_pipelines | {"A": unpicklable})

    assert version.validation_report["checks"] == [
        {"check": "package readable", "passed": False, "detail": version.rejection_reason}
    ]


def test_upload_of_a_good_package_registers_it_under_the_given_name(register, user, tmp_path):
    original = register(name="exported", metrics={"cross_validation": {"rmse": 2}})
    data = services.model_version_export(version=original, out_path=tmp_path / "m.skops").read_bytes()

    uploaded = services.model_version_upload(data=data, name="uploaded", description="", created_by=user)

    assert (uploaded.version, uploaded.status, uploaded.name, uploaded.created_by) == (2, VALIDATED, "uploaded", user)
    assert uploaded.description == original.description and uploaded.metrics == original.metrics
    assert all(check["passed"] for check in uploaded.validation_report["checks"])


@pytest.mark.parametrize(
    ("data", "failed_check", "reason"),
    [
        (b"\x00garbage", "package readable", "not a readable skops model package"),
        (sio.dumps({"format": storage.PACKAGE_FORMAT, "pipelines": {"A": _Custom()}, "metadata": {}}),
         "types allowed", f"not allowed: {__name__}._Custom"),
        (sio.dumps({"pipelines": {}}), "package structure", "not a studentperf-model/1 package"),
    ],
    ids=["unreadable", "untrusted-type", "wrong-structure"],
)
def test_upload_of_a_refused_file_records_a_rejected_version_without_storing_it(
    db, model_store_dir, user, data, failed_check, reason
):
    version = services.model_version_upload(data=data, name="attempt", description="tried", created_by=user)

    assert (version.status, version.name, version.description, version.created_by) == (REJECTED, "attempt", "tried", user)
    assert reason in version.rejection_reason
    failed = version.validation_report["checks"][-1]
    assert (failed["check"], failed["passed"]) == (failed_check, False)
    assert version.artifact_file == "" and not model_store_dir.exists()
    assert (version.artifact_sha256, version.artifact_size) == (hashlib.sha256(data).hexdigest(), len(data))
    with pytest.raises(ApplicationError, match="was rejected and cannot be activated"):
        services.model_version_activate(version=version, user=None)


def test_database_refuses_an_active_version_that_was_rejected(register, small_pipelines):
    rejected = register(pipelines={"A": small_pipelines["A"]})

    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(pk=rejected.pk).update(status=ACTIVE)


def test_rollback_target_is_the_version_a_rollback_returns_to(register):
    from modelstore.selectors import model_version_rollback_target

    assert model_version_rollback_target() is None
    first, second = register(), register()
    services.model_version_activate(version=first, user=None)
    assert model_version_rollback_target() is None
    services.model_version_activate(version=second, user=None)
    assert model_version_rollback_target() == first

    services.model_version_rollback(user=None)

    assert model_version_rollback_target() == second
