"""Create the demo accounts for `make run` (DEBUG only), one per role, and say how to log in with each."""
import os
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from predictions.access.roles import user_create
from studentperf.errors import ApplicationError


class DemoUser(NamedTuple):
    username: str
    role: str  # "superuser", or a --role name of create_user
    password_variable: str
    can: str


DEMO_USERS = (
    DemoUser("admin", "superuser", "DEV_ADMIN_PASSWORD", "everything, including accounts and roles in /admin/"),
    DemoUser("teacher", "teacher", "DEV_TEACHER_PASSWORD", "their own students: add, predict, record final grades"),
    DemoUser(
        "modeladmin", "model_admin", "DEV_MODEL_ADMIN_PASSWORD",
        "model versions and API keys in /admin/; every student, read only",
    ),
)


class Command(BaseCommand):
    help = (
        "In DEBUG, create the demo accounts 'admin' (superuser), 'teacher' and 'modeladmin' with the passwords "
        "DEV_*_PASSWORD from .env, those that are missing; print how to log in."
    )

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("ensure_demo_users only runs with DJANGO_DEBUG=1 (development).")
        passwords = {demo.username: demo_password(demo) for demo in DEMO_USERS}
        existing = set(
            get_user_model().objects.filter(username__in=passwords).values_list("username", flat=True)
        )
        for demo in DEMO_USERS:
            if demo.username not in existing:
                demo_user_create(demo, password=passwords[demo.username])
                self.stdout.write(f"Created the demo account '{demo.username}'.")
        self.stdout.write("Demo logins for /accounts/login/ (passwords from .env, DEV_*_PASSWORD):")
        rows = [("username", "password", "can do")] + [(d.username, passwords[d.username], d.can) for d in DEMO_USERS]
        widths = [max(len(row[column]) for row in rows) for column in range(2)]
        for username, password, can in rows:
            self.stdout.write(f"  {username:<{widths[0]}}  {password:<{widths[1]}}  {can}")
        if settings.OTP_REQUIRED:
            self.stdout.write(
                "admin and modeladmin set up two-factor authentication at their first login (an authenticator app "
                "scans the QR code shown); OTP_REQUIRED=0 in .env turns it off in development."
            )


def demo_password(demo: DemoUser) -> str:
    password = os.environ.get(demo.password_variable, "")
    if not password:
        raise CommandError(
            f"{demo.password_variable} is not set: run `python scripts/make_dev_env.py --complete .env` "
            "(`make run` does) to add it to .env."
        )
    return password


def demo_user_create(demo: DemoUser, *, password: str) -> None:
    if demo.role == "superuser":
        get_user_model().objects.create_superuser(username=demo.username, email="", password=password)
        return
    try:
        user_create(username=demo.username, password=password, role=demo.role)
    except ApplicationError as exc:
        raise CommandError(f"{demo.password_variable}: {exc}") from exc
