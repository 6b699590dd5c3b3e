"""Compiled inference: at registration each validated pipeline is converted to an ONNX graph and proved equal to
it on the reference rows; the proved graphs are stored in the package and serve the version through onnxruntime.

A setup whose pipeline does not convert, or whose graph disagrees, is served through scikit-learn: the version
is not rejected for it, the "compiled inference" check of its report says so and why.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelstore.ml.onnx import OUTPUTS, onnx_equality_check
from modelstore.models import ModelVersion
from modelstore.package_validation import CHECK_COMPILED, ValidationReport
from modelstore.schema import SETUP_FEATURES
from studentperf.errors import ApplicationError

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

logger = logging.getLogger(__name__)
# Largest difference from scikit-learn allowed on any output of any reference row.
TOLERANCE = 1e-4
Engine = ModelVersion.Engine
_LABELS = {"grade": "grade", "interval_low": "interval low", "interval_high": "interval high",
           "pass_probability": "pass probability", "point": "centre", "category": "category"}


@dataclass(frozen=True)
class Compilation:
    compiled: dict  # per setup, as stored in ModelVersion.compiled
    graphs: dict[str, bytes]  # the proved graphs, by setup


def pipelines_compile(*, pipelines: dict[str, Pipeline], coverage: float, report: ValidationReport) -> Compilation:
    """Convert and prove every pipeline (already validated), recording the informational check CHECK_COMPILED.

    `coverage` fixes the graphs' interval outputs, which are proved like the rest; serving computes intervals
    from the grade (inference.Predictor.interval), so another coverage later needs no other graph.
    """
    # Imported here, as the registration runs: the web processes stay free of pandas (docs/performance.md, "Memory").
    from modelstore.ml.data import DEFAULT_DATA_PATH, load_dataset

    reference = load_dataset(DEFAULT_DATA_PATH)
    compiled, graphs, details = {}, {}, []
    for setup in sorted(pipelines):
        try:
            graph, check = graph_prove(pipelines[setup], setup=setup, reference=reference, coverage=coverage)
        except ApplicationError as exc:
            logger.warning("setup served through scikit-learn", extra={"setup": setup, "reason": exc.message})
            compiled[setup] = {"engine": Engine.SCIKIT_LEARN, "reason": exc.message}
            details.append(f"Setup {setup}: served through scikit-learn: {exc.message}")
            continue
        compiled[setup] = {
            "engine": Engine.ONNXRUNTIME, "sha256": hashlib.sha256(graph).hexdigest(), "coverage": coverage, **check,
        }
        graphs[setup] = graph
        details.append(
            f"Setup {setup}: served through onnxruntime; largest differences from scikit-learn on {check['rows']} "
            f"rows: {differences_text(check['max_abs_diff'])}."
        )
    report.add(CHECK_COMPILED, passed=len(graphs) == len(pipelines), detail=" ".join(details), informational=True)
    return Compilation(compiled=compiled, graphs=graphs)


def pipeline_to_onnx(pipeline: Pipeline, **options) -> bytes:
    """`modelstore.ml.onnx.pipeline_to_onnx`, its module imported on the first conversion: onnx and skl2onnx
    (about 30 MiB) stay out of the web processes, which import this module but do not convert."""
    from modelstore.ml.onnx.convert import pipeline_to_onnx as convert

    return convert(pipeline, **options)


def graph_prove(
    pipeline: Pipeline, *, setup: str, reference: pd.DataFrame, coverage: float, metadata: dict | None = None,
    graph: bytes | None = None,
) -> tuple[bytes, dict]:
    """The setup pipeline's ONNX graph and `onnx_equality_check`'s result on the `reference` rows (the UCI
    data), once they agree within TOLERANCE; ApplicationError saying why not (no conversion, a graph
    onnxruntime refuses, a difference). `graph` is proved as it is (e.g. one stored at registration);
    without it the pipeline is converted now, with `metadata`."""
    if graph is None:
        try:
            graph = pipeline_to_onnx(pipeline, coverage=coverage, metadata=metadata)
        except ApplicationError:
            raise
        # A pipeline from outside may hold steps that fail in any way before the converter is reached: no graph.
        except Exception as exc:  # noqa: BLE001
            raise ApplicationError(f"The setup {setup} pipeline cannot be converted to ONNX: {exc!r}") from exc
    try:
        check = onnx_equality_check(
            pipeline, graph, reference[list(SETUP_FEATURES[setup])], coverage=coverage, tolerance=TOLERANCE
        )
    # onnxruntime raises its own error types for a graph it cannot load or run: no proof, no graph.
    except Exception as exc:  # noqa: BLE001
        raise ApplicationError(f"onnxruntime cannot run the setup {setup} ONNX graph: {exc!r}") from exc
    if not check["equal"]:
        raise ApplicationError(
            f"The setup {setup} ONNX graph differs from the scikit-learn pipeline on the {check['rows']} reference "
            f"rows by more than {TOLERANCE} (largest differences: {differences_text(check['max_abs_diff'])})."
        )
    return graph, check


def differences_text(max_abs_diff: dict) -> str:
    return ", ".join(f"{_LABELS[name]} {max_abs_diff[name]:.2g}" for name in OUTPUTS if name in max_abs_diff)
