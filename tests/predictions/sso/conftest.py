"""Single sign-on turned on against the loopback provider of provider.py."""
from __future__ import annotations

import pytest

from .provider import Provider

BACKEND = "predictions.sso.backend.StaffOIDCBackend"


@pytest.fixture(scope="module")
def provider():
    running = Provider()
    yield running
    running.close()


@pytest.fixture
def sso(settings, provider, db):
    """OIDC on, as the OIDC_* variables turn it on in studentperf/settings.py (which reads them once, at start);
    account creation off, its default. The provider's records start empty."""
    for name, value in provider.settings().items():
        setattr(settings, name, value)
    settings.OIDC_ENABLED = True
    settings.OIDC_PROVIDER_NAME = "School Account"
    settings.OIDC_CREATE_USER = False
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, BACKEND]
    provider.codes.clear()
    provider.calls.clear()
    return provider
