"""Restore a backup written by `manage.py backup` into a freshly migrated, empty installation."""
from django.core.management.base import BaseCommand, CommandError

from modelstore.backup import backup_restore
from studentperf.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Restore a backup folder: the database must be migrated and hold no data yet, and MODEL_ENCRYPTION_KEYS "
        "must hold the key the backed-up model files were written under."
    )

    def add_arguments(self, parser):
        parser.add_argument("backup_dir", help="the folder `manage.py backup --out` wrote")

    def handle(self, *args, **options):
        try:
            report = backup_restore(backup_dir=options["backup_dir"])
        except ApplicationError as exc:
            raise CommandError(str(exc)) from exc
        active = f"v{report.active_version} is active" if report.active_version is not None else "no version is active"
        self.stdout.write(
            f"Restored the backup of {report.backup_created_at}: the database and {report.model_files} model "
            f"file(s); {active}."
        )
