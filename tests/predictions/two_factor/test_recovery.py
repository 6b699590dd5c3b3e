"""Removing someone's second factor: superusers in the admin, anyone with the server through `reset_two_factor`."""
from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import sign_in

pytestmark = pytest.mark.django_db
DEVICES = "/admin/otp_totp/totpdevice/"


def test_a_superuser_removes_a_model_admins_authenticator_in_the_admin(client, superuser, enrolled):
    _, device, _ = enrolled
    sign_in(client, superuser)

    listing = client.get(DEVICES).content.decode()
    response = client.post(f"{DEVICES}{device.pk}/delete/", {"post": "yes"})

    assert "modeladmin" in listing and response.status_code == 302
    assert not TOTPDevice.objects.filter(pk=device.pk).exists()


def test_the_admin_never_shows_a_secret_key(client, superuser, enrolled):
    user, device, codes = enrolled
    recovery = StaticDevice.objects.get(user=user)
    sign_in(client, superuser)

    page = client.get(f"{DEVICES}{device.pk}/change/").content.decode()
    recovery_page = client.get(f"/admin/otp_static/staticdevice/{recovery.pk}/change/").content.decode()

    assert device.key not in page and "qrcode" not in page
    assert client.get(f"{DEVICES}{device.pk}/config/").status_code == 403
    assert "Recovery codes" in recovery_page and not any(code in recovery_page for code in codes)


def test_a_model_admin_cannot_see_or_remove_anyones_devices(client, make_user, enrolled):
    _, device, _ = enrolled
    colleague = make_user("colleague-admin", "model_admin")
    sign_in(client, colleague)

    for url in (DEVICES, f"{DEVICES}{device.pk}/change/", "/admin/otp_static/staticdevice/"):
        assert client.get(url).status_code == 403
    assert client.post(f"{DEVICES}{device.pk}/delete/", {"post": "yes"}).status_code == 403
    assert TOTPDevice.objects.filter(pk=device.pk).exists()


def test_reset_removes_the_devices_and_the_sessions_verification(client, enrolled):
    user, _, _ = enrolled
    sign_in(client, user)
    assert client.get("/admin/").status_code == 200
    out = io.StringIO()

    call_command("reset_two_factor", user.username, stdout=out)

    assert "Removed the second factor of 'modeladmin'" in out.getvalue()
    assert not TOTPDevice.objects.filter(user=user).exists() and not StaticDevice.objects.filter(user=user).exists()
    assert client.get("/admin/")["Location"] == "/accounts/two-factor/setup/?next=%2Fadmin%2F"


def test_reset_of_an_unknown_account_fails_and_of_one_without_devices_says_so(model_admin):
    out = io.StringIO()
    with pytest.raises(CommandError, match="No account named 'nobody'"):
        call_command("reset_two_factor", "nobody")

    call_command("reset_two_factor", model_admin.username, stdout=out)
    assert "had no second factor" in out.getvalue()
