"""Tests that need a program of the machine (a browser, redis-server, promtool)."""
from __future__ import annotations

import os
from typing import NoReturn

import pytest


def tool_missing(message: str, *, required_by: str) -> NoReturn:
    """Skip the test: this machine lacks the tool `message` names. Fail it instead where the environment
    variable `required_by` is set (.ci/run sets it), so a missing tool cannot pass CI as skipped tests."""
    if os.environ.get(required_by):
        pytest.fail(message)
    pytest.skip(message)
