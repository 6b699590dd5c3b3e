"""Create an account with a role: `create_user USERNAME --role teacher|model_admin [--password-env VAR]`."""
import getpass
import os
import sys

from django.core.management.base import BaseCommand, CommandError

from predictions.access.roles import ROLE_GROUPS, user_create
from studentperf.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Create an account in the Teacher or Model admin role. The password comes from the environment variable "
        "named by --password-env (for scripts), or is asked for twice at the terminal; it is never printed."
    )
    # Tests hand in a stand-in for the terminal, as they do for Django's createsuperuser.
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=list(ROLE_GROUPS))
        parser.add_argument("--password-env", metavar="VAR", help="read the password from this environment variable")
        parser.add_argument("--email", default="")

    def handle(self, *args, **options):
        if options["password_env"]:
            password = password_from_environment(options["password_env"])
        else:
            password = password_from_prompt(options.get("stdin", sys.stdin))
        try:
            user = user_create(
                username=options["username"], password=password, role=options["role"], email=options["email"]
            )
        except ApplicationError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Created the account '{user.get_username()}' with the role {options['role']}.")


def password_from_environment(name: str) -> str:
    password = os.environ.get(name, "")
    if not password:
        raise CommandError(f"The environment variable {name} is not set or is empty: it must hold the password.")
    return password


def password_from_prompt(stdin) -> str:
    # Without a terminal getpass would fall back to reading (and echoing) stdin; refuse instead.
    if not (hasattr(stdin, "isatty") and stdin.isatty()):
        raise CommandError(
            "No terminal to ask for the password: put it in an environment variable and pass --password-env VAR."
        )
    password = getpass.getpass("Password: ")
    if password != getpass.getpass("Password (again): "):
        raise CommandError("The two passwords do not match; nothing was created.")
    return password
