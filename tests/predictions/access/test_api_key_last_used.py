"""An API key's "last used" time: written after the response, at most once per key and clock minute across every
process, never on a failed authentication, and never turning into an error."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from predictions.access import api_keys
from predictions.models import ApiKey

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.studentperf.api_urls")]
ECHO = "/api/v1/test/echo"
START = 1_800_000_030.0  # 30 s into a clock minute


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    """The clock the minute windows are cut from, moved by the tests; no window remembered by this process."""
    now = {"t": START}
    monkeypatch.setattr(api_keys, "clock", lambda: now["t"])
    monkeypatch.setattr(api_keys, "_recorded_windows", {})
    return now


def _last_used(api_key: ApiKey):
    return ApiKey.objects.get(pk=api_key.pk).last_used


def test_a_request_records_the_time_its_key_was_used(api_client):
    client = api_client("write")
    before = timezone.now()

    assert client.get(ECHO).status_code == 200

    used = _last_used(client.api_key)
    assert used is not None and before <= used <= timezone.now()


def test_the_last_use_is_written_at_most_once_per_minute_then_again_the_next_minute(api_client, clock):
    client = api_client("write")
    client.get(ECHO)
    first = _last_used(client.api_key)

    clock["t"] = START + 29  # the same clock minute: no second write
    client.get(ECHO)
    assert _last_used(client.api_key) == first

    clock["t"] = START + 31  # the next minute
    client.get(ECHO)
    assert _last_used(client.api_key) > first


def test_another_process_having_recorded_the_minute_is_enough(make_api_key, clock):
    api_key, _ = make_api_key()
    when = timezone.now()

    assert api_keys.api_key_use_record(prefix=api_key.prefix, used_at=when) is True
    api_keys._recorded_windows.clear()  # as in another web process: only the shared cache knows
    assert api_keys.api_key_use_record(prefix=api_key.prefix, used_at=when + timedelta(seconds=5)) is False

    assert _last_used(api_key) == when


@pytest.mark.parametrize("state", ["revoked", "expired", "wrong secret"])
def test_a_failed_authentication_records_nothing(make_api_key, state):
    fields = {"revoked": {"revoked": True}, "expired": {"expiry_date": timezone.now() - timedelta(days=1)}}
    api_key, key = make_api_key(**fields.get(state, {}))
    if state == "wrong secret":
        key = key.split(".")[0] + "." + "x" * 32
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")

    assert client.get(ECHO).status_code == 401

    assert _last_used(api_key) is None


def test_a_failure_to_record_never_fails_the_request(api_client, monkeypatch, caplog):
    def database_down(**kwargs):
        raise ConnectionError("the database is down")

    monkeypatch.setattr(api_keys, "api_key_use_record", database_down)
    client = api_client("write")

    assert client.get(ECHO).status_code == 200

    assert _last_used(client.api_key) is None
    assert f"The last use of the API key {client.api_key.prefix} could not be recorded." in caplog.text
