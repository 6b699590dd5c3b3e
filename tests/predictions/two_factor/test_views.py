"""Enrolment, verification with a code or a recovery code, throttling, new recovery codes."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import totp_code

pytestmark = pytest.mark.django_db
SETUP = "/accounts/two-factor/setup/"
VERIFY = "/accounts/two-factor/"
RECOVERY = "/accounts/two-factor/recovery-codes/"


def secret_on(page: str) -> str:
    return re.search(r'<code id="totp-secret"[^>]*>([^<]+)</code>', page).group(1)


def codes_on(page: str) -> list[str]:
    return re.findall(r"<li><code>([^<]+)</code></li>", page)


def test_enrolment_shows_a_qr_code_as_inline_svg_and_the_secret_the_same_on_each_visit(logged_in, model_admin):
    client = logged_in(model_admin)
    page = client.get(SETUP).content.decode()

    assert "<svg" in page and "QR code for your authenticator app" in page
    assert secret_on(page) == secret_on(client.get(SETUP).content.decode())
    assert "<script" not in page and "style=" not in page
    assert TOTPDevice.objects.get(user=model_admin).confirmed is False


def test_enrolment_confirmed_with_a_code_shows_ten_recovery_codes_once_and_keeps_next(logged_in, model_admin):
    client = logged_in(model_admin)
    secret = secret_on(client.get(SETUP).content.decode())

    response = client.post(SETUP, {"code": totp_code(secret), "next": "/admin/"})

    page = response.content.decode()
    codes = codes_on(page)
    assert response.status_code == 200 and len(set(codes)) == 10
    assert sorted(codes) == sorted(StaticToken.objects.filter(device__user=model_admin).values_list("token", flat=True))
    assert '<a class="button" href="/admin/">I have saved them</a>' in page
    assert TOTPDevice.objects.get(user=model_admin).confirmed
    assert client.get("/admin/").status_code == 200  # verified by the enrolment itself
    assert client.get(SETUP)["Location"] == "/"  # no second set of codes, no second authenticator


def test_a_wrong_enrolment_code_is_refused_and_confirms_nothing(logged_in, model_admin):
    client = logged_in(model_admin)
    secret = secret_on(client.get(SETUP).content.decode())
    wrong = f"{(int(totp_code(secret)) + 1) % 1_000_000:06d}"

    page = client.post(SETUP, {"code": wrong}).content.decode()

    assert "That code is not right" in page
    assert not TOTPDevice.objects.get(user=model_admin).confirmed
    assert client.get("/admin/")["Location"].startswith(SETUP)


def test_a_password_alone_cannot_enrol_a_second_authenticator(logged_in, enrolled):
    user, device, _ = enrolled
    client = logged_in(user)

    assert client.get(SETUP)["Location"] == f"{VERIFY}?next=%2F"
    client.post(SETUP, {"code": "123456"})
    assert list(TOTPDevice.objects.filter(user=user)) == [device]


def test_verification_with_the_app_code_goes_to_next(logged_in, enrolled):
    user, device, _ = enrolled
    client = logged_in(user)

    response = client.post(VERIFY, {"code": totp_code(_secret(device)), "next": "/admin/auth/user/?q=x"})

    assert response.status_code == 302 and response["Location"] == "/admin/auth/user/?q=x"
    assert client.get("/admin/").status_code == 200


def test_next_to_another_site_is_ignored(logged_in, enrolled):
    user, device, _ = enrolled
    response = logged_in(user).post(VERIFY, {"code": totp_code(_secret(device)), "next": "https://evil.example/"})

    assert response["Location"] == "/"


def test_a_recovery_code_works_once(logged_in, enrolled):
    user, _, codes = enrolled
    first = logged_in(user)

    assert first.post(VERIFY, {"code": codes[0].upper()})["Location"] == "/"
    page = logged_in(user).post(VERIFY, {"code": codes[0]}).content.decode()
    assert "That code is not right" in page
    assert StaticToken.objects.filter(device__user=user).count() == 9


def test_a_wrong_code_is_refused_then_even_the_right_one_waits(logged_in, enrolled, settings):
    from axes.models import AccessAttempt

    user, device, codes = enrolled
    client = logged_in(user)
    right = totp_code(_secret(device))
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"

    refused = client.post(VERIFY, {"code": wrong}).content.decode()
    throttled = client.post(VERIFY, {"code": right}).content.decode()

    assert "That code is not right" in refused
    assert "Too many wrong codes: wait 1 seconds" in throttled
    assert client.get("/admin/")["Location"].startswith(VERIFY)
    device.refresh_from_db()
    assert device.throttling_failure_count == 1
    assert not AccessAttempt.objects.exists()  # not counted by the password lockout
    device.throttling_failure_timestamp -= timedelta(seconds=2)  # the wait is over
    device.save()
    assert client.post(VERIFY, {"code": right})["Location"] == "/"


def test_wrong_recovery_codes_are_throttled_on_their_own_device(logged_in, enrolled):
    user, _, codes = enrolled
    client = logged_in(user)

    client.post(VERIFY, {"code": "notacode"})
    page = client.post(VERIFY, {"code": codes[1]}).content.decode()

    assert "Too many wrong codes" in page
    assert StaticToken.objects.filter(device__user=user, token=codes[1]).exists()


def test_an_empty_code_names_the_field(logged_in, enrolled):
    page = logged_in(enrolled[0]).post(VERIFY, {"code": ""}).content.decode()

    assert "Enter a code." in page


def test_new_recovery_codes_replace_the_old_ones(logged_in, enrolled):
    user, device, old = enrolled
    client = logged_in(user)
    client.post(VERIFY, {"code": totp_code(_secret(device))})

    page = client.post(RECOVERY).content.decode()

    new = codes_on(page)
    assert len(new) == 10 and not set(new) & set(old)
    assert set(StaticToken.objects.filter(device__user=user).values_list("token", flat=True)) == set(new)
    assert "Recovery codes" in client.get("/").content.decode()  # the menu links to the page


def _secret(device) -> str:
    from base64 import b32encode

    return b32encode(device.bin_key).decode()
