"""Remove an account's second factor: `reset_two_factor USERNAME` (a lost phone, or a superuser locked out)."""
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from predictions.two_factor.services import second_factor_reset


class Command(BaseCommand):
    help = (
        "Remove the authenticator app and recovery codes of USERNAME, and end the verification of their sessions: "
        "at their next login they enrol a new authenticator. For when they lost both, or no superuser can log in."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, **options):
        user_model = get_user_model()
        try:
            user = user_model.objects.get(**{user_model.USERNAME_FIELD: options["username"]})
        except user_model.DoesNotExist as exc:
            raise CommandError(f"No account named {options['username']!r}.") from exc
        removed = second_factor_reset(user=user)
        if not removed:
            self.stdout.write(f"'{user.get_username()}' had no second factor; nothing to remove.")
            return
        self.stdout.write(
            f"Removed the second factor of '{user.get_username()}': they set up a new authenticator app at their "
            "next login."
        )
