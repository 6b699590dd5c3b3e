"""Re-encrypt the model store under the first of MODEL_ENCRYPTION_KEYS."""
from django.core.management.base import BaseCommand, CommandError

from modelstore.keys import artifact_store_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every model file under the first of MODEL_ENCRYPTION_KEYS. Put the new key first and keep the "
        "old ones configured until this succeeds; a file no key opens is left as it is and makes it fail."
    )

    def handle(self, *args, **options):
        report = artifact_store_rotate()
        for name in report.removed:
            self.stdout.write(f"removed stale temporary file {name}")
        for name in report.rotated:
            self.stdout.write(f"rotated {name}")
        for name in report.current:
            self.stdout.write(f"already under the first key: {name}")
        for name, reason in report.failed.items():
            self.stderr.write(f"FAILED {name}: {reason}")
        summary = (
            f"{len(report.rotated)} rotated, {len(report.current)} already under the first key, "
            f"{len(report.failed)} failed."
        )
        if report.failed:
            raise CommandError(
                f"{summary} Failed files were left untouched: keep the old keys until they are dealt with."
            )
        self.stdout.write(summary)
