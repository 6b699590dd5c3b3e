"""Who must pass a second factor, and the devices they have for it."""
from __future__ import annotations

from django_otp.plugins.otp_totp.models import TOTPDevice

from predictions.access.roles import STAFF_GROUPS


def second_factor_required(*, user) -> bool:
    """True for superusers, staff (whoever may enter /admin/) and the members of a staff group (model admins, who
    see every student) even if someone cleared their staff flag by hand. Teachers: False."""
    if not user.is_authenticated:
        return False
    if user.is_superuser or user.is_staff:
        return True
    return user.groups.filter(name__in=STAFF_GROUPS).exists()


def authenticator_get(*, user) -> TOTPDevice | None:
    """The account's confirmed authenticator app, or None when it has not enrolled (or was reset)."""
    return TOTPDevice.objects.devices_for_user(user, confirmed=True).first()


def second_factor_step(*, user) -> str | None:
    """What the session of `user` must do before anything else: "setup" (enrol an authenticator), "verify" (enter a
    code) or None (nothing: not required, or verified). `user` comes from django_otp's OTPMiddleware."""
    if not second_factor_required(user=user) or user.is_verified():
        return None
    return "verify" if authenticator_get(user=user) is not None else "setup"
