"""How the admin's lists show times, durations and credential states."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from django.utils import timezone as django_timezone

from studentperf.admin_display import credential_state, local_minute, local_minute_text, milliseconds


@pytest.mark.parametrize(("utc", "local"), [
    (datetime(2026, 1, 15, 8, 5, 59, tzinfo=timezone.utc), "2026-01-15 08:05"),  # winter: UTC+0, seconds dropped
    (datetime(2026, 7, 1, 23, 34, 56, tzinfo=timezone.utc), "2026-07-02 00:34"),  # summer: UTC+1, the next day
])
def test_times_are_shown_to_the_minute_in_the_school_time_zone(settings, utc, local):
    settings.TIME_ZONE = "Europe/Lisbon"

    assert local_minute_text(utc) == local
    assert local_minute(utc) == f'<time datetime="{utc.isoformat()}">{local}</time>'


def test_a_missing_time_is_a_dash_or_the_word_given():
    assert local_minute(None) == "–" and local_minute(None, empty="never") == "never"


@pytest.mark.parametrize(("value", "text"), [(1.537393000035081, "1.5 ms"), (0.04, "0.0 ms"), (1234.56, "1,234.6 ms")])
def test_latencies_are_rounded_to_a_tenth_of_a_millisecond(value, text):
    assert milliseconds(value) == text


def test_a_credential_state_is_one_word():
    soon, past = django_timezone.now() + timedelta(days=1), django_timezone.now() - timedelta(seconds=1)

    assert credential_state(revoked=False, expiry=None) == "active"
    assert credential_state(revoked=False, expiry=soon) == "active"
    assert credential_state(revoked=False, expiry=past) == "expired"
    assert credential_state(revoked=True, expiry=past) == "revoked"
