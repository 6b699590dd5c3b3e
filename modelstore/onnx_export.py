"""Service: a model version's pipelines as ONNX files, one per setup, for scoring outside studentperf."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from modelstore.compilation import TOLERANCE, graph_prove
from modelstore.ml.data import DEFAULT_DATA_PATH, load_dataset
from modelstore.models import ModelVersion
from modelstore.storage import artifact_load, package_loads
from studentperf.errors import ApplicationError


@dataclass(frozen=True)
class ExportedGraph:
    setup: str
    path: Path
    check: dict  # onnx_equality_check's result on the reference rows


def graph_file_name(setup: str) -> str:
    return f"setup-{setup}.onnx"


def model_version_onnx_export(
    *, version: ModelVersion, out_dir: str | Path, coverage: float | None = None
) -> list[ExportedGraph]:
    """Convert the version's stored pipelines (the skops package is the source of truth) and write
    `out_dir/setup-A.onnx`, `setup-B.onnx`, ... once every graph equals its pipeline within TOLERANCE on
    the reference rows (data/student-mat.csv, as in the version's reference metrics).

    `coverage` (default settings.PREDICTION_INTERVAL_COVERAGE) fixes the interval outputs. ApplicationError
    naming the reason if the package is refused, a pipeline does not convert or a graph disagrees; then
    nothing is written.
    """
    if not version.artifact_file:
        raise ApplicationError(f"v{version.version} has no stored package to export.", kind="not_found")
    pipelines, _ = package_loads(artifact_load(file_name=version.artifact_file, sha256=version.artifact_sha256))
    coverage = settings.PREDICTION_INTERVAL_COVERAGE if coverage is None else coverage
    reference = load_dataset(DEFAULT_DATA_PATH)
    about = {
        "studentperf.model_version": version.version,
        "studentperf.model_name": version.name,
        "studentperf.artifact_sha256": version.artifact_sha256,
    }
    graphs = {}
    for setup in sorted(pipelines):
        try:
            graphs[setup] = graph_prove(
                pipelines[setup], setup=setup, reference=reference, coverage=coverage, metadata=about
            )
        except ApplicationError as exc:
            raise ApplicationError(f"v{version.version} was not exported: {exc.message}") from exc
    return [_write(Path(out_dir), setup, graph, check) for setup, (graph, check) in graphs.items()]


def _write(out_dir: Path, setup: str, graph: bytes, check: dict) -> ExportedGraph:
    path = out_dir / graph_file_name(setup)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        path.write_bytes(graph)
    except OSError as exc:
        raise ApplicationError(f"Cannot write {path}: {exc.strerror or exc}") from exc
    return ExportedGraph(setup=setup, path=path, check=check)
