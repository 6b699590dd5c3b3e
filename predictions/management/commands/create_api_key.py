"""Create an API key and print it once: only its hash is stored."""
from django.core.management.base import BaseCommand, CommandError

from predictions.access.api_keys import api_key_create
from predictions.models import ApiKey
from studentperf.errors import ApplicationError


class Command(BaseCommand):
    help = "Create an API key for an external system and print it once (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Who or what uses the key, e.g. 'school information system'.")
        parser.add_argument(
            "--scopes", default="predict,read",
            help=f"Comma-separated, among {', '.join(ApiKey.SCOPES)} (default: predict,read).",
        )
        parser.add_argument("--expires", type=int, metavar="DAYS", help="Expire after DAYS days (default: never).")

    def handle(self, *args, **options):
        scopes = [scope.strip() for scope in options["scopes"].split(",") if scope.strip()]
        try:
            api_key, key = api_key_create(name=options["name"], scopes=scopes, expires_days=options["expires"])
        except ApplicationError as exc:
            raise CommandError(str(exc)) from exc
        expiry = f"expires {api_key.expiry_date:%Y-%m-%d %H:%M} UTC" if api_key.expiry_date else "never expires"
        self.stdout.write(f"API key '{api_key.name}' (prefix {api_key.prefix}, scopes {', '.join(api_key.scopes)}, {expiry}):")
        self.stdout.write(key)
        self.stderr.write(
            self.style.WARNING("Store it now: it is shown only this once; studentperf keeps only its hash.")
        )
