"""Create an OAuth2 client (client credentials) and print its id and secret once: only the secret's hash is stored."""
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from predictions.access.oauth_clients import oauth_client_create
from predictions.models import OAuthClient
from studentperf.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Create an OAuth2 client for an external system (client-credentials grant) and print its id and secret "
        "once (only the secret's hash is stored)."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="Who or what uses the client, e.g. 'school information system'.")
        parser.add_argument(
            "--scopes", nargs="+", required=True, metavar="SCOPE",
            help=f"What its tokens may do, among {', '.join(OAuthClient.SCOPES)} (space- or comma-separated).",
        )
        parser.add_argument("--expires-in", type=int, metavar="DAYS", help="Expire after DAYS days (default: never).")

    def handle(self, *args, **options):
        scopes = [scope.strip() for item in options["scopes"] for scope in item.split(",") if scope.strip()]
        days = options["expires_in"]
        if days is not None and days < 1:
            raise CommandError("--expires-in must be 1 or more days.")
        expiry = timezone.now() + timedelta(days=days) if days is not None else None
        try:
            client, secret = oauth_client_create(name=options["name"], scopes=scopes, expiry_date=expiry)
        except ApplicationError as exc:
            raise CommandError(str(exc)) from exc  # names the refused field, e.g. the unknown scopes
        until = f"expires {client.expiry_date:%Y-%m-%d %H:%M} UTC" if client.expiry_date else "never expires"
        self.stdout.write(f"OAuth2 client '{client.name}' (scopes {', '.join(client.scopes)}, {until}):")
        self.stdout.write(f"client_id: {client.client_id}")
        self.stdout.write(f"client_secret: {secret}")
        self.stderr.write(
            self.style.WARNING(
                "Store the secret now: it is shown only this once; studentperf keeps only its hash. "
                "Tokens: POST /oauth/token/ with grant_type=client_credentials (docs/api.md)."
            )
        )
