"""Write a model version's skops package (pipelines and metadata) to a file."""
from django.core.management.base import BaseCommand, CommandError

from modelstore import selectors, services
from studentperf.errors import ApplicationError


class Command(BaseCommand):
    help = "Export a model version as a plain .skops package, after checking the stored file's integrity."

    def add_arguments(self, parser):
        parser.add_argument("version", type=int, help="the version number")
        parser.add_argument("--out", required=True, help="the .skops file to write")

    def handle(self, *args, **options):
        try:
            version = selectors.model_version_get(number=options["version"])
            path = services.model_version_export(version=version, out_path=options["out"])
        except ApplicationError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Wrote v{version.version} to {path} (sha256 {version.artifact_sha256}).")
