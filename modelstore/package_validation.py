"""The checks a package must pass before it may be served, the report recording them, and the reference metrics."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import numpy as np
from django.conf import settings

from modelstore.figures import figures_check, reference_baselines, setup_figures
from modelstore.ml.inference import predict_records
from modelstore.schema import ATTRIBUTE_NAMES, GRADE_MAX, GRADE_MIN, PASS_MARK, SETUP_FEATURES, SETUPS, TARGET
from modelstore.storage import PACKAGE_FORMAT, package_build, package_types
from studentperf.errors import ApplicationError

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

REFERENCE_PROTOCOL = (
    "reference sample {sample}: every row predicted once per setup with the later period grades removed "
    "(in-sample for models trained on it, so optimistic)"
)

# The checks of a validation report, in the order they run.
CHECK_READABLE = "package readable"
CHECK_TYPES = "types allowed"
CHECK_STRUCTURE = "package structure"
CHECK_SCHEMA = "schema"
CHECK_REFERENCE = "reference predictions"
# The measured figures against the baselines and the claimed ones (figures.py).
CHECK_FIGURES = "measured figures"
# Informational, after the others passed: which setups are served through their proved ONNX graph (compilation.py).
CHECK_COMPILED = "compiled inference"

T = TypeVar("T")


class ValidationReport:
    """The checks a package went through, in order, each `{"check", "passed", "detail"}`; stored on its version.

    The first failed check is the last one: what it refused is the version's rejection reason. An
    informational check (`"informational": true`) refuses nothing: failed, it says what the version lacks.
    """

    def __init__(self) -> None:
        self.checks: list[dict] = []

    def add(self, check: str, *, passed: bool, detail: str, informational: bool = False) -> None:
        self.checks.append(
            {"check": check, "passed": passed, "detail": detail, **({"informational": True} if informational else {})}
        )

    def run(self, check: str, step: Callable[[], tuple[T, str]]) -> T:
        """`step()` -> (result, detail when passed); an ApplicationError it raises is recorded as failed, then raised."""
        try:
            result, detail = step()
        except ApplicationError as exc:
            self.add(check, passed=False, detail=exc.message)
            raise
        self.add(check, passed=True, detail=detail)
        return result

    def as_dict(self) -> dict:
        return {"checks": self.checks}


def package_open(*, data: bytes, report: ValidationReport) -> tuple[dict[str, Pipeline], dict]:
    """`storage.package_loads`, one recorded check at a time: readable, types allowed, structure."""
    types = report.run(CHECK_READABLE, lambda: (package_types(data), f"{len(data):,} bytes read by skops."))
    found = ", ".join(types.untrusted) or "none"
    report.add(
        CHECK_TYPES,
        passed=not types.refused,
        detail=f"Types beyond skops' defaults: {found}. Refused (not in the allow-list): {', '.join(types.refused) or 'none'}.",
    )
    types.require_allowed()
    return report.run(
        CHECK_STRUCTURE,
        lambda: (package_build(data), f"A {PACKAGE_FORMAT} package of scikit-learn pipelines and its metadata."),
    )


def pipelines_validate(*, pipelines: dict[str, Pipeline], report: ValidationReport | None = None) -> dict:
    """Reference metrics of pipelines loaded from a package; ApplicationError saying why they cannot be served.

    Every setup must be served, each pipeline must take exactly the setup's attributes (the schema check), and
    its predictions on the reference sample must be finite and in range (the reference check). The metrics
    returned are the measured figures `reference_figures_check` then judges.
    """
    report = report if report is not None else ValidationReport()
    report.run(CHECK_SCHEMA, lambda: (_schema_check(pipelines), f"Setups {', '.join(SETUPS)}, each with its attributes."))
    return report.run(CHECK_REFERENCE, lambda: _reference_metrics(pipelines))


def reference_figures_check(*, reference: dict, claimed_metrics, report: ValidationReport) -> None:
    """ApplicationError when the measured figures (`pipelines_validate`'s) are degenerate or far from the
    cross-validated figures `claimed_metrics` (the version's metrics) claim: figures.figures_check."""
    report.run(CHECK_FIGURES, lambda: (None, figures_check(reference=reference, claimed_metrics=claimed_metrics)))


def _schema_check(pipelines: dict[str, Pipeline]) -> None:
    missing = [setup for setup in SETUPS if setup not in pipelines]
    if missing:
        raise ApplicationError(f"The package does not serve setup(s) {', '.join(missing)}.")
    for setup in SETUPS:
        _features_check(setup, pipelines[setup])


def _reference_metrics(pipelines: dict[str, Pipeline]) -> tuple[dict, str]:
    # Imported as a package is validated: the web processes stay free of pandas (docs/performance.md, "Memory").
    from modelstore.ml.data import DEFAULT_DATA_PATH, load_dataset

    df = load_dataset(DEFAULT_DATA_PATH)
    coverage = settings.PREDICTION_INTERVAL_COVERAGE
    truth = df[TARGET].to_numpy(dtype=float)
    per_setup = {}
    for setup in SETUPS:
        records = _reference_records(df, setup)
        try:
            outputs = predict_records(pipelines, records, coverage=coverage, top_k=settings.TOP_FACTORS)
        # A package can be broken in any way a fitted estimator can fail; any failure means "do not serve".
        except Exception as exc:  # noqa: BLE001
            raise ApplicationError(f"Setup {setup} failed to predict the reference sample: {exc!r}") from exc
        per_setup[setup] = _setup_metrics_measure(setup, outputs, truth, expected_rows=len(records))
    detail = f"{len(df)} rows per setup, every prediction finite and in range. " + "; ".join(
        f"{setup}: RMSE {metrics['rmse']}, MAE {metrics['mae']}, pass accuracy {metrics['pass_accuracy']}, "
        f"Brier {metrics['brier']}, interval coverage {metrics['interval_coverage']}, "
        f"mean interval width {metrics['interval_width']}"
        for setup, metrics in per_setup.items()
    ) + "."
    reference = {
        "protocol": REFERENCE_PROTOCOL.format(sample=f"{DEFAULT_DATA_PATH.parent.name}/{DEFAULT_DATA_PATH.name}"),
        "rows": len(df), "interval_coverage_stated": coverage, "setups": per_setup,
        "baselines": reference_baselines(truth=truth, coverage=coverage),
    }
    return reference, detail


def _features_check(setup: str, pipeline: Pipeline) -> None:
    expected = list(SETUP_FEATURES[setup])
    found = getattr(pipeline, "feature_names_in_", None)
    if found is None:
        raise ApplicationError(f"The setup {setup} pipeline was not fitted on named attributes.")
    found = [str(name) for name in found]
    if found != expected:
        missing = [name for name in expected if name not in found]
        extra = [name for name in found if name not in expected]
        details = f"missing {missing or 'none'}, unexpected {extra or 'none'}" if missing or extra else "order differs"
        raise ApplicationError(f"The setup {setup} pipeline takes other input attributes than setup {setup} ({details}).")


def _reference_records(df, setup: str) -> list[dict]:
    known_grades = [name for name in ("G1", "G2") if name in SETUP_FEATURES[setup]]
    records = df[list(ATTRIBUTE_NAMES) + known_grades].to_dict("records")
    for record in records:
        for name in ("G1", "G2"):
            record.setdefault(name, None)
    return records


def _setup_metrics_measure(setup: str, outputs: list[dict], truth: np.ndarray, *, expected_rows: int) -> dict:
    if len(outputs) != expected_rows or any(output.get("setup") != setup for output in outputs):
        raise ApplicationError(f"Setup {setup} did not return one setup {setup} prediction per reference row.")
    grade = _column(setup, outputs, "predicted_grade", lambda output: output["predicted_grade"])
    low = _column(setup, outputs, "interval low", lambda output: output["interval"]["low"])
    high = _column(setup, outputs, "interval high", lambda output: output["interval"]["high"])
    chance = _column(setup, outputs, "pass_probability", lambda output: output["pass_probability"], bounds=(0, 1))
    if np.any(low > high):
        raise ApplicationError(f"Setup {setup} returned intervals whose low end is above the high end.")
    # One distribution per student: the grade (its median) inside its interval, on the pass mark's side its
    # pass chance is on.
    if np.any((low > grade) | (grade > high)) or np.any((grade >= PASS_MARK - 0.5) != (chance >= 0.5)):
        raise ApplicationError(
            f"Setup {setup} returned predictions that contradict themselves (a grade outside its interval, or on "
            "the other side of the pass mark from its pass probability)."
        )
    return setup_figures(grade=grade, chance=chance, low=low, high=high, truth=truth)


def _column(setup: str, outputs: list[dict], label: str, value, *, bounds=(GRADE_MIN, GRADE_MAX)) -> np.ndarray:
    try:
        values = np.array([value(output) for output in outputs], dtype=float)
    except (KeyError, TypeError, ValueError) as exc:
        raise ApplicationError(f"Setup {setup} returned predictions without a numeric {label} ({exc!r}).") from exc
    if not np.all(np.isfinite(values)):
        raise ApplicationError(f"Setup {setup} returned non-finite values for {label}.")
    if np.any((values < bounds[0]) | (values > bounds[1])):
        raise ApplicationError(f"Setup {setup} returned values for {label} outside {bounds[0]}-{bounds[1]}.")
    return values
