"""Service: a model version's pipelines as ONNX files, one per setup, for scoring outside studentperf."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import onnx
from django.conf import settings

from modelstore.compilation import graph_prove
from modelstore.ml.data import DEFAULT_DATA_PATH, load_dataset
from modelstore.models import ModelVersion
from modelstore.storage import package_loads, version_artifact_read
from studentperf.errors import ApplicationError


@dataclass(frozen=True)
class ExportedGraph:
    setup: str
    path: Path
    check: dict  # onnx_equality_check's result on the reference rows
    served: bool  # the graph proved at registration and served, not one converted for this export


def graph_file_name(setup: str) -> str:
    return f"setup-{setup}.onnx"


def model_version_onnx_export(
    *, version: ModelVersion, out_dir: str | Path, coverage: float | None = None
) -> list[ExportedGraph]:
    """Write `out_dir/setup-A.onnx`, `setup-B.onnx`, ... once every graph equals the version's stored
    pipeline (the skops package is the source of truth) within TOLERANCE on the reference rows
    (data/student-mat.csv, as in the version's reference metrics).

    A setup served through onnxruntime exports the very graph proved at registration and served (its
    sha256 checked on reading), when that graph's coverage is the one asked for; it gains the version's
    metadata and is proved again. Any other setup, or another coverage, is converted from the pipeline now.
    `coverage` (default settings.PREDICTION_INTERVAL_COVERAGE) fixes the interval outputs. ApplicationError
    naming the reason if the package is refused, a pipeline does not convert or a graph disagrees; then
    nothing is written.
    """
    if not version.artifact_file:
        raise ApplicationError(f"v{version.version} has no stored package to export.", kind="not_found")
    stored = version_artifact_read(version)
    pipelines, _ = package_loads(stored.package)
    coverage = settings.PREDICTION_INTERVAL_COVERAGE if coverage is None else coverage
    reference = load_dataset(DEFAULT_DATA_PATH)
    about = {
        "studentperf.model_version": version.version,
        "studentperf.model_name": version.name,
        "studentperf.artifact_sha256": version.artifact_sha256,
    }
    graphs = {}
    for setup in sorted(pipelines):
        served = stored.graphs.get(setup)  # only setups whose ModelVersion.compiled entry is a proved graph
        if served is not None and version.compiled[setup].get("coverage") != coverage:
            served = None
        try:
            graph, check = graph_prove(
                pipelines[setup], setup=setup, reference=reference, coverage=coverage, metadata=about,
                graph=None if served is None else _with_metadata(served, about),
            )
        except ApplicationError as exc:
            raise ApplicationError(f"v{version.version} was not exported: {exc.message}") from exc
        graphs[setup] = graph, check, served is not None
    return [_write(Path(out_dir), setup, *exported) for setup, exported in graphs.items()]


def _with_metadata(graph: bytes, metadata: dict) -> bytes:
    """The graph with `metadata` added to its metadata_props; its nodes, and so what it computes, unchanged."""
    model = onnx.load_from_string(graph)
    props = {prop.key: prop.value for prop in model.metadata_props}
    onnx.helper.set_model_props(model, props | {key: str(value) for key, value in metadata.items()})
    return model.SerializeToString()


def _write(out_dir: Path, setup: str, graph: bytes, check: dict, served: bool) -> ExportedGraph:
    path = out_dir / graph_file_name(setup)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        path.write_bytes(graph)
    except OSError as exc:
        raise ApplicationError(f"Cannot write {path}: {exc.strerror or exc}") from exc
    return ExportedGraph(setup=setup, path=path, check=check, served=served)
