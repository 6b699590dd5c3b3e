"""Retrain the recipe on the school's recorded outcomes, in this process (the admin's button queues the same)."""
from django.core.management.base import BaseCommand, CommandError

from predictions.retraining.services import model_retrain
from predictions.retraining.texts import retrain_summary
from studentperf.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Train on the students with a recorded final grade, register the result through validation, measure it "
        "and the active version on those students, and offer it as the challenger."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--include-base-data", action="store_true",
            help="add the UCI students (added anyway when too few students have a recorded final grade)",
        )
        parser.add_argument(
            "--activate-if-better", action="store_true",
            help="activate the new version instead when it beats the active one on the school's students",
        )

    def handle(self, *args, **options):
        try:
            result = model_retrain(
                include_base_data=options["include_base_data"], activate_if_better=options["activate_if_better"]
            )
        except ApplicationError as exc:
            raise CommandError(str(exc)) from exc
        for line in retrain_summary(result):
            self.stdout.write(line)
        if result.action == "rejected":
            raise CommandError(f"v{result.version.version} was rejected by validation; nothing changed.")
