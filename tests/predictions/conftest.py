from __future__ import annotations

import pytest

from predictions.api.examples import RECORD

# The first student of data/student-mat.csv, without the final grade G3 (also the API documentation's example).
FIRST_STUDENT = RECORD


@pytest.fixture
def record() -> dict:
    """A valid record with both period grades (setup A); a fresh copy for each test."""
    return dict(FIRST_STUDENT)


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
