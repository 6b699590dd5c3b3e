"""Create the development administrator for `make run` (DEBUG only) and say how to log in."""
import os

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

USERNAME = "admin"


class Command(BaseCommand):
    help = "In DEBUG, create the 'admin' account with DEV_ADMIN_PASSWORD from .env if missing; print how to log in."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("ensure_dev_admin only runs with DJANGO_DEBUG=1 (development).")
        password = os.environ.get("DEV_ADMIN_PASSWORD", "")
        if not password:
            raise CommandError("DEV_ADMIN_PASSWORD is not set (it is written to .env by `make run`).")
        user_model = get_user_model()
        if not user_model.objects.filter(username=USERNAME).exists():
            user_model.objects.create_superuser(username=USERNAME, email="", password=password)
            self.stdout.write(f"Created the development account '{USERNAME}'.")
        self.stdout.write(
            f"Log in at /accounts/login/ as '{USERNAME}' with the password in .env (DEV_ADMIN_PASSWORD={password})."
        )
