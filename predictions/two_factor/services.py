"""Enrolment, verification and recovery of the second factor (django-otp's TOTP and static devices).

Wrong codes are throttled by django-otp on each device: after n wrong codes in a row the device refuses every code
for OTP_*_THROTTLE_FACTOR * 2**(n-1) seconds, until a right code resets the count. They count towards nothing else
(not the password lockout).
"""
from __future__ import annotations

import math
import re

from django.db import transaction
from django.utils import timezone
from django_otp import verify_token
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from predictions.two_factor import texts
from predictions.two_factor.selectors import authenticator_get
from studentperf.errors import ApplicationError

RECOVERY_CODE_COUNT = 10
_TOTP_CODE = re.compile(r"\d{6}")


def authenticator_pending_get_or_create(*, user) -> TOTPDevice:
    """The unconfirmed authenticator the enrolment page shows: the same secret on every visit until confirmed."""
    device = TOTPDevice.objects.devices_for_user(user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=texts.DEVICE_NAME, confirmed=False)
    return device


def authenticator_confirm(*, user, device: TOTPDevice, code: str) -> tuple[TOTPDevice, list[str]]:
    """Confirm the pending `device` with a code from the app; returns it and a fresh set of recovery codes.

    Raises ApplicationError (field "code") for a wrong or throttled code.
    """
    device = _verified_or_raise(user=user, device=device, code=_normalised(code))
    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        codes = recovery_codes_regenerate(user=user)
    return device, codes


def second_factor_verify(*, user, code: str):
    """The device that accepts `code`: the authenticator for 6 digits, else the recovery codes (each works once).

    Raises ApplicationError (field "code") for a wrong or throttled code.
    """
    code = _normalised(code)
    if _TOTP_CODE.fullmatch(code):
        device = authenticator_get(user=user)
    else:
        device = StaticDevice.objects.devices_for_user(user, confirmed=True).first()
    if device is None:
        raise _wrong_code()
    return _verified_or_raise(user=user, device=device, code=code)


def recovery_codes_regenerate(*, user) -> list[str]:
    """Replace the account's recovery codes with RECOVERY_CODE_COUNT new ones, returned once (the old ones stop
    working)."""
    with transaction.atomic():
        StaticDevice.objects.filter(user=user).delete()
        device = StaticDevice.objects.create(user=user, name=texts.RECOVERY_NAME, confirmed=True)
        codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
        StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def second_factor_reset(*, user) -> int:
    """Remove every second-factor device of `user` (authenticator and recovery codes); returns how many. Their
    sessions lose their verification at once (django_otp drops a session's device that no longer exists), and
    the next login enrols again."""
    with transaction.atomic():
        removed, _ = TOTPDevice.objects.filter(user=user).delete()
        recovery, _ = StaticDevice.objects.filter(user=user).delete()
    return removed + recovery


def _verified_or_raise(*, user, device, code: str):
    allowed, details = device.verify_is_allowed()
    if not allowed:
        wait = (details or {}).get("locked_until")
        seconds = max(1, math.ceil((wait - timezone.now()).total_seconds())) if wait else 1
        raise ApplicationError(
            texts.THROTTLED.format(seconds=seconds), kind="throttled",
            fields={"code": [texts.THROTTLED.format(seconds=seconds)]},
        )
    # verify_token locks the device row, so that two requests cannot both use one code.
    verified = verify_token(user, device.persistent_id, code) if code else None
    if verified is None:
        raise _wrong_code()
    return verified


def _wrong_code() -> ApplicationError:
    return ApplicationError(texts.WRONG_CODE, kind="invalid", fields={"code": [texts.WRONG_CODE]})


def _normalised(code: str) -> str:
    """Spaces and dashes dropped, lower case: "123 456" and "ABCD-EFGH" are typed as shown."""
    return re.sub(r"[\s-]", "", code or "").lower()
