"""Rates in DRF's format (studentperf/ratelimit.py). Counting, concurrent and across windows, on a real Redis
and per process: tests/integration/test_rate_limits.py."""
from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from studentperf import ratelimit


@pytest.mark.parametrize("text, rate", [("60/min", (60, 60)), (" 5 / s", (5, 1)), ("1000/hour", (1000, 3600)),
                                        ("2/day", (2, 86400))])
def test_rates_are_read_in_drfs_format(text, rate):
    assert ratelimit.rate_parse(text) == ratelimit.Rate(*rate)


@pytest.mark.parametrize("text", ["60", "0/min", "-1/min", "x/min", "60/fortnight", ""])
def test_a_malformed_rate_is_refused_naming_the_format(text):
    with pytest.raises(ImproperlyConfigured, match="must look like 600/min"):
        ratelimit.rate_parse(text)


def test_without_redis_each_process_counts_alone_and_says_so_once(settings, monkeypatch, caplog):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "unused"}}
    monkeypatch.setattr(ratelimit, "_said_per_process", False)
    rate = ratelimit.Rate(limit=5, seconds=60)

    counts = [ratelimit.rate_hit("test:fallback", rate=rate).count for _ in range(3)]  # no table, no SQL

    assert counts == [1, 2, 3]
    assert ratelimit.rate_read("test:fallback", rate=rate).count == 3
    said = [record for record in caplog.records if record.getMessage().startswith("rate limits counted per process")]
    assert len(said) == 1 and said[0].cache_backend == "DatabaseCache"
