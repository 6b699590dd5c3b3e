"""Write a model version's skops package (pipelines and metadata), or its ONNX graphs, to files."""
from django.core.management.base import BaseCommand, CommandError

from modelstore import selectors, services
from studentperf.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Export a model version, after checking the stored file's integrity: as a plain .skops package "
        "(default), or with --format onnx as one ONNX graph per setup (OUT/setup-A.onnx, ...): the graph served "
        "since registration where there is one, each proved equal to its scikit-learn pipeline on the reference "
        "data first."
    )

    def add_arguments(self, parser):
        parser.add_argument("version", type=int, help="the version number")
        parser.add_argument("--format", choices=("skops", "onnx"), default="skops", help="skops (default) or onnx")
        parser.add_argument(
            "--out", "--output", dest="out",
            help="the .skops file to write (required for skops); for onnx the folder (default studentperf-vN-onnx)",
        )

    def handle(self, *args, **options):
        try:
            version = selectors.model_version_get(number=options["version"])
            if options["format"] == "onnx":
                self._export_onnx(version, options["out"] or f"studentperf-v{version.version}-onnx")
                return
            if not options["out"]:
                raise CommandError("--out is required for the skops format: the .skops file to write.")
            path = services.model_version_export(version=version, out_path=options["out"])
        except ApplicationError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Wrote v{version.version} to {path} (sha256 {version.artifact_sha256}).")

    def _export_onnx(self, version, out_dir) -> None:
        # Imported here: onnxruntime and skl2onnx load only for this format.
        from modelstore.onnx_export import model_version_onnx_export

        graphs = model_version_onnx_export(version=version, out_dir=out_dir)
        self.stdout.write(f"Wrote v{version.version} as ONNX, one graph per setup:")
        for graph in graphs:
            differences = ", ".join(f"{name} {value:.1e}" for name, value in graph.check["max_abs_diff"].items())
            origin = "the graph served since registration" if graph.served else "converted now"
            self.stdout.write(
                f"  {graph.path} ({origin}): equal to the scikit-learn pipeline on {graph.check['rows']} reference "
                f"rows within {graph.check['tolerance']} (max differences: {differences})"
            )
