"""Register an external skops model package as a new model version."""
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from modelstore import services
from studentperf.errors import ApplicationError

from ._report import version_report


class Command(BaseCommand):
    help = "Import a .skops model package (as written by export_model); it is validated before it is stored."

    def add_arguments(self, parser):
        parser.add_argument("path", help="the .skops package")
        parser.add_argument("--name", help="the version's name (default: the name in the package)")
        parser.add_argument("--activate", action="store_true", help="serve the new version if it is validated")

    def handle(self, *args, **options):
        path = Path(options["path"])
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror or exc}") from exc
        try:
            version = services.model_version_import(data=data, name=options["name"], activate=options["activate"])
        except ApplicationError as exc:
            raise CommandError(f"{path.name} was not imported: {exc}") from exc
        self.stdout.write(version_report(version))
