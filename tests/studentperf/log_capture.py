"""Capturing the log lines of a test exactly as the configured handlers write them (settings.LOGGING).

Import the fixture into a test module (`from .log_capture import log_lines`) to use it.
"""
from __future__ import annotations

import io
import json
import logging

import pytest


class CapturedLines:
    def __init__(self, stream: io.StringIO):
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def all(self) -> list[dict]:
        """Every line written so far, each parsed as JSON (a line that does not parse fails the test)."""
        return [json.loads(line) for line in self.text.splitlines()]

    def named(self, logger: str, message: str | None = None) -> list[dict]:
        return [line for line in self.all() if line["name"] == logger and message in (None, line["message"])]

    def one(self, logger: str, message: str | None = None) -> dict:
        [line] = self.named(logger, message)
        return line


@pytest.fixture
def log_lines():
    """The lines every logger writes during the test, formatted by the formatter and filters of the configured
    `console` handler, at the configured levels."""
    root = logging.getLogger()
    [console] = [handler for handler in root.handlers if handler.get_name() == "console"]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(console.formatter)
    for log_filter in console.filters:
        handler.addFilter(log_filter)
    root.addHandler(handler)
    try:
        yield CapturedLines(stream)
    finally:
        root.removeHandler(handler)
