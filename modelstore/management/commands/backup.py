"""Back up the database and the model store into a folder."""
from django.core.management.base import BaseCommand, CommandError

from modelstore.backup import backup_create
from studentperf.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Write database.json, models/ (the model files, still encrypted) and manifest.json into a new or empty "
        "folder. Keep MODEL_ENCRYPTION_KEYS with it: a restore needs them to read the models."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="the folder to write (created; must be empty if it exists)")

    def handle(self, *args, **options):
        try:
            manifest = backup_create(out_dir=options["out"])
        except ApplicationError as exc:
            raise CommandError(str(exc)) from exc
        for entry in manifest["files"]:
            self.stdout.write(f"{entry['path']}  {entry['size']} bytes  sha256 {entry['sha256']}")
        self.stdout.write(f"Backup written to {options['out']}. {manifest['model_files']}")
