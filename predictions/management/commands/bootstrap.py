"""First run and upgrade, safe to run on every start: `bootstrap` migrates, creates the cache table, the superuser
named by DJANGO_SUPERUSER_* and the default model, each only if missing (predictions/installation.py)."""
import os

from django.core.management.base import BaseCommand, CommandError

from predictions import installation
from studentperf.errors import ApplicationError

USERNAME = "DJANGO_SUPERUSER_USERNAME"
PASSWORD = "DJANGO_SUPERUSER_PASSWORD"
EMAIL = "DJANGO_SUPERUSER_EMAIL"
VARIABLES = {"username": USERNAME, "password": PASSWORD, "email": EMAIL}
MIGRATIONS_NAMED = 5


class Command(BaseCommand):
    help = (
        "Bring the installation up to date: apply migrations, create the database cache table (when CACHES uses "
        f"it), create the superuser {USERNAME} with {PASSWORD} and {EMAIL} unless that account exists (an existing "
        "account is never changed), and train and activate the default model when no version is active. "
        "Does only what is missing, and prints a line per step."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--wait-for-database", type=float, default=0, metavar="SECONDS",
            help="Wait up to SECONDS for the database to accept connections first (a container starting beside it).",
        )

    def handle(self, *args, **options):
        superuser = superuser_from_environment()  # before anything is done: a wrong setting changes nothing
        if options["wait_for_database"] > 0:
            try:
                waited = installation.database_wait(seconds=options["wait_for_database"])
            except ApplicationError as exc:
                raise CommandError(exc.message) from exc
            self.stdout.write(f"Database: answered after {waited:.1f} s.")
        self.stdout.write(migrations_line(installation.migrations_apply()))
        self.stdout.write(cache_line(*installation.cache_tables_ensure()))
        self.stdout.write(superuser_step(superuser))
        self.stdout.write(model_step())


def migrations_line(applied: list[str]) -> str:
    if not applied:
        return "Migrations: none to apply."
    # An upgrade names its few migrations; a first run's dozens would fill the screen, so it names their apps.
    shown = applied if len(applied) <= MIGRATIONS_NAMED else sorted({name.split(".")[0] for name in applied})
    return f"Migrations: applied {len(applied)} ({', '.join(shown)})."


def cache_line(created: list[str], existing: list[str]) -> str:
    if created:
        return f"Cache table: created {', '.join(created)}."
    if existing:
        return f"Cache table: {', '.join(existing)} exists; nothing to do."
    return "Cache table: the cache is not in the database (CACHES); nothing to do."


def superuser_step(superuser: dict[str, str] | None) -> str:
    """Create the superuser unless it exists (installation.superuser_ensure), and say which."""
    if superuser is None:
        return f"Superuser: {USERNAME} is not set; none created."
    try:
        created = installation.superuser_ensure(**superuser)
    except ApplicationError as exc:
        reasons = "; ".join(f"{VARIABLES[name]}: {' '.join(why)}" for name, why in exc.fields.items())
        raise CommandError(f"No superuser created. {exc.message} ({reasons})") from exc
    name = superuser["username"]
    return f"Superuser: created '{name}'." if created else f"Superuser: '{name}' exists; left unchanged."


def model_step() -> str:
    """Train and activate the default model unless a version is active (installation.default_model_ensure)."""
    try:
        version, trained = installation.default_model_ensure()
    except ApplicationError as exc:
        raise CommandError(str(exc)) from exc
    if trained:
        return f"Model: trained and activated v{version.version} {version.name!r}."
    return f"Model: v{version.version} {version.name!r} is active; nothing trained."


def superuser_from_environment() -> dict[str, str] | None:
    """The superuser's username, email and password from the environment; None when none of them is set."""
    username = os.environ.get(USERNAME, "").strip()
    password = os.environ.get(PASSWORD, "")
    email = os.environ.get(EMAIL, "").strip()
    if not username:
        if password or email:
            raise CommandError(f"{PASSWORD} or {EMAIL} is set but {USERNAME} is not: set it too, or unset them.")
        return None
    if not password:
        raise CommandError(
            f"{USERNAME} is set but {PASSWORD} is not: set the superuser's password in {PASSWORD} "
            f"(it is read only to create the account: once it exists, unset both)."
        )
    return {"username": username, "email": email, "password": password}
