"""Train the recipe on a UCI CSV and register it as a new model version."""
from django.core.management.base import BaseCommand, CommandError

from modelstore import selectors, services
from studentperf.errors import ApplicationError

from ._progress import progress_bar
from ._report import version_report


class Command(BaseCommand):
    help = "Train, cross-validate and register a model version (default data: data/student-mat.csv)."

    def add_arguments(self, parser):
        parser.add_argument("--data", help="the ;-separated UCI CSV to train on")
        parser.add_argument("--name", default="default", help="the version's name")
        parser.add_argument("--activate", action="store_true", help="serve the new version if it is validated")
        parser.add_argument(
            "--if-none-active", action="store_true", help="do nothing when a version is already active"
        )

    def handle(self, *args, **options):
        if options["if_none_active"]:
            active = selectors.model_version_active_find()
            if active is not None:
                self.stdout.write(f"v{active.version} {active.name!r} is active; nothing trained.")
                return
        try:
            with progress_bar(self.stderr, desc="training") as progress:
                version = services.model_version_train(
                    data_path=options["data"], name=options["name"], activate=options["activate"], progress=progress
                )
        except ApplicationError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(version_report(version))
