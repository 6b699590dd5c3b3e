from __future__ import annotations

import pytest
from django.test import Client

from tests.conftest import PASSWORD


@pytest.fixture
def logged_in(db):
    """logged_in(user) -> a Client past the password, not (yet) the second factor, as after the login form."""
    from django.http import HttpRequest

    def make(user) -> Client:
        client = Client()
        assert client.login(request=HttpRequest(), username=user.get_username(), password=PASSWORD)
        return client

    return make


@pytest.fixture
def enrolled(model_admin):
    """The model admin with a confirmed authenticator app and recovery codes: (user, device, recovery codes)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from predictions.two_factor.services import recovery_codes_regenerate

    device = TOTPDevice.objects.create(user=model_admin, name="phone", confirmed=True)
    return model_admin, device, recovery_codes_regenerate(user=model_admin)
