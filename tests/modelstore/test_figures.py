"""Validation re-measures a version on the reference data and refuses degenerate or overclaimed models (issue 18,
attack 9: a model whose intervals were always 0-20 passed validation and was served, its own claims shown)."""
from __future__ import annotations

import copy

import numpy as np
import pytest
from django.template.defaultfilters import floatformat
from sklearn.dummy import DummyRegressor

from modelstore import services, storage
from modelstore.figures import FIGURES, figures_check
from modelstore.models import ModelVersion
from modelstore.package_validation import CHECK_FIGURES
from modelstore.schema import SETUPS
from studentperf.errors import ApplicationError

pytestmark = pytest.mark.django_db

# The default model's cross-validated figures as docs/model.md reports them (20 x 10-fold, coverage 0.9).
DEFAULT_MODEL_CLAIMS = {
    "A": {"pcc_binary": 92.52, "rmse": 1.687, "coverage": 0.913, "interval_width": 5.27, "brier": 0.057},
    "B": {"pcc_binary": 85.06, "rmse": 2.305, "coverage": 0.914, "interval_width": 7.66, "brier": 0.106},
    "C": {"pcc_binary": 71.48, "rmse": 3.887, "coverage": 0.909, "interval_width": 13.22, "brier": 0.190},
}


def _claims(results: dict, coverage: float = 0.9) -> dict:
    return {"cross_validation": {"protocol": "claimed", "results": {**results, "protocol": {"coverage": coverage}}}}


def _intervals_0_20(pipelines: dict) -> dict:
    """Every setup's held-out residuals with the outer tenth on each side moved to -40 and +40: the pipelines
    keep their types (they pass the allow-list), but every 90 % interval is now the whole 0-20 scale."""
    altered = copy.deepcopy(pipelines)
    for pipeline in altered.values():
        regressor = pipeline[-1]
        table = regressor.residual_table_.copy()
        for row, count in zip(table, regressor.residual_counts_):
            tail = max(1, count // 10)
            row[:tail], row[count - tail:count] = -40.0, 40.0
        regressor.residual_table_ = table
    return altered


def _constant_grade(pipelines: dict, dataset) -> dict:
    """Setup C's estimator predicts the mean grade for everyone (setup C has no period grade to anchor on)."""
    constant = copy.deepcopy(pipelines["C"])
    constant[-1].estimator_ = DummyRegressor(strategy="mean").fit(np.zeros((len(dataset), 1)), dataset["G3"])
    return pipelines | {"C": constant}


def _reason_parts(version: ModelVersion) -> list[str]:
    return version.rejection_reason.removeprefix("Measured on the reference data, ").removesuffix(".").split("; ")


def test_a_model_whose_intervals_are_always_0_to_20_is_rejected_naming_the_interval_width(register, small_pipelines):
    version = register(pipelines=_intervals_0_20(small_pipelines))

    assert version.status == "rejected"
    for setup in SETUPS:
        assert (
            f"setup {setup}: mean interval width 20.0, at least 18 (90% of the 0-20 scale): the intervals say nothing"
        ) in _reason_parts(version)
        assert f"setup {setup}: the same interval for every student" in _reason_parts(version)
    # The figures that refused it are kept, and the report ends with the failed check.
    assert version.metrics["reference"]["setups"]["A"]["interval_width"] == 20.0
    assert version.metrics["reference"]["setups"]["A"]["interval_coverage"] == 1.0
    assert version.validation_report["checks"][-1] == {
        "check": CHECK_FIGURES, "passed": False, "detail": version.rejection_reason
    }
    with pytest.raises(ApplicationError, match="was rejected and cannot be activated"):
        services.model_version_activate(version=version, user=None)


def test_a_package_claiming_much_better_figures_than_it_delivers_is_rejected_naming_the_claim(db, small_pipelines):
    overclaimed = {
        setup: {"pcc_binary": 99.5, "rmse": 0.4, "coverage": 0.9, "interval_width": 1.5, "brier": 0.01}
        for setup in SETUPS
    }
    data = storage.package_dumps(small_pipelines, {"name": "too good", "metrics": _claims(overclaimed)})

    version = services.model_version_import(data=data)

    assert version.status == "rejected"
    measured = version.metrics["reference"]["setups"]["C"]
    assert f"setup C: RMSE {measured['rmse']}, above 0.48 (1.2 x the claimed 0.4)" in _reason_parts(version)
    assert any(part.startswith("setup A: mean interval width") and "1.25 x the claimed 1.5" in part
               for part in _reason_parts(version))
    assert any(part.startswith("setup C: pass accuracy") and "the claimed 0.995 less 0.1" in part
               for part in _reason_parts(version))
    assert not ModelVersion.objects.filter(status="active").exists()


def test_a_model_predicting_the_same_grade_for_everyone_is_rejected(register, small_pipelines, dataset):
    version = register(pipelines=_constant_grade(small_pipelines, dataset))

    assert version.status == "rejected"
    parts = [part for part in _reason_parts(version) if part.startswith("setup C")]
    assert any("the same predicted grade for every student" in part for part in parts)
    assert any("the same pass probability for every student" in part for part in parts)
    assert not any(part.startswith(("setup A", "setup B")) for part in _reason_parts(version))


def test_claims_for_another_coverage_are_not_compared_on_coverage_or_width(register, small_pipelines):
    narrow = {setup: {"coverage": 0.5, "interval_width": 0.5} for setup in SETUPS}

    assert register(metrics=_claims(narrow, coverage=0.5)).status == "validated"
    assert register(metrics=_claims(narrow, coverage=0.9)).status == "rejected"


def test_the_small_test_models_pass_with_every_figure_measured(register):
    version = register()

    assert version.status == "validated"
    figures_row = next(check for check in version.validation_report["checks"] if check["check"] == CHECK_FIGURES)
    assert figures_row["passed"] and "cross-validated figures compared for setups: none" in figures_row["detail"]
    reference = version.metrics["reference"]
    assert set(reference["baselines"]) == {"pass_accuracy", "rmse", "interval_width"}
    for setup in SETUPS:
        assert set(FIGURES) <= set(reference["setups"][setup])


def test_the_training_path_passes_with_its_own_cross_validated_claims(db, small_csv):
    version = services.model_version_train(data_path=small_csv, name="quarter")

    assert version.status == "validated", version.rejection_reason
    figures_row = next(check for check in version.validation_report["checks"] if check["check"] == CHECK_FIGURES)
    assert "compared for setups: A, B, C" in figures_row["detail"]


@pytest.mark.slow
def test_the_default_model_passes_with_its_reported_claims(trained_pipelines):
    version = services.model_version_register(
        pipelines=trained_pipelines, name="default", metrics=_claims(DEFAULT_MODEL_CLAIMS)
    )

    assert version.status == "validated", version.rejection_reason
    measured = version.metrics["reference"]["setups"]
    # In-sample, so better than the cross-validated claims, yet far from degenerate.
    assert all(measured[setup]["rmse"] < DEFAULT_MODEL_CLAIMS[setup]["rmse"] for setup in SETUPS)
    assert measured["C"]["interval_width"] < 15


def test_figures_check_refuses_rmse_no_better_than_the_mean_and_accuracy_no_better_than_the_majority():
    figures = {
        "rmse": 4.6, "mae": 3.4, "pass_accuracy": 0.67, "brier": 0.2, "interval_coverage": 0.9,
        "interval_width": 12.0, "grade_spread": 1.0, "chance_spread": 0.1, "low_spread": 1.0, "high_spread": 1.0,
    }
    reference = {
        "interval_coverage_stated": 0.9, "setups": {"B": figures},
        "baselines": {"pass_accuracy": 0.6709, "rmse": 4.5756, "interval_width": 17.0},
    }

    with pytest.raises(ApplicationError) as refused:
        figures_check(reference=reference, claimed_metrics={})

    assert "setup B: pass accuracy 0.67, no better than the 0.6709 of calling every student" in refused.value.message
    assert "setup B: RMSE 4.6, no better than the 4.5756 of predicting the mean grade" in refused.value.message


def _as_before_issue_18(version: ModelVersion, **fields) -> ModelVersion:
    """The version as validation left it before the figures were measured: three figures per setup, no baselines,
    no "measured figures" check."""
    reference = version.metrics["reference"]
    old_reference = {
        "protocol": reference["protocol"], "rows": reference["rows"],
        "setups": {
            setup: {name: figures[name] for name in ("rmse", "pass_accuracy", "interval_coverage")}
            for setup, figures in reference["setups"].items()
        },
    }
    checks = [check for check in version.validation_report["checks"] if check["check"] != CHECK_FIGURES]
    ModelVersion.objects.filter(pk=version.pk).update(
        metrics={**version.metrics, "reference": old_reference}, validation_report={"checks": checks}, **fields
    )
    version.refresh_from_db()
    return version


def test_an_old_version_without_measured_figures_is_measured_at_activation_and_served(register):
    old = _as_before_issue_18(register(), status="retired")

    services.model_version_activate(version=old, user=None)

    old.refresh_from_db()
    assert old.status == "active"
    assert set(FIGURES) <= set(old.metrics["reference"]["setups"]["A"])
    last = old.validation_report["checks"][-1]
    assert (last["check"], last["passed"]) == (CHECK_FIGURES, True)
    assert last["detail"].startswith("(measured at activation)")


def test_an_old_degenerate_version_is_refused_at_activation_and_the_active_version_stays(
    register, small_pipelines, active_version
):
    rejected = register(pipelines=_intervals_0_20(small_pipelines))
    # As if it had been validated before validation measured figures.
    old = _as_before_issue_18(rejected, status="validated", rejection_reason="")

    with pytest.raises(ApplicationError, match="measuring them now refuses it: .*mean interval width 20.0") as refused:
        services.model_version_activate(version=old, user=None)

    assert refused.value.kind == "conflict"
    assert dict(ModelVersion.objects.values_list("version", "status")) == {1: "active", 2: "validated"}


def test_the_version_page_shows_claimed_and_measured_figures_per_setup(admin_client, register, small_pipelines):
    claims = {setup: {"pcc_binary": 70.5, "rmse": 3.25, "interval_width": 15.5} for setup in SETUPS}
    version = register(metrics=_claims(claims))
    rejected = register(pipelines=_intervals_0_20(small_pipelines))

    page = admin_client.get(f"/admin/modelstore/modelversion/{version.pk}/change/").content.decode()

    table = page[page.index('id="figures"'):page.index("</table>", page.index('id="figures"'))]
    assert "Claimed" in table and "Measured" in table
    for setup in SETUPS:
        measured = version.metrics["reference"]["setups"][setup]
        # Both rounded to 3 decimals, as the template does.
        assert f"<td>3.250</td><td>{floatformat(measured['rmse'], 3)}</td>" in table
        assert f"<td>0.705</td><td>{floatformat(measured['pass_accuracy'], 3)}</td>" in table
        assert f"<td>15.500</td><td>{floatformat(measured['interval_width'], 3)}</td>" in table
        assert f"<td>–</td><td>{floatformat(measured['mae'], 3)}</td>" in table
    page = admin_client.get(f"/admin/modelstore/modelversion/{rejected.pk}/change/").content.decode()
    assert "<td>–</td><td>20.000</td>" in page
