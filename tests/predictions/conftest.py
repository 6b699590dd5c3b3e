from __future__ import annotations

import pytest

@pytest.fixture
def session_client(user):
    """An API client logged in as `user` (a teacher) with a session."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def colleague(make_user):
    """Another teacher."""
    return make_user("colleague")
